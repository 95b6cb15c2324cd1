/* Private to src/http: response serialization shared by the framing (h1.c) and its
 * serializer (h1_response.c). */
#ifndef EGW_HTTP_INTERNAL_H
#define EGW_HTTP_INTERNAL_H

#include <stddef.h>
#include <time.h>

#include "edgegw/http.h"
#include "util/buf.h"

/* egw__date_cache holds the IMF-fixdate of one second, so that a busy connection formats
 * the Date header once a second at most. */
struct egw__date_cache {
  time_t sec;
  char text[32]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
};

/* egw__http_date returns the IMF-fixdate of |now|, formatted into |c| when the second
 * changed. The result lives in |c|. */
const char *egw__http_date(struct egw__date_cache *c, time_t now);

/* egw__h1_framing says how a response goes on the wire. */
struct egw__h1_framing {
  const char *date;  /* IMF-fixdate */
  int head;          /* answering HEAD: headers only */
  int close;         /* Connection: close */
  int keep_alive_10; /* Connection: keep-alive (an HTTP/1.0 client that asked for it) */
  int stream;        /* the head of a streamed response: the body is not appended */
  int chunked;       /* ...delimited with Transfer-Encoding: chunked */
};

/* egw__h1_bodiless says whether a response with |status| carries neither a length nor a
 * body (1xx, 204, 304: RFC 9110 8.6, 15). */
int egw__h1_bodiless(int status);

/* egw__h1_serialize appends the status line, headers and body of |resp| to |out| (for a
 * streamed response, the head only). The length announced follows resp->length. The
 * role's own Content-Length, Transfer-Encoding, Connection, Date and Server headers are
 * dropped (framing owns them), and so is any header whose name or value holds CR, LF or
 * NUL (response splitting). Returns 0 or EGW_ERR_NOMEM. */
int egw__h1_serialize(struct egw_buf *out, const struct egw_response *resp,
                      const struct egw__h1_framing *f);

#endif
