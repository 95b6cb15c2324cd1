#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "util/errors.h"

int egw_buf_append(struct egw_buf *b, const void *data, size_t n) {
  if (n == 0)
    return 0;
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2)
        return EGW_ERR_NOMEM;
      cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
      return EGW_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
  return 0;
}

void egw_buf_consume(struct egw_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void egw_buf_free(struct egw_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
