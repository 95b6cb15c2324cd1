/* Header field names must be tokens (RFC 9110 5.1, 5.6.2); RFC 9112 5.1: whitespace
 * between the name and the colon gets 400. Found by test_attack_http.py: llhttp accepted
 * "x-eec-id : v" and the name, "x-eec-id ", went to the EAS application beside the
 * identity header the gateway sets, where a lenient parser would read it as that header. */
#include <jansson.h>

#include "harness.h"

static void refused_400(const char *req) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, req), EGW_H1_CLOSING, "request: %s", req);
  cr_assert_eq(c.requests, 0, "request: %s", req);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 400 ", 13) == 0, "%s", got);
  cr_assert_not_null(strstr(got, "application/problem+json"), "%s", got);
  free(got);
  cap_free(&c);
}

Test(h1_header_name, space_before_colon_is_400) {
  refused_400("GET / HTTP/1.1\r\nHost: gw\r\nx-eec-id : spiffe://x/mallory\r\n\r\n");
}

Test(h1_header_name, tab_before_colon_is_400) {
  refused_400("GET / HTTP/1.1\r\nHost: gw\r\nx-eec-id\t: v\r\n\r\n");
}

Test(h1_header_name, separators_in_the_name_are_400) {
  refused_400("GET / HTTP/1.1\r\nHost: gw\r\nx(a): v\r\n\r\n");
  refused_400("GET / HTTP/1.1\r\nHost: gw\r\nx/a: v\r\n\r\n");
}

Test(h1_header_name, token_names_are_served) {
  struct cap c;
  cap_init(&c);
  cr_assert_neq(cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\nX-A!#$%&'*+-.^_`|~9: v\r\n\r\n"),
                EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1);
  cap_free(&c);
}
