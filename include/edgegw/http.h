/* Request and response as roles see them. Nothing here is HTTP/1 specific: framing
 * (llhttp today, HTTP/2 later) fills a request and serializes a response. */
#ifndef EDGEGW_HTTP_H
#define EDGEGW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "edgegw/peer.h"

struct egw_arena;

/* Methods as bits so that route and policy rules can hold a set of them. */
enum egw_method {
  EGW_METHOD_OTHER = 0,
  EGW_METHOD_GET = 1 << 0,
  EGW_METHOD_HEAD = 1 << 1,
  EGW_METHOD_POST = 1 << 2,
  EGW_METHOD_PUT = 1 << 3,
  EGW_METHOD_PATCH = 1 << 4,
  EGW_METHOD_DELETE = 1 << 5,
  EGW_METHOD_OPTIONS = 1 << 6,
};

/* egw_method_from_name maps "GET".. to the enum (EGW_METHOD_OTHER when unknown). */
enum egw_method egw_method_from_name(const char *name, size_t len);
/* egw_method_name returns the canonical name, "OTHER" for EGW_METHOD_OTHER. */
const char *egw_method_name(enum egw_method m);

/* egw_header is a name/value pair. Request header names are lower-cased by framing. */
struct egw_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

/* egw_request is filled by framing and read-only for roles. All memory belongs to
 * |arena| (freed when the exchange ends) or to the connection. */
struct egw_request {
  enum egw_method method;
  const char *method_name; /* as sent, NUL-terminated */
  const char *path;        /* decoded of nothing: the raw path, NUL-terminated, no query */
  size_t path_len;
  const char *query; /* after '?', NUL-terminated, "" when none */
  const struct egw_header *headers;
  size_t n_headers;
  const uint8_t *body; /* de-chunked; NULL when empty */
  size_t body_len;
  const struct egw_peer *peer; /* never NULL; kind NONE when anonymous */
  const char *interface_name;  /* "EDGE-1", from the listener's policy */
  struct egw_arena *arena;
  /* Set by the dispatcher (core) before authorization and the role run. */
  const char *role_name; /* the listener's role: "ecs", "ees", ... */
  const char *tls_mode;  /* "server-cert", "mtls", "psk" */
  /* The client's address, "192.0.2.1:54321" or "[2001:db8::1]:54321" ("?" when
   * unknown); owned by the connection. */
  const char *peer_addr;
  /* Set by token authorization when it accepted a Bearer token (else NULL): the token's
   * sub, its eecId claim and its scope (space-separated). Arena memory. */
  const char *token_sub;
  const char *token_eec_id;
  const char *token_scope;
};

/* egw_request_header returns the first value of header |name| (lower-case), or NULL. */
const char *egw_request_header(const struct egw_request *req, const char *name, size_t *out_len);

/* egw_response_length says which length framing announces for a response. */
enum egw_response_length {
  /* EGW_RESPONSE_LENGTH_BODY (the default): the length of |body|. A HEAD answer built
   * like a GET one announces the length the GET body would have. */
  EGW_RESPONSE_LENGTH_BODY = 0,
  /* EGW_RESPONSE_LENGTH_GIVEN: |content_length|. For a HEAD answer that has no body
   * (a proxy passing on the application's length), or a streamed response of known
   * length (egw_exchange_stream_begin; the role then writes exactly that many bytes). */
  EGW_RESPONSE_LENGTH_GIVEN,
  /* EGW_RESPONSE_LENGTH_UNKNOWN: no length is announced. A HEAD answer then carries no
   * length; a streamed response is delimited by the framing (HTTP/1.1: chunked). */
  EGW_RESPONSE_LENGTH_UNKNOWN,
};

/* egw_response is built by a role (or by core for errors) and serialized by framing. */
struct egw_response {
  int status;
  struct egw_header *headers; /* arena memory */
  size_t n_headers;
  size_t cap_headers;
  const uint8_t *body; /* arena or static memory */
  size_t body_len;
  struct egw_arena *arena;
  /* length and content_length: see egw_response_length. Zero (BODY) for most roles. */
  enum egw_response_length length;
  uint64_t content_length;
};

/* egw_response_add_header copies |name| and |value| into the arena. Framing adds
 * Content-Length, Date and Connection itself; roles must not. Returns 0 or
 * EGW_ERR_NOMEM. */
int egw_response_add_header(struct egw_response *resp, const char *name, const char *value);
/* egw_response_set_body copies |len| bytes into the arena and sets Content-Type. */
int egw_response_set_body(struct egw_response *resp, int status, const char *content_type,
                          const void *body, size_t len);
/* egw_response_json serializes a NUL-terminated JSON text with status |status|. */
int egw_response_json(struct egw_response *resp, int status, const char *json);
/* egw_response_problem answers with an RFC 7807 ProblemDetails body
 * (application/problem+json): {"type","title","status","detail","cause"}. |cause| and
 * |detail| may be NULL. Returns 0 or EGW_ERR_NOMEM. */
int egw_response_problem(struct egw_response *resp, int status, const char *title,
                         const char *detail, const char *cause);

/* egw_status_reason returns the reason phrase of |status| ("Not Found"). */
const char *egw_status_reason(int status);

#endif
