/* The HTTP client's response side: llhttp callbacks that collect one response into an
 * egw__client_msg, within the bounds (head, header count, body), skipping 1xx interim
 * responses and dropping trailer fields. A callback that refuses records why and stops
 * the parser; the final response pauses it, so that whatever follows is seen as not
 * ours. */
#include <string.h>

#include "http/client_internal.h"

static int refuse(struct egw__client_msg *m, enum egw_http_client_result result,
                  const char *error) {
  if (m->error == NULL) {
    m->result = result;
    m->error = error;
  }
  return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
  struct egw__client_msg *m = p->data;
  m->head.len = 0;
  m->n_fields = 0;
  m->body.len = 0;
  m->head_done = 0;
  m->in_name = 0;
  m->trailer_bytes = 0;
  m->interim = 0;
  return 0;
}

static int collect(struct egw__client_msg *m, const char *at, size_t len) {
  if (len > EGW__CLIENT_MAX_HEAD_BYTES - m->head.len)
    return refuse(m, EGW_HTTP_CLIENT_TOO_LARGE, "response too large");
  if (egw_buf_append(&m->head, at, len) != 0)
    return refuse(m, EGW_HTTP_CLIENT_NOMEM, "out of memory");
  return 0;
}

/* Trailer fields of a chunked body count against the head limit, then are dropped. */
static int trailer(struct egw__client_msg *m, size_t len) {
  m->trailer_bytes += len;
  if (m->trailer_bytes > EGW__CLIENT_MAX_HEAD_BYTES)
    return refuse(m, EGW_HTTP_CLIENT_TOO_LARGE, "response too large");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  struct egw__client_msg *m = p->data;
  if (m->head_done)
    return trailer(m, len);
  if (!m->in_name) {
    if (m->n_fields == EGW__CLIENT_MAX_HEADERS)
      return refuse(m, EGW_HTTP_CLIENT_TOO_LARGE, "response too large");
    m->fields[m->n_fields] = (struct egw__client_field){.name_off = m->head.len};
    m->in_name = 1;
  }
  return collect(m, at, len);
}

/* is_tchar: a byte of a token (RFC 9110 5.6.2), what a field name is made of. */
static int is_tchar(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int on_header_field_complete(llhttp_t *p) {
  struct egw__client_msg *m = p->data;
  if (m->head_done)
    return 0;
  struct egw__client_field *f = &m->fields[m->n_fields];
  m->in_name = 0;
  f->name_len = m->head.len - f->name_off;
  /* A name that is not a token ("Bad Name: x", "x-a : v") is refused, not passed on to
   * whoever reads the response next (the EAS proxy's client). */
  if (f->name_len == 0)
    return refuse(m, EGW_HTTP_CLIENT_MALFORMED, "malformed response");
  for (size_t i = 0; i < f->name_len; i++) {
    uint8_t *ch = &m->head.data[f->name_off + i];
    if (!is_tchar(*ch))
      return refuse(m, EGW_HTTP_CLIENT_MALFORMED, "malformed response");
    if (*ch >= 'A' && *ch <= 'Z')
      *ch = (uint8_t)(*ch - 'A' + 'a');
  }
  if (collect(m, "", 1) != 0) /* the NUL after the name */
    return HPE_USER;
  f->value_off = m->head.len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  struct egw__client_msg *m = p->data;
  if (m->head_done)
    return trailer(m, len);
  return collect(m, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
  struct egw__client_msg *m = p->data;
  if (m->head_done)
    return 0;
  struct egw__client_field *f = &m->fields[m->n_fields];
  const uint8_t *v = m->head.data + f->value_off;
  size_t n = m->head.len - f->value_off;
  size_t start = 0;
  while (start < n && (v[start] == ' ' || v[start] == '\t'))
    start++;
  while (n > start && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  f->value_off += start;
  f->value_len = n - start;
  m->head.len = f->value_off + f->value_len;
  if (collect(m, "", 1) != 0)
    return HPE_USER;
  m->n_fields++;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  struct egw__client_msg *m = p->data;
  m->head_done = 1;
  /* RFC 9110 15: status codes are 100..599; anything else is not passed on. */
  if (p->http_major != 1 || p->status_code == 101 || p->upgrade || p->status_code < 100 ||
      p->status_code > 599)
    return refuse(m, EGW_HTTP_CLIENT_MALFORMED, "malformed response"), -1;
  if (p->status_code < 200) {
    m->interim = 1;
    return 0;
  }
  m->status = p->status_code;
  if (m->stream) {
    if (egw__client_call_head(m->call) != 0)
      return refuse(m, EGW_HTTP_CLIENT_CANCELLED, "cancelled"), -1;
  } else if ((p->flags & F_CONTENT_LENGTH) && p->content_length > m->max_body_bytes) {
    return refuse(m, EGW_HTTP_CLIENT_TOO_LARGE, "response too large"), -1;
  }
  return m->is_head ? 1 : 0; /* 1: no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  struct egw__client_msg *m = p->data;
  if (m->stream && !m->interim) {
    egw__client_call_progress(m->call);
    if (m->stream->on_data(m->call->arg, (const uint8_t *)at, len) != 0)
      return refuse(m, EGW_HTTP_CLIENT_CANCELLED, "cancelled");
    return 0;
  }
  if (len > m->max_body_bytes - m->body.len)
    return refuse(m, EGW_HTTP_CLIENT_TOO_LARGE, "response too large");
  if (egw_buf_append(&m->body, at, len) != 0)
    return refuse(m, EGW_HTTP_CLIENT_NOMEM, "out of memory");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  struct egw__client_msg *m = p->data;
  if (m->interim)
    return 0; /* 1xx: the final response follows */
  m->complete = 1;
  m->keep_alive = llhttp_should_keep_alive(p);
  return HPE_PAUSED; /* anything after the response is not ours */
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void egw__client_msg_start(struct egw__client_msg *m, llhttp_t *parser) {
  m->complete = 0;
  m->result = EGW_HTTP_CLIENT_OK;
  m->error = NULL;
  llhttp_init(parser, HTTP_RESPONSE, &parser_settings);
  parser->data = m;
}

void egw__client_msg_free(struct egw__client_msg *m) {
  egw_buf_free(&m->head);
  egw_buf_free(&m->body);
}
