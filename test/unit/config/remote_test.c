/* Remote token verification in the policy: issuers' jwks_uri, jwks_refresh_min_s and
 * introspection_uri, site.yaml tokens.client, listener authz remote, remote_cache_s and
 * opaque_issuer, and the checks between them. Every error is checked exactly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static void remote_init(void) {
  fx_init();
  fx_write("certs/ent.pem", "public key\n");
  fx_write("certs/peer.jwks.json", "{\"keys\": []}\n");
  fx_write("certs/k1.key", "key 1\n");
  fx_write("certs/client.pem", "client cert\n");
  fx_write("certs/client.key", "client key\n");
}

TestSuite(config_remote, .init = remote_init, .fini = fx_fini);

#define SITE FX_TOK_SITE
#define ISSUERS FX_TOK_ISSUERS
#define ISSUER ISSUERS "    - id: x\n" /* lines 1-5 */
#define HEAD FX_TOK_HEAD
#define TLS_MTLS FX_TOK_TLS_MTLS
#define TOKEN FX_TOK_AUTHZ
#define RULES FX_TOK_RULES
#define STATIC FX_TOK_STATIC

/* ---- a full valid policy -------------------------------------------------------------- */

static const char full_site[] =
    "site:\n"                                                                     /* 1 */
    "  id: site1\n"                                                               /* 2 */
    "tokens:\n"                                                                   /* 3 */
    "  client:\n"                                                                 /* 4 */
    "    key: certs/client.key\n"                                                 /* 5 */
    "    cert: certs/client.pem\n"                                                /* 6 */
    "  issuers:\n"                                                                /* 7 */
    "    - id: ecs.site1.example\n"                                               /* 8 */
    "      local: true\n"                                                         /* 9 */
    "      introspection_uri: https://127.0.0.1:8446/oauth2/introspect\n"         /* 10 */
    "    - id: peer-ecs.site2.example\n"                                          /* 11 */
    "      jwks_refresh_min_s: 3600\n"                                            /* 12 */
    "      jwks_uri: https://[::1]:9443/.well-known/jwks.json?v=1\n"              /* 13 */
    "      introspection_uri: https://peer-ecs.site2.example/oauth2/introspect\n" /* 14 */
    "    - id: https://entitlement.example\n"                                     /* 15 */
    "      introspection_uri: https://Entitlement.example:65535/\n"               /* 16 */
    "    - id: jwks-only\n"                                                       /* 17 */
    "      jwks_uri: https://idp-1.example.com:1/jwks\n"                          /* 18 */
    "    - id: keys-only\n"                                                       /* 19 */
    "      keys: [{file: certs/ent.pem}]\n"                                       /* 20 */
    "ecs:\n"
    "  id: ecs.site1.example\n"
    "  signing_keys: [{kid: k1, key: certs/k1.key}]\n"
    "  clients: [{id: 'CN:x', scopes: s, audiences: any}]\n";

static const char remote_full[] =
    "listener:\n  interface: EDGE-1\n  role: ees\n  listen: 127.0.0.1:8441\n" TLS_MTLS
    "  authz:\n"                                                      /* 9 */
    "    mode: token\n"                                               /* 10 */
    "    audience: ees1\n"                                            /* 11 */
    "    remote_cache_s: 1\n"                                         /* 12 */
    "    opaque_issuer: https://entitlement.example\n"                /* 13 */
    "    remote: true\n"                                              /* 14 */
    "    issuers: [ecs.site1.example, https://entitlement.example]\n" /* 15 */
    "    rules: [{path: /}]\n";
static const char remote_default[] =
    "listener:\n  interface: EDGE-2\n  role: ees\n  listen: 127.0.0.1:8442\n" TLS_MTLS
    "  authz:\n    mode: token\n    audience: ees2\n    remote: true\n"
    "    issuers: [https://entitlement.example, peer-ecs.site2.example]\n"
    "    rules: [{path: /}]\n";
/* Not remote: every site issuer, some of them with keys; opaque tokens introspected. */
static const char local_opaque[] =
    "listener:\n  interface: EDGE-3\n  role: ees\n  listen: 127.0.0.1:8447\n" TLS_MTLS
    "  authz:\n    mode: token\n    audience: ees3\n    remote: false\n"
    "    opaque_issuer: https://entitlement.example\n    rules: [{path: /}]\n";
static const char local_plain[] =
    "listener:\n  interface: EDGE-4\n  role: ees\n  listen: 127.0.0.1:8444\n" TLS_MTLS
    "  authz:\n    mode: token\n    audience: ees4\n    issuers: [keys-only, jwks-only]\n"
    "    rules: [{path: /}]\n";
static const char static_plain[] =
    "listener:\n  interface: EDGE-5\n  role: ees\n  listen: 127.0.0.1:8445\n" TLS_MTLS STATIC;

Test(config_remote, full_policy) {
  fx_write("site.yaml", full_site);
  fx_write("e1.yaml", remote_full);
  fx_write("e2.yaml", remote_default);
  fx_write("e3.yaml", local_opaque);
  fx_write("e4.yaml", local_plain);
  fx_write("e5.yaml", static_plain);
  struct egw_site_policy *p = fx_load();

  fx_assert_path(p->token_client_cert, "certs/client.pem");
  fx_assert_path(p->token_client_key, "certs/client.key");

  cr_assert_eq(p->n_issuers, 5);
  const struct egw_issuer_policy *is = p->issuers;
  cr_assert_eq(is[0].local, 1);
  cr_assert_null(is[0].jwks_uri);
  cr_assert_eq(is[0].jwks_refresh_min_s, 0, "no jwks_uri: no refresh interval");
  cr_assert_str_eq(is[0].introspection_uri, "https://127.0.0.1:8446/oauth2/introspect");
  cr_assert_str_eq(is[1].id, "peer-ecs.site2.example");
  cr_assert_eq(is[1].local, 0);
  cr_assert_null(is[1].jwks_file);
  cr_assert_eq(is[1].n_keys, 0);
  cr_assert_str_eq(is[1].jwks_uri, "https://[::1]:9443/.well-known/jwks.json?v=1");
  cr_assert_eq(is[1].jwks_refresh_min_s, 3600);
  cr_assert_str_eq(is[1].introspection_uri, "https://peer-ecs.site2.example/oauth2/introspect");
  cr_assert_eq(is[1].line, 11);
  cr_assert_str_eq(is[2].id, "https://entitlement.example");
  cr_assert_eq(is[2].local, 0);
  cr_assert_eq(is[2].n_keys, 0);
  cr_assert_null(is[2].keys);
  cr_assert_null(is[2].jwks_file);
  cr_assert_null(is[2].jwks_uri);
  cr_assert_eq(is[2].jwks_refresh_min_s, 0);
  cr_assert_str_eq(is[2].introspection_uri, "https://Entitlement.example:65535/",
                   "stored as given");
  cr_assert_str_eq(is[3].jwks_uri, "https://idp-1.example.com:1/jwks");
  cr_assert_eq(is[3].jwks_refresh_min_s, 30, "default");
  cr_assert_null(is[3].introspection_uri);
  cr_assert_eq(is[4].n_keys, 1);
  cr_assert_null(is[4].jwks_uri);
  cr_assert_eq(is[4].jwks_refresh_min_s, 0);
  cr_assert_null(is[4].introspection_uri);

  cr_assert_eq(p->n_listeners, 5);
  const struct egw_token_authz_policy *t = &p->listeners[0].authz.token;
  cr_assert_eq(t->remote, 1);
  cr_assert_eq(t->remote_cache_s, 1);
  cr_assert_str_eq(t->opaque_issuer, "https://entitlement.example");
  cr_assert_eq(t->n_issuers, 2);
  t = &p->listeners[1].authz.token;
  cr_assert_eq(t->remote, 1);
  cr_assert_eq(t->remote_cache_s, 60, "default");
  cr_assert_null(t->opaque_issuer);
  t = &p->listeners[2].authz.token;
  cr_assert_eq(t->remote, 0);
  cr_assert_eq(t->remote_cache_s, 0, "not remote: no cache time");
  cr_assert_str_eq(t->opaque_issuer, "https://entitlement.example");
  t = &p->listeners[3].authz.token;
  cr_assert_eq(t->remote, 0);
  cr_assert_eq(t->remote_cache_s, 0);
  cr_assert_null(t->opaque_issuer);
  t = &p->listeners[4].authz.token;
  cr_assert_eq(p->listeners[4].authz.mode, EGW_AUTHZ_STATIC);
  cr_assert_eq(t->remote, 0);
  cr_assert_eq(t->remote_cache_s, 0);
  cr_assert_null(t->opaque_issuer);
  egw_site_policy_free(p);
}

Test(config_remote, defaults) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ISSUERS "    - {id: x, jwks_file: certs/peer.jwks.json}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_null(p->token_client_cert);
  cr_assert_null(p->token_client_key);
  cr_assert_null(p->issuers[0].jwks_uri);
  cr_assert_eq(p->issuers[0].jwks_refresh_min_s, 0);
  cr_assert_null(p->issuers[0].introspection_uri);
  egw_site_policy_free(p);
  /* An issuer of opaque tokens only needs no key source. */
  fx_write("site.yaml", ISSUER "      introspection_uri: https://a.b/c\n");
  p = fx_load();
  cr_assert_str_eq(p->issuers[0].introspection_uri, "https://a.b/c");
  cr_assert_eq(p->issuers[0].local, 0);
  cr_assert_eq(p->issuers[0].n_keys, 0);
  cr_assert_null(p->issuers[0].jwks_file);
  cr_assert_null(p->issuers[0].jwks_uri);
  egw_site_policy_free(p);
}

/* ---- site.yaml: tokens.client --------------------------------------------------------- */

Test(config_remote, tokens_client) {
  fx_site_error(SITE "tokens:\n  client: certs/client.pem\n",
                "D/site.yaml:4: tokens.client: must be a mapping");
  fx_site_error(SITE "tokens:\n  client:\n    cert: certs/client.pem\n",
                "D/site.yaml:5: tokens.client.key: required key 'key' missing");
  fx_site_error(SITE "tokens:\n  client:\n    key: certs/client.key\n",
                "D/site.yaml:5: tokens.client.cert: required key 'cert' missing");
  fx_site_error(SITE "tokens:\n  client: {}\n",
                "D/site.yaml:4: tokens.client.cert: required key 'cert' missing");
  fx_site_error(SITE "tokens:\n  client:\n    cert: certs/client.pem\n    key: certs/nope.key\n",
                "D/site.yaml:6: tokens.client.key: cannot read 'D/certs/nope.key': No such file or "
                "directory");
  fx_site_error(SITE
                "tokens:\n  client:\n    cert: [certs/client.pem]\n    key: certs/client.key\n",
                "D/site.yaml:5: tokens.client.cert: must be a string");
  fx_site_error(SITE "tokens:\n  client:\n    cert: certs\n    key: certs/client.key\n",
                "D/site.yaml:5: tokens.client.cert: cannot read 'D/certs': Is a directory");
  fx_site_error(SITE "tokens:\n  client:\n    cert: certs/client.pem\n    key: certs/client.key\n"
                     "    ca: certs/ca.pem\n",
                "D/site.yaml:7: tokens.client.ca: unknown key");
  fx_site_error(SITE "tokens:\n  client:\n    cert: certs/client.pem\n    cert: certs/client.pem\n",
                "D/site.yaml:6: tokens.client.cert: duplicate key");
}

/* ---- site.yaml: URLs ------------------------------------------------------------------ */

static void url_error(const char *key, const char *url, const char *message) {
  char site[4096], expected[4096];
  /* jwks_uri needs no other key; introspection_uri stands alone too. */
  snprintf(site, sizeof(site), ISSUER "      %s: '%s'\n", key, url);
  snprintf(expected, sizeof(expected), "D/site.yaml:6: tokens.issuers[0].%s: %s", key, message);
  fx_site_error(site, expected);
}

static void both_url_errors(const char *url, const char *message) {
  url_error("jwks_uri", url, message);
  url_error("introspection_uri", url, message);
}

Test(config_remote, url_scheme) {
  both_url_errors("http://127.0.0.1:9443/jwks",
                  "'http://127.0.0.1:9443/jwks' must be an https:// URL");
  both_url_errors("HTTPS://a.example/x", "'HTTPS://a.example/x' must be an https:// URL");
  both_url_errors("ftp://a.example/x", "'ftp://a.example/x' must be an https:// URL");
  both_url_errors("a.example/jwks", "'a.example/jwks' must be an https:// URL");
  both_url_errors("https:/a.example/x", "'https:/a.example/x' must be an https:// URL");
  fx_site_error(ISSUER "      jwks_uri: [https://a.example/x]\n",
                "D/site.yaml:6: tokens.issuers[0].jwks_uri: must be a string");
  fx_site_error(ISSUER "      introspection_uri: ''\n",
                "D/site.yaml:6: tokens.issuers[0].introspection_uri: must not be empty");
  fx_site_error(ISSUER "      introspection_uri: {a: b}\n",
                "D/site.yaml:6: tokens.issuers[0].introspection_uri: must be a string");
}

Test(config_remote, url_host) {
  both_url_errors("https:///jwks", "'https:///jwks': the host is missing");
  both_url_errors("https://:443/jwks", "'https://:443/jwks': the host is missing");
  both_url_errors("https://", "'https://': the host is missing");
  both_url_errors("https://a_b.example/x",
                  "'https://a_b.example/x': invalid host 'a_b.example' (expected an IPv4 "
                  "address, [IPv6] or a DNS name)");
  both_url_errors("https://-a.example/x",
                  "'https://-a.example/x': invalid host '-a.example' (expected an IPv4 "
                  "address, [IPv6] or a DNS name)");
  both_url_errors("https://a-.example/x",
                  "'https://a-.example/x': invalid host 'a-.example' (expected an IPv4 "
                  "address, [IPv6] or a DNS name)");
  both_url_errors("https://a..example/x",
                  "'https://a..example/x': invalid host 'a..example' (expected an IPv4 "
                  "address, [IPv6] or a DNS name)");
  both_url_errors("https://a.example./x",
                  "'https://a.example./x': invalid host 'a.example.' (expected an IPv4 "
                  "address, [IPv6] or a DNS name)");
  both_url_errors("https://127.0.0.256/x",
                  "'https://127.0.0.256/x': '127.0.0.256' is not an IPv4 address");
  both_url_errors("https://10.1/x", "'https://10.1/x': '10.1' is not an IPv4 address");
  both_url_errors("https://[::g]/x", "'https://[::g]/x': '[::g]' is not an IPv6 address");
  both_url_errors("https://[]/x", "'https://[]/x': '[]' is not an IPv6 address");
  both_url_errors("https://[127.0.0.1]/x",
                  "'https://[127.0.0.1]/x': '[127.0.0.1]' is not an IPv6 address");
  both_url_errors("https://[::1/x", "'https://[::1/x': missing ']' after the IPv6 address");
  both_url_errors("https://[::1]x/y",
                  "'https://[::1]x/y': expected ':port' or a path after '[::1]'");
  both_url_errors("https://::1/x", "'https://::1/x': the host is missing");
  /* 64 characters in a label. */
  both_url_errors(
      "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b/x",
      "'https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b/x': "
      "invalid host 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b' "
      "(expected an IPv4 address, [IPv6] or a DNS name)");
}

Test(config_remote, url_port) {
  both_url_errors("https://a.example:0/x", "'https://a.example:0/x': invalid port '0' (expected "
                                           "1..65535)");
  both_url_errors("https://a.example:65536/x",
                  "'https://a.example:65536/x': invalid port '65536' (expected 1..65535)");
  both_url_errors("https://a.example:/x",
                  "'https://a.example:/x': invalid port '' (expected 1..65535)");
  both_url_errors("https://a.example:https/x",
                  "'https://a.example:https/x': invalid port 'https' (expected 1..65535)");
  both_url_errors("https://[::1]:-1/x",
                  "'https://[::1]:-1/x': invalid port '-1' (expected 1..65535)");
  both_url_errors("https://10.0.0.1:443:1/x",
                  "'https://10.0.0.1:443:1/x': invalid port '443:1' (expected 1..65535)");
  both_url_errors("https://10.0.0.1:9999999999999999999999/x",
                  "'https://10.0.0.1:9999999999999999999999/x': invalid port "
                  "'9999999999999999999999' (expected 1..65535)");
}

Test(config_remote, url_path_userinfo_fragment) {
  both_url_errors("https://a.example", "'https://a.example': needs a path starting with '/'");
  both_url_errors("https://a.example:443",
                  "'https://a.example:443': needs a path starting with '/'");
  both_url_errors("https://a.example?x=1",
                  "'https://a.example?x=1': needs a path starting with '/'");
  both_url_errors("https://user:pw@a.example/x",
                  "'https://user:pw@a.example/x': user information (user@host) is not allowed");
  both_url_errors("https://@a.example/x",
                  "'https://@a.example/x': user information (user@host) is not allowed");
  both_url_errors("https://a.example/x#frag",
                  "'https://a.example/x#frag': a fragment ('#') is not allowed");
  both_url_errors("https://a.example/x y",
                  "must be printable ASCII without spaces (percent-encode the rest)");
  both_url_errors("https://a.example/\xc3\xa9",
                  "must be printable ASCII without spaces (percent-encode the rest)");
  /* '@' in the path is not userinfo. */
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ISSUER "      introspection_uri: https://a.example/u@x?y=@\n");
  egw_site_policy_free(fx_load());
}

Test(config_remote, url_length) {
  char url[2100], message[64];
  static const char head[] = "https://a.example/";
  memset(url, 'x', sizeof(url));
  memcpy(url, head, sizeof(head) - 1);
  url[2048] = '\0';
  char site[4400];
  snprintf(site, sizeof(site), ISSUER "      jwks_uri: %s\n      introspection_uri: %s\n", url,
           url);
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", site);
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(strlen(p->issuers[0].jwks_uri), 2048);
  cr_assert_eq(strlen(p->issuers[0].introspection_uri), 2048);
  egw_site_policy_free(p);
  url[2048] = 'x';
  url[2049] = '\0';
  snprintf(message, sizeof(message), "must be at most 2048 characters");
  both_url_errors(url, message);
}

/* ---- site.yaml: key sources and the refresh interval ---------------------------------- */

Test(config_remote, key_source_exclusive) {
  fx_site_error(
      ISSUER "      jwks_uri: https://a.example/j\n      local: true\n",
      "D/site.yaml:7: tokens.issuers[0].local: not allowed with 'jwks_uri' (one of local, "
      "keys, jwks_file, jwks_uri per issuer)");
  fx_site_error(ISSUER "      keys: [{file: certs/ent.pem}]\n      jwks_uri: https://a.example/j\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_uri: not allowed with 'keys' (one of local, "
                "keys, jwks_file, jwks_uri per issuer)");
  fx_site_error(ISSUER
                "      jwks_uri: https://a.example/j\n      jwks_file: certs/peer.jwks.json\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_file: not allowed with 'jwks_uri' (one of "
                "local, keys, jwks_file, jwks_uri per issuer)");
  fx_site_error(ISSUER
                "      introspection_uri: https://a.example/i\n"
                "      jwks_file: certs/peer.jwks.json\n      jwks_uri: https://a.example/j\n",
                "D/site.yaml:8: tokens.issuers[0].jwks_uri: not allowed with 'jwks_file' (one of "
                "local, keys, jwks_file, jwks_uri per issuer)");
  /* None: introspection_uri would do; local: false is no source. */
  fx_site_error(ISSUER "      local: false\n      jwks_refresh_min_s: 5\n",
                "D/site.yaml:5: tokens.issuers[0]: needs one of local: true, keys, jwks_file, "
                "jwks_uri, or an introspection_uri");
}

Test(config_remote, jwks_refresh) {
  fx_site_error(ISSUER "      jwks_uri: https://a.example/j\n      jwks_refresh_min_s: 0\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_refresh_min_s: must be between 1 and 3600");
  fx_site_error(ISSUER "      jwks_uri: https://a.example/j\n      jwks_refresh_min_s: 3601\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_refresh_min_s: must be between 1 and 3600");
  fx_site_error(ISSUER "      jwks_uri: https://a.example/j\n      jwks_refresh_min_s: 30s\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_refresh_min_s: must be an integer");
  fx_site_error(ISSUER "      jwks_uri: https://a.example/j\n      jwks_refresh_min_s: [30]\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_refresh_min_s: must be an integer");
  fx_site_error(ISSUER "      jwks_refresh_min_s: 30\n      jwks_file: certs/peer.jwks.json\n",
                "D/site.yaml:6: tokens.issuers[0].jwks_refresh_min_s: only allowed with jwks_uri");
  fx_site_error(ISSUER
                "      introspection_uri: https://a.example/i\n      jwks_refresh_min_s: 30\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_refresh_min_s: only allowed with jwks_uri");
  fx_site_error(ISSUER "      local: true\n      jwks_refresh_min_s: 30\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_refresh_min_s: only allowed with jwks_uri");
  fx_site_error(ISSUER "      jwks_uri: https://a.example/j\n      jwks_refresh_min_s: 1\n"
                       "      jwks_refresh_min_s: 2\n",
                "D/site.yaml:8: tokens.issuers[0].jwks_refresh_min_s: duplicate key");
}

/* ---- listener authz: remote, remote_cache_s, opaque_issuer ---------------------------- */

#define R_SITE                                                                                     \
  "site:\n  id: site1\n  trust:\n    ca: certs/ca.pem\n    crl: [certs/crl.pem]\n"                 \
  "tokens:\n  issuers:\n"                                /* 6-7 */                                 \
  "    - {id: keyed, jwks_file: certs/peer.jwks.json}\n" /* 8 */                                   \
  "    - {id: both, keys: [{file: certs/ent.pem}], introspection_uri: 'https://10.0.0.1/i'}\n"     \
  "    - {id: opaque, introspection_uri: 'https://ent.example/i'}\n"   /* 10 */                    \
  "    - {id: opaque2, introspection_uri: 'https://ent2.example/i'}\n" /* 11 */

static void token_error(const char *listener, const char *expected) {
  fx_write("site.yaml", R_SITE);
  fx_listener_error(listener, expected);
}

static void token_ok(const char *listener) {
  fx_write("site.yaml", R_SITE);
  fx_write("l.yaml", listener);
  egw_site_policy_free(fx_load());
  fx_remove("l.yaml");
}

Test(config_remote, listener_types_and_ranges) {
  token_error(HEAD TLS_MTLS TOKEN "    remote: yes\n" RULES,
              "D/l.yaml:12: listener.authz.remote: must be true or false");
  token_error(HEAD TLS_MTLS TOKEN "    remote: [true]\n" RULES,
              "D/l.yaml:12: listener.authz.remote: must be true or false");
  token_error(HEAD TLS_MTLS TOKEN "    remote: true\n    remote_cache_s: 0\n" RULES,
              "D/l.yaml:13: listener.authz.remote_cache_s: must be between 1 and 3600");
  token_error(HEAD TLS_MTLS TOKEN "    remote: true\n    remote_cache_s: 3601\n" RULES,
              "D/l.yaml:13: listener.authz.remote_cache_s: must be between 1 and 3600");
  token_error(HEAD TLS_MTLS TOKEN "    remote: true\n    remote_cache_s: 1m\n" RULES,
              "D/l.yaml:13: listener.authz.remote_cache_s: must be an integer");
  token_error(HEAD TLS_MTLS TOKEN "    remote_cache_s: 60\n" RULES,
              "D/l.yaml:12: listener.authz.remote_cache_s: only allowed with remote: true");
  token_error(HEAD TLS_MTLS TOKEN "    remote_cache_s: 60\n    remote: false\n" RULES,
              "D/l.yaml:12: listener.authz.remote_cache_s: only allowed with remote: true");
  token_error(HEAD TLS_MTLS TOKEN "    opaque_issuer: [opaque]\n" RULES,
              "D/l.yaml:12: listener.authz.opaque_issuer: must be a string");
  token_error(HEAD TLS_MTLS TOKEN "    opaque_issuer: ''\n" RULES,
              "D/l.yaml:12: listener.authz.opaque_issuer: must not be empty");
  token_error(HEAD TLS_MTLS TOKEN "    remote: true\n    remote: true\n" RULES,
              "D/l.yaml:13: listener.authz.remote: duplicate key");
}

Test(config_remote, listener_keys_need_mode_token) {
  static const char *const lines[] = {"remote: true", "remote_cache_s: 5", "opaque_issuer: opaque"};
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    char text[512], expected[256], name[32];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(lines[i], ":"), lines[i]);
    snprintf(text, sizeof(text), HEAD TLS_MTLS STATIC "    %s\n", lines[i]);
    snprintf(expected, sizeof(expected),
             "D/l.yaml:14: listener.authz.%s: not allowed with mode "
             "static",
             name);
    token_error(text, expected);
    snprintf(text, sizeof(text), HEAD TLS_MTLS "  authz:\n    %s\n    mode: none\n", lines[i]);
    snprintf(expected, sizeof(expected),
             "D/l.yaml:10: listener.authz.%s: not allowed with mode "
             "none",
             name);
    token_error(text, expected);
  }
}

Test(config_remote, remote_needs_introspection) {
  token_error(HEAD TLS_MTLS TOKEN "    issuers: [both, keyed, opaque]\n    remote: true\n" RULES,
              "D/l.yaml:13: listener.authz.remote: issuer 'keyed' has no introspection_uri "
              "(D/site.yaml:8); with remote: true every issuer accepted here needs one");
  /* No issuers listed: every site issuer. */
  token_error(HEAD TLS_MTLS TOKEN "    remote: true\n" RULES,
              "D/l.yaml:12: listener.authz.remote: issuer 'keyed' has no introspection_uri "
              "(D/site.yaml:8); with remote: true every issuer accepted here needs one");
  token_ok(HEAD TLS_MTLS TOKEN "    issuers: [both, opaque, opaque2]\n    remote: true\n" RULES);
  token_ok(HEAD TLS_MTLS TOKEN "    issuers: [opaque]\n    remote: true\n"
                               "    remote_cache_s: 3600\n" RULES);
}

Test(config_remote, opaque_issuer) {
  token_error(HEAD TLS_MTLS TOKEN "    opaque_issuer: nope\n" RULES,
              "D/l.yaml:12: listener.authz.opaque_issuer: unknown issuer 'nope' (not in "
              "tokens.issuers of D/site.yaml)");
  token_error(HEAD TLS_MTLS TOKEN "    opaque_issuer: keyed\n" RULES,
              "D/l.yaml:12: listener.authz.opaque_issuer: issuer 'keyed' has no "
              "introspection_uri (D/site.yaml:8): opaque tokens can only be introspected");
  token_error(HEAD TLS_MTLS TOKEN "    issuers: [both]\n    opaque_issuer: opaque\n" RULES,
              "D/l.yaml:13: listener.authz.opaque_issuer: issuer 'opaque' is not in "
              "listener.authz.issuers (line 12)");
  /* Unknown listed issuers are reported first. */
  token_error(HEAD TLS_MTLS TOKEN "    opaque_issuer: nope\n    issuers: [keyed, x]\n" RULES,
              "D/l.yaml:13: listener.authz.issuers: unknown issuer 'x' (not in tokens.issuers of "
              "D/site.yaml)");
  token_ok(HEAD TLS_MTLS TOKEN "    opaque_issuer: opaque\n" RULES);
  token_ok(HEAD TLS_MTLS TOKEN "    issuers: [keyed, opaque]\n    opaque_issuer: opaque\n" RULES);
  token_ok(HEAD TLS_MTLS TOKEN "    issuers: [opaque2, both]\n    remote: true\n"
                               "    opaque_issuer: opaque2\n" RULES);
}

Test(config_remote, local_verification_needs_keys) {
  token_error(HEAD TLS_MTLS TOKEN "    issuers:\n      - opaque\n      - opaque2\n" RULES,
              "D/l.yaml:12: listener.authz.issuers: cannot verify tokens of 'opaque' locally: it "
              "has no keys; use remote: true");
  token_error(HEAD TLS_MTLS TOKEN "    remote: false\n    issuers: [opaque2]\n"
                                  "    opaque_issuer: opaque2\n" RULES,
              "D/l.yaml:13: listener.authz.issuers: cannot verify tokens of 'opaque2' locally: "
              "it has no keys; use remote: true");
  /* Every site issuer, none with keys. */
  fx_write("site.yaml", FX_SITE "tokens:\n  issuers:\n"
                                "    - {id: o1, introspection_uri: 'https://o1.example/i'}\n"
                                "    - {id: o2, introspection_uri: 'https://o2.example/i'}\n");
  fx_listener_error(HEAD TLS_MTLS TOKEN RULES,
                    "D/l.yaml:9: listener.authz: cannot verify tokens of 'o1' locally: it has no "
                    "keys; use remote: true");
  /* One issuer with keys is enough. */
  token_ok(HEAD TLS_MTLS TOKEN "    issuers: [opaque, keyed]\n" RULES);
  token_ok(HEAD TLS_MTLS TOKEN RULES);
}

/* Cross checks run once every file is read, after errors inside later files. */
Test(config_remote, cross_checks_come_last) {
  fx_write("z.yaml", "listener:\n  colour: red\n");
  token_error(HEAD TLS_MTLS TOKEN "    remote: true\n    issuers: [keyed]\n" RULES,
              "D/z.yaml:2: listener.colour: unknown key");
}

Test(config_remote, errors_leave_nothing_behind) {
  /* Deep failures after much was built: run under valgrind to see it all freed. */
  fx_write("site.yaml", full_site);
  fx_write("e1.yaml", remote_full);
  fx_write("e3.yaml", local_opaque);
  fx_listener_error(HEAD TLS_MTLS TOKEN
                    "    remote: true\n    remote_cache_s: 9\n"
                    "    opaque_issuer: https://entitlement.example\n"
                    "    issuers: [https://entitlement.example, keys-only]\n" RULES,
                    "D/l.yaml:12: listener.authz.remote: issuer 'keys-only' has no "
                    "introspection_uri (D/site.yaml:19); with remote: true every issuer accepted "
                    "here needs one");
  fx_listener_error(HEAD TLS_MTLS TOKEN "    opaque_issuer: https://entitlement.example\n"
                                        "    remote: true\n    remote_cache_s: 0\n" RULES,
                    "D/l.yaml:14: listener.authz.remote_cache_s: must be between 1 and 3600");
  fx_remove("l.yaml");
  fx_site_error("site:\n  id: s\ntokens:\n"
                "  client: {cert: certs/client.pem, key: certs/client.key}\n  issuers:\n"
                "    - {id: a, jwks_uri: 'https://a.example/j', introspection_uri: 'https://a/i'}\n"
                "    - {id: b, introspection_uri: 'https://b.example/i', jwks_refresh_min_s: 5}\n",
                "D/site.yaml:7: tokens.issuers[1].jwks_refresh_min_s: only allowed with jwks_uri");
  fx_site_error("site:\n  id: s\ntokens:\n  issuers:\n"
                "    - {id: a, jwks_uri: 'https://a.example/j', introspection_uri: 'https://a/i'}\n"
                "  client: {cert: certs/client.pem, key: certs/nope}\n",
                "D/site.yaml:6: tokens.client.key: cannot read 'D/certs/nope': No such file or "
                "directory");
  fx_site_error(
      "site:\n  id: s\ntokens:\n  client: {cert: certs/client.pem, key: certs/client.key}\n"
      "  issuers:\n    - {id: a, jwks_uri: 'https://a.example/j#x'}\n",
      "D/site.yaml:6: tokens.issuers[0].jwks_uri: 'https://a.example/j#x': a fragment "
      "('#') is not allowed");
}
