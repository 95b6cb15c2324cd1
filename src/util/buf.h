/* A growable byte buffer with an upper bound, for connection I/O. */
#ifndef EGW_UTIL_BUF_H
#define EGW_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct egw_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
};

/* egw_buf_append copies |n| bytes to the end; returns 0 or EGW_ERR_NOMEM. */
int egw_buf_append(struct egw_buf *b, const void *data, size_t n);
/* egw_buf_consume drops the first |n| bytes. */
void egw_buf_consume(struct egw_buf *b, size_t n);
/* egw_buf_free releases the storage; |b| is empty and reusable afterwards. */
void egw_buf_free(struct egw_buf *b);

#endif
