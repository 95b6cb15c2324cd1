/* application/x-www-form-urlencoded bodies (OAuth 2.0 requests, RFC 6749 appendix B). */
#ifndef EGW_HTTP_FORM_H
#define EGW_HTTP_FORM_H

#include <stddef.h>

#include "edgegw/http.h"

struct egw_form_field {
  const char *name; /* decoded, NUL-terminated, arena memory */
  const char *value;
};

struct egw_form {
  struct egw_form_field *fields;
  size_t n_fields;
};

enum egw_form_result {
  EGW_FORM_OK,
  EGW_FORM_NOT_FORM,  /* Content-Type is not application/x-www-form-urlencoded */
  EGW_FORM_MALFORMED, /* bad percent-encoding, NUL byte, a field without '=' */
  EGW_FORM_DUPLICATE, /* a field sent twice (RFC 6749 3.1: parameters must not repeat) */
  EGW_FORM_NOMEM,
};

/* egw_form_parse decodes the body of |req| into |out| (memory of req->arena). At most
 * 64 fields. */
enum egw_form_result egw_form_parse(const struct egw_request *req, struct egw_form *out);

/* egw_form_get returns the value of field |name|, or NULL. */
const char *egw_form_get(const struct egw_form *form, const char *name);

#endif
