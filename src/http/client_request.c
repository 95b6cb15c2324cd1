/* The HTTP client's request side: the URL (scheme, host, port, target), the checks that
 * keep a caller's strings from splitting the request, and the request as it goes on the
 * wire. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "http/client_internal.h"
#include "util/errors.h"

static int is_tchar(unsigned char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
    return 1;
  return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_tchar((unsigned char)s[i]))
      return 0;
  }
  return 1;
}

static int is_field_value(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      return 0;
  }
  return 1;
}

struct url {
  const char *authority; /* for Host */
  size_t authority_len;
  const char *target; /* path and query */
  size_t target_len;
};

/* parse_url accepts http[s]://host[:port][/path][?query][#fragment]. */
static int parse_url(const char *url, struct egw__client_target *t, struct url *u) {
  static const char https[] = "https://", http[] = "http://";
  const char *a;
  if (url && strncasecmp(url, https, sizeof(https) - 1) == 0) {
    *t = (struct egw__client_target){.tls = 1, .port = 443};
    a = url + sizeof(https) - 1;
  } else if (url && strncasecmp(url, http, sizeof(http) - 1) == 0) {
    *t = (struct egw__client_target){.tls = 0, .port = 80};
    a = url + sizeof(http) - 1;
  } else {
    return UV_EINVAL;
  }
  size_t alen = strcspn(a, "/?#");
  const char *host = a, *port = NULL;
  size_t hlen;
  if (alen > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', alen);
    if (close == NULL)
      return UV_EINVAL;
    host = a + 1;
    hlen = (size_t)(close - host);
    if (close + 1 < a + alen) {
      if (close[1] != ':')
        return UV_EINVAL;
      port = close + 2;
    }
  } else {
    const char *colon = memchr(a, ':', alen);
    hlen = colon ? (size_t)(colon - a) : alen;
    if (colon)
      port = colon + 1;
  }
  if (hlen == 0 || hlen > EGW__CLIENT_MAX_HOST)
    return UV_EINVAL;
  memcpy(t->host, host, hlen);
  t->host[hlen] = '\0';
  for (size_t i = 0; i < hlen; i++) {
    char ch = t->host[i];
    if (ch >= 'A' && ch <= 'Z')
      t->host[i] = (char)(ch - 'A' + 'a');
    else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
               ch == '_' || (host != a && ch == ':')))
      return UV_EINVAL;
  }
  unsigned char ip[16];
  if (host != a) {
    if (uv_inet_pton(AF_INET6, t->host, ip) != 0)
      return UV_EINVAL;
    t->host_is_ip = 1;
  } else {
    t->host_is_ip = uv_inet_pton(AF_INET, t->host, ip) == 0;
  }
  if (port) {
    const char *end = a + alen;
    unsigned long v = 0;
    if (port == end || end - port > 5)
      return UV_EINVAL;
    for (const char *p = port; p < end; p++) {
      if (*p < '0' || *p > '9')
        return UV_EINVAL;
      v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
      return UV_EINVAL;
    t->port = (uint16_t)v;
  }
  snprintf(t->origin, sizeof(t->origin), "%s://%s:%u", t->tls ? "https" : "http", t->host,
           (unsigned)t->port);
  u->authority = a;
  u->authority_len = alen;
  u->target = a + alen;
  u->target_len = strcspn(u->target, "#");
  for (size_t i = 0; i < u->target_len; i++) {
    unsigned char ch = (unsigned char)u->target[i];
    if (ch <= ' ' || ch >= 0x7f)
      return UV_EINVAL;
  }
  return 0;
}

static int append_str(struct egw_buf *b, const char *s) { return egw_buf_append(b, s, strlen(s)); }

/* The client's own header fields: a caller's copy would contradict the framing. */
static int is_framing_header(const char *name, size_t n) {
  static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strlen(names[i]) == n && strncasecmp(names[i], name, n) == 0)
      return 1;
  }
  return 0;
}

static int serialize_head(struct egw_buf *b, const struct egw_http_client_request *req,
                          const struct egw__client_target *t, const struct url *u) {
  char line[64];
  int rc = 0;
  rc |= append_str(b, req->method);
  rc |= egw_buf_append(b, " ", 1);
  if (u->target_len == 0 || u->target[0] != '/')
    rc |= egw_buf_append(b, "/", 1);
  rc |= egw_buf_append(b, u->target, u->target_len);
  rc |= append_str(b, " HTTP/1.1\r\nHost: ");
  /* The scheme's default port is left out. */
  size_t alen = u->authority_len;
  const char *dflt = t->tls ? ":443" : ":80";
  size_t dlen = strlen(dflt);
  if (t->port == (t->tls ? 443 : 80) && alen > dlen &&
      memcmp(u->authority + alen - dlen, dflt, dlen) == 0)
    alen -= dlen;
  rc |= egw_buf_append(b, u->authority, alen);
  rc |= egw_buf_append(b, "\r\n", 2);
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    size_t nlen = h->name_len ? h->name_len : strlen(h->name);
    size_t vlen = h->value_len ? h->value_len : strlen(h->value);
    if (is_framing_header(h->name, nlen))
      continue;
    rc |= egw_buf_append(b, h->name, nlen);
    rc |= egw_buf_append(b, ": ", 2);
    rc |= egw_buf_append(b, h->value, vlen);
    rc |= egw_buf_append(b, "\r\n", 2);
  }
  if (req->content_type) {
    rc |= append_str(b, "Content-Type: ");
    rc |= append_str(b, req->content_type);
    rc |= egw_buf_append(b, "\r\n", 2);
  }
  int wants_length = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
                     strcmp(req->method, "PATCH") == 0;
  if (req->body_len > 0 || wants_length) {
    snprintf(line, sizeof(line), "Content-Length: %zu\r\n", req->body_len);
    rc |= append_str(b, line);
  }
  rc |= egw_buf_append(b, "\r\n", 2);
  return rc == 0 ? 0 : EGW_ERR_NOMEM;
}

/* A caller's head: its own method, and nothing of ours to add. */
static int check_head(const struct egw_http_client_request *req) {
  size_t mlen = strlen(req->method);
  if (req->n_headers > 0 || req->content_type != NULL)
    return UV_EINVAL;
  if (req->head_len < mlen + 4 || req->head_len > INT_MAX / 2 ||
      memcmp(req->head, req->method, mlen) != 0 || req->head[mlen] != ' ' ||
      memcmp(req->head + req->head_len - 4, "\r\n\r\n", 4) != 0)
    return UV_EINVAL;
  return 0;
}

static int check_request(const struct egw_http_client_request *req) {
  if (req->method == NULL || !is_token(req->method, strlen(req->method)))
    return UV_EINVAL;
  if ((req->n_headers > 0 && req->headers == NULL) || (req->body_len > 0 && req->body == NULL))
    return UV_EINVAL;
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    if (h->name == NULL || h->value == NULL)
      return UV_EINVAL;
    size_t nlen = h->name_len ? h->name_len : strlen(h->name);
    size_t vlen = h->value_len ? h->value_len : strlen(h->value);
    if (!is_token(h->name, nlen) || !is_field_value(h->value, vlen))
      return UV_EINVAL;
  }
  if (req->content_type && !is_field_value(req->content_type, strlen(req->content_type)))
    return UV_EINVAL;
  if (req->body_len > INT_MAX / 2)
    return UV_EINVAL;
  if (req->body_stream && (req->head == NULL || req->body_len > 0))
    return UV_EINVAL;
  if (req->body_chunked && !req->body_stream)
    return UV_EINVAL;
  return req->head ? check_head(req) : 0;
}

int egw__client_prepare(const struct egw_http_client_request *req,
                        struct egw__client_target *out_target, struct egw_buf *out) {
  struct url u;
  int rc = check_request(req);
  if (rc == 0)
    rc = parse_url(req->url, out_target, &u);
  if (rc != 0)
    return rc;
  if (req->head)
    rc = egw_buf_append(out, req->head, req->head_len);
  else
    rc = serialize_head(out, req, out_target, &u);
  if (rc == 0 && req->body_len > 0 && !req->borrow_body)
    rc = egw_buf_append(out, req->body, req->body_len);
  return rc == 0 ? 0 : EGW_ERR_NOMEM;
}
