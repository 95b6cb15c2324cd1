/* Private to the HTTP client (client.c): what it asks of the request side
 * (client_request.c: URL, checks, serialization) and of the response side
 * (client_response.c: the llhttp callbacks that collect one response). */
#ifndef EGW_HTTP_CLIENT_INTERNAL_H
#define EGW_HTTP_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "http/client.h"
#include "util/buf.h"

/* A response head (status line, fields, trailer fields) larger than this is refused. */
#define EGW__CLIENT_MAX_HEAD_BYTES 65536
#define EGW__CLIENT_MAX_HEADERS 100
#define EGW__CLIENT_MAX_HOST 253
/* "https://" host ":" port */
#define EGW__CLIENT_MAX_ORIGIN (EGW__CLIENT_MAX_HOST + 16)

/* ---- the request (client_request.c) ------------------------------------------------- */

/* egw__client_target is where a request goes. */
struct egw__client_target {
  int tls; /* https:// */
  int host_is_ip;
  uint16_t port;
  char host[EGW__CLIENT_MAX_HOST + 1]; /* no brackets, lower case */
  char origin[EGW__CLIENT_MAX_ORIGIN]; /* "https://host:port": the pool key */
};

/* egw__client_prepare checks |req|, fills |out_target| from its URL (either scheme) and
 * appends to |out| the request as it goes on the wire: the head, then the body unless
 * req->borrow_body. Returns 0, UV_EINVAL or EGW_ERR_NOMEM. */
int egw__client_prepare(const struct egw_http_client_request *req,
                        struct egw__client_target *out_target, struct egw_buf *out);

/* ---- the response (client_response.c) ----------------------------------------------- */

/* Where a response field lives in egw__client_msg.head (offsets: the buffer may move). */
struct egw__client_field {
  size_t name_off, name_len, value_off, value_len;
};

/* egw__client_msg is the response being read for one call on one connection. The
 * parser's data pointer is the message; egw__client_msg_start readies it for a new
 * connection. */
struct egw__client_msg {
  size_t max_body_bytes;
  int is_head;   /* answering HEAD: no body follows the head */
  int interim;   /* the message being parsed is a 1xx */
  int head_done; /* later header callbacks are trailer fields */
  int in_name;   /* a field name is being collected */
  size_t trailer_bytes;
  int complete;   /* the final response is complete */
  int keep_alive; /* ...and the connection may serve another */
  int status;
  /* Set by a callback that refused the response (the parser then stops). */
  enum egw_http_client_result result;
  const char *error;
  /* The final response's fields (names lower-cased, values trimmed, each NUL-terminated)
   * and its body. */
  struct egw_buf head;
  struct egw__client_field fields[EGW__CLIENT_MAX_HEADERS];
  size_t n_fields;
  struct egw_buf body;
};

/* egw__client_msg_start initializes |parser| to read a response into |m|, forgetting
 * whatever |m| held from a connection tried before. */
void egw__client_msg_start(struct egw__client_msg *m, llhttp_t *parser);

/* egw__client_msg_free releases the buffers of |m|. */
void egw__client_msg_free(struct egw__client_msg *m);

#endif
