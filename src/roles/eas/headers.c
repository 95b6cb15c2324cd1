/* What crosses the proxy in each direction: the request head the upstream receives and
 * the response header fields the client gets back. The token stays at the gateway, the
 * identity the upstream trusts is the one the gateway sets, and hop-by-hop fields stay
 * on their hop (RFC 9110 7.6.1). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "roles/eas/internal.h"

static int name_is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Hop-by-hop by itself (RFC 9110 7.6.1), and the Proxy-* family. */
static int hop_by_hop(const char *name, size_t len) {
  static const char *const names[] = {"connection", "keep-alive", "te",
                                      "trailer",    "upgrade",    "transfer-encoding"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (name_is(name, len, names[i]))
      return 1;
  }
  /* Proxy-Authorization, Proxy-Authenticate, Proxy-Connection: for the proxy, not past it. */
  return len >= 6 && strncasecmp(name, "proxy-", 6) == 0;
}

/* Whether the comma-separated tokens of the Connection values |values| name |name|. */
static int connection_names(const struct egw_header *const *values, size_t n, const char *name,
                            size_t len) {
  for (size_t i = 0; i < n; i++) {
    const char *v = values[i]->value;
    const char *end = v + values[i]->value_len;
    while (v < end) {
      while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
        v++;
      const char *tok = v;
      while (v < end && *v != ',' && *v != ' ' && *v != '\t')
        v++;
      if ((size_t)(v - tok) == len && len > 0 && strncasecmp(tok, name, len) == 0)
        return 1;
    }
  }
  return 0;
}

enum { MAX_CONNECTION_FIELDS = 16 };

/* The Connection fields among |hs| (at most MAX_CONNECTION_FIELDS) into |out|. */
static size_t connection_fields(const struct egw_header *hs, size_t n,
                                const struct egw_header **out) {
  size_t k = 0;
  for (size_t i = 0; i < n && k < MAX_CONNECTION_FIELDS; i++) {
    if (name_is(hs[i].name, hs[i].name_len, "connection"))
      out[k++] = &hs[i];
  }
  return k;
}

int egw__eas_copy_response_fields(const struct egw_header *hs, size_t n,
                                  struct egw_response *resp) {
  const struct egw_header *connection[MAX_CONNECTION_FIELDS];
  size_t n_connection = connection_fields(hs, n, connection);
  for (size_t i = 0; i < n; i++) {
    const struct egw_header *h = &hs[i];
    /* Framing writes its own Content-Length, Date and Connection (and Server). */
    if (name_is(h->name, h->name_len, "content-length") || name_is(h->name, h->name_len, "date") ||
        name_is(h->name, h->name_len, "server") || hop_by_hop(h->name, h->name_len) ||
        connection_names(connection, n_connection, h->name, h->name_len))
      continue;
    int rc = egw_response_add_header(resp, h->name, h->value);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The client's fields that never reach the upstream, besides hop-by-hop ones: the token,
 * what the gateway sets itself, and what framing already acted on. */
static int request_header_dropped(const struct eas *eas, const struct egw_header *h) {
  static const char *const names[] = {"authorization", "content-length", "expect",
                                      "x-forwarded-for", "x-forwarded-proto"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (name_is(h->name, h->name_len, names[i]))
      return 1;
  }
  return name_is(h->name, h->name_len, eas->identity_header) || hop_by_hop(h->name, h->name_len);
}

/* A header value we write ourselves must not carry CR, LF or other controls (a signed
 * eecId still comes from what an EEC asked for). */
static int field_value_ok(const char *v) {
  for (; *v; v++) {
    unsigned char ch = (unsigned char)*v;
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
      return 0;
  }
  return 1;
}

static int put(struct egw_buf *b, const char *s, size_t n) { return egw_buf_append(b, s, n); }

static int put_field(struct egw_buf *b, const char *name, size_t nlen, const char *value,
                     size_t vlen) {
  return put(b, name, nlen) | put(b, ": ", 2) | put(b, value, vlen) | put(b, "\r\n", 2);
}

static int put_field_str(struct egw_buf *b, const char *name, const char *value) {
  return put_field(b, name, strlen(name), value, strlen(value));
}

/* The address part of "ip:port" or "[ip6]:port", written to |out|. */
static void client_ip(const char *peer_addr, char *out, size_t cap) {
  out[0] = '\0';
  if (peer_addr == NULL || strcmp(peer_addr, "?") == 0)
    return;
  const char *start = peer_addr, *end;
  if (*start == '[') {
    start++;
    end = strchr(start, ']');
  } else {
    end = strrchr(start, ':');
  }
  if (end == NULL || (size_t)(end - start) >= cap)
    return;
  memcpy(out, start, (size_t)(end - start));
  out[end - start] = '\0';
}

/* |streamed|: the body follows as the client sends it (its own Content-Length, else
 * chunked); else it is req->body. */
static enum egw__eas_build_result build(const struct eas *eas, const struct egw_request *req,
                                        int streamed, struct egw_buf *out) {
  const char *identity = req->token_eec_id ? req->token_eec_id : req->token_sub;
  if (identity && !field_value_ok(identity))
    return EGW_EAS_BUILD_BAD_IDENTITY;

  const struct egw_header *connection[MAX_CONNECTION_FIELDS];
  size_t n_connection = connection_fields(req->headers, req->n_headers, connection);
  int has_host = 0, has_framing = 0;
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    has_framing |= name_is(h->name, h->name_len, "content-length") ||
                   name_is(h->name, h->name_len, "transfer-encoding");
  }

  int rc = put(out, req->method_name, strlen(req->method_name)) | put(out, " ", 1) |
           put(out, req->path, req->path_len);
  if (req->query[0])
    rc |= put(out, "?", 1) | put(out, req->query, strlen(req->query));
  rc |= put(out, " HTTP/1.1\r\n", 11);
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    if (request_header_dropped(eas, h) ||
        connection_names(connection, n_connection, h->name, h->name_len))
      continue;
    has_host |= name_is(h->name, h->name_len, "host");
    rc |= put_field(out, h->name, h->name_len, h->value, h->value_len);
  }
  if (!has_host)
    rc |= put_field_str(out, "Host", eas->upstream_authority);
  if (identity)
    rc |= put_field_str(out, eas->identity_header, identity);
  char ip[64];
  client_ip(req->peer_addr, ip, sizeof(ip));
  if (ip[0])
    rc |= put_field_str(out, "X-Forwarded-For", ip);
  rc |= put_field_str(out, "X-Forwarded-Proto", "https");
  unsigned with_body = EGW_METHOD_POST | EGW_METHOD_PUT | EGW_METHOD_PATCH;
  size_t cl_len = 0;
  const char *cl = streamed ? egw_request_header(req, "content-length", &cl_len) : NULL;
  if (streamed && cl) {
    rc |= put_field(out, "Content-Length", 14, cl, cl_len);
  } else if (streamed) {
    rc |= put_field_str(out, "Transfer-Encoding", "chunked");
  } else if (req->body_len > 0 || has_framing || (req->method & with_body)) {
    char len[32];
    snprintf(len, sizeof(len), "%zu", req->body_len);
    rc |= put_field_str(out, "Content-Length", len);
  }
  rc |= put(out, "\r\n", 2);
  return rc == 0 ? EGW_EAS_BUILD_OK : EGW_EAS_BUILD_NOMEM;
}

enum egw__eas_build_result
egw__eas_build_request(const struct eas *eas, const struct egw_request *req, struct egw_buf *out) {
  return build(eas, req, 0, out);
}

enum egw__eas_build_result egw__eas_build_request_streamed(const struct eas *eas,
                                                           const struct egw_request *req,
                                                           struct egw_buf *out) {
  return build(eas, req, 1, out);
}
