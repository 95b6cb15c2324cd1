/* Request and response helpers of include/edgegw/http.h and the exchange accessors of
 * include/edgegw/role.h: methods, headers, bodies, ProblemDetails, reason phrases. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgegw/http.h"
#include "edgegw/role.h"
#include "http/exchange.h"
#include "util/arena.h"
#include "util/errors.h"

/* ---- methods ---------------------------------------------------------------------- */

static const struct {
  enum egw_method method;
  const char *name;
} methods[] = {
    {EGW_METHOD_GET, "GET"},         {EGW_METHOD_HEAD, "HEAD"},   {EGW_METHOD_POST, "POST"},
    {EGW_METHOD_PUT, "PUT"},         {EGW_METHOD_PATCH, "PATCH"}, {EGW_METHOD_DELETE, "DELETE"},
    {EGW_METHOD_OPTIONS, "OPTIONS"},
};

enum egw_method egw_method_from_name(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    /* Method names are case-sensitive (RFC 9110 9.1). */
    if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0)
      return methods[i].method;
  }
  return EGW_METHOD_OTHER;
}

const char *egw_method_name(enum egw_method m) {
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    if (methods[i].method == m)
      return methods[i].name;
  }
  return "OTHER";
}

/* ---- request ---------------------------------------------------------------------- */

const char *egw_request_header(const struct egw_request *req, const char *name, size_t *out_len) {
  size_t n = strlen(name);
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    if (h->name_len == n && strncasecmp(h->name, name, n) == 0) {
      if (out_len)
        *out_len = h->value_len;
      return h->value;
    }
  }
  if (out_len)
    *out_len = 0;
  return NULL;
}

/* ---- response --------------------------------------------------------------------- */

int egw_response_add_header(struct egw_response *resp, const char *name, const char *value) {
  if (resp->n_headers == resp->cap_headers) {
    /* The arena cannot grow an allocation: move to a twice larger one. The old array
     * stays in the arena until the exchange ends, which bounds the waste to 2x. */
    size_t cap = resp->cap_headers ? resp->cap_headers * 2 : 8;
    struct egw_header *h = egw_arena_alloc(resp->arena, cap * sizeof(*h));
    if (h == NULL)
      return EGW_ERR_NOMEM;
    if (resp->n_headers)
      memcpy(h, resp->headers, resp->n_headers * sizeof(*h));
    resp->headers = h;
    resp->cap_headers = cap;
  }
  size_t nl = strlen(name), vl = strlen(value);
  char *n = egw_arena_strndup(resp->arena, name, nl);
  char *v = egw_arena_strndup(resp->arena, value, vl);
  if (n == NULL || v == NULL)
    return EGW_ERR_NOMEM;
  resp->headers[resp->n_headers++] =
      (struct egw_header){.name = n, .name_len = nl, .value = v, .value_len = vl};
  return 0;
}

int egw_response_set_body(struct egw_response *resp, int status, const char *content_type,
                          const void *body, size_t len) {
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = egw_arena_alloc(resp->arena, len);
    if (copy == NULL)
      return EGW_ERR_NOMEM;
    memcpy(copy, body, len);
  }
  if (content_type) {
    /* Replace a Content-Type set earlier rather than sending two. */
    size_t i = 0;
    while (i < resp->n_headers && strcasecmp(resp->headers[i].name, "content-type") != 0)
      i++;
    if (i < resp->n_headers) {
      char *v = egw_arena_strdup(resp->arena, content_type);
      if (v == NULL)
        return EGW_ERR_NOMEM;
      resp->headers[i].value = v;
      resp->headers[i].value_len = strlen(v);
    } else if (egw_response_add_header(resp, "Content-Type", content_type) != 0) {
      return EGW_ERR_NOMEM;
    }
  }
  resp->status = status;
  resp->body = copy;
  resp->body_len = len;
  return 0;
}

int egw_response_json(struct egw_response *resp, int status, const char *json) {
  return egw_response_set_body(resp, status, "application/json", json, strlen(json));
}

int egw_response_problem(struct egw_response *resp, int status, const char *title,
                         const char *detail, const char *cause) {
  /* No "type": without a URI that documents the problem, RFC 7807 says it defaults to
   * "about:blank", which the client may assume anyway. */
  json_t *o = json_object();
  if (o == NULL)
    return EGW_ERR_NOMEM;
  int rc = EGW_ERR_NOMEM;
  char *text = NULL;
  if (json_object_set_new(o, "title", json_string(title ? title : egw_status_reason(status))) ||
      json_object_set_new(o, "status", json_integer(status)))
    goto end;
  if (detail && json_object_set_new(o, "detail", json_string(detail)))
    goto end;
  if (cause && json_object_set_new(o, "cause", json_string(cause)))
    goto end;
  text = json_dumps(o, JSON_COMPACT);
  if (text == NULL)
    goto end;
  rc = egw_response_set_body(resp, status, "application/problem+json", text, strlen(text));
end:
  free(text);
  json_decref(o);
  return rc;
}

const char *egw_status_reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 417:
    return "Expectation Failed";
  case 422:
    return "Unprocessable Content";
  case 428:
    return "Precondition Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    break;
  }
  switch (status / 100) {
  case 1:
    return "Informational";
  case 2:
    return "Success";
  case 3:
    return "Redirection";
  case 4:
    return "Client Error";
  default:
    return "Server Error";
  }
}

/* ---- exchange accessors ----------------------------------------------------------- */

const struct egw_request *egw_exchange_request(const struct egw_exchange *x) { return &x->req; }

struct egw_response *egw_exchange_response(struct egw_exchange *x) {
  return &x->resp;
}

void egw_exchange_set_abort(struct egw_exchange *x, void (*cb)(void *arg), void *arg) {
  x->on_abort = cb;
  x->abort_arg = arg;
}
