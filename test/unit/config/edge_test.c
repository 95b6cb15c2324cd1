/* site.yaml "ees" and "eas": a full valid file field by field, the defaults, and every
 * error exactly, including the checks made once the whole file is read (outbound mutual
 * TLS needs ees/eas.client and site.trust.ca). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static void edge_init(void) {
  fx_init();
  fx_write("certs/client.pem", "client cert\n");
  fx_write("certs/client.key", "client key\n");
  fx_write("a.yaml", FX_EDGE4);
}

TestSuite(config_edge, .init = edge_init, .fini = fx_fini);

/* ---- a full valid ees and eas --------------------------------------------------------- */

static const char full_site[] = FX_SITE                           /* 1-5 */
    "ees:\n"                                                      /* 6 */
    "  id: ees1.site1.example\n"                                  /* 7 */
    "  endpoint: https://127.0.0.1:8441/\n"                       /* 8 */
    "  ecs_url: https://ecs1.site1.example:8446/base//\n"         /* 9 */
    "  client: {cert: certs/client.pem, key: certs/client.key}\n" /* 10 */
    "  registration_ttl_s: 60\n"                                  /* 11 */
    "  eec_registration_max_s: 31536000\n"                        /* 12 */
    "  eas_token_scopes: eas-app eas-admin\n"                     /* 13 */
    "  peers:\n"                                                  /* 14 */
    "    - id: ees2.site2.example\n"                              /* 15 */
    "      url: https://127.0.0.1:9449\n"                         /* 16 */
    "    - {id: ees3, url: 'https://[::1]:9450/reloc'}\n"         /* 17 */
    "eas:\n"                                                      /* 18 */
    "  id: eas1.site1.example\n"                                  /* 19 */
    "  endpoint: https://eas1.site1.example:8450\n"               /* 20 */
    "  upstream: '[::1]:8480'\n"                                  /* 21 */
    "  upstream_timeout_ms: 600000\n"                             /* 22 */
    "  identity_header: X-EEC-Identity_1\n"                       /* 23 */
    "  ees_url: https://127.0.0.1:8444\n"                         /* 24 */
    "  client: {cert: certs/client.pem, key: certs/client.key}\n" /* 25 */
    "  registration_ttl_s: 86400\n"                               /* 26 */
    "  provider: demo-provider\n"                                 /* 27 */
    "  type: demo\n";                                             /* 28 */

Test(config_edge, full_ees_and_eas) {
  fx_write("site.yaml", full_site);
  struct egw_site_policy *p = fx_load();
  const struct egw_ees_policy *s = p->ees;
  cr_assert_not_null(s);
  cr_assert_eq(s->line, 6);
  cr_assert_str_eq(s->id, "ees1.site1.example");
  cr_assert_str_eq(s->endpoint_uri, "https://127.0.0.1:8441", "a base URL: no trailing '/'");
  cr_assert_str_eq(s->ecs_url, "https://ecs1.site1.example:8446/base");
  fx_assert_path(s->client_cert, "certs/client.pem");
  fx_assert_path(s->client_key, "certs/client.key");
  cr_assert_eq(s->registration_ttl_s, 60);
  cr_assert_eq(s->eec_registration_max_s, 31536000);
  cr_assert_eq(s->n_eas_token_scopes, 2);
  cr_assert_str_eq(s->eas_token_scopes[0], "eas-app");
  cr_assert_str_eq(s->eas_token_scopes[1], "eas-admin");
  cr_assert_eq(s->n_peers, 2);
  cr_assert_str_eq(s->peers[0].id, "ees2.site2.example");
  cr_assert_str_eq(s->peers[0].url, "https://127.0.0.1:9449");
  cr_assert_eq(s->peers[0].line, 15);
  cr_assert_str_eq(s->peers[1].id, "ees3");
  cr_assert_str_eq(s->peers[1].url, "https://[::1]:9450/reloc");
  cr_assert_eq(s->peers[1].line, 17);

  const struct egw_eas_policy *a = p->eas;
  cr_assert_not_null(a);
  cr_assert_eq(a->line, 18);
  cr_assert_str_eq(a->id, "eas1.site1.example");
  cr_assert_str_eq(a->endpoint_uri, "https://eas1.site1.example:8450");
  cr_assert_str_eq(a->upstream_host, "::1", "without the brackets");
  cr_assert_eq(a->upstream_port, 8480);
  cr_assert_eq(a->upstream_timeout_ms, 600000);
  cr_assert_str_eq(a->identity_header, "x-eec-identity_1", "lower case");
  cr_assert_str_eq(a->ees_url, "https://127.0.0.1:8444");
  fx_assert_path(a->client_cert, "certs/client.pem");
  fx_assert_path(a->client_key, "certs/client.key");
  cr_assert_eq(a->registration_ttl_s, 86400);
  cr_assert_str_eq(a->provider, "demo-provider");
  cr_assert_str_eq(a->type, "demo");
  cr_assert_null(p->ecs);
  egw_site_policy_free(p);
}

/* ---- defaults ------------------------------------------------------------------------- */

#define EES_MIN "ees:\n  id: ees1\n  endpoint: https://127.0.0.1:8441\n"  /* 6-8 */
#define EAS_HEAD "eas:\n  id: eas1\n  endpoint: https://127.0.0.1:8450\n" /* 6-8 */
#define EAS_MIN EAS_HEAD "  upstream: 127.0.0.1:8480\n"                   /* 6-9 */
#define CLIENT "  client: {cert: certs/client.pem, key: certs/client.key}\n"

Test(config_edge, defaults) {
  fx_write("site.yaml", FX_SITE EES_MIN);
  struct egw_site_policy *p = fx_load();
  const struct egw_ees_policy *s = p->ees;
  cr_assert_str_eq(s->endpoint_uri, "https://127.0.0.1:8441");
  cr_assert_null(s->ecs_url);
  cr_assert_null(s->client_cert);
  cr_assert_null(s->client_key);
  cr_assert_eq(s->registration_ttl_s, 3600);
  cr_assert_eq(s->eec_registration_max_s, 86400);
  cr_assert_eq(s->n_eas_token_scopes, 1);
  cr_assert_str_eq(s->eas_token_scopes[0], "eas-app");
  cr_assert_eq(s->n_peers, 0);
  cr_assert_null(s->peers);
  cr_assert_null(p->eas);
  cr_assert_null(p->ecs);
  egw_site_policy_free(p);

  fx_write("site.yaml", FX_SITE "eas:\n  id: eas1\n  endpoint: https://127.0.0.1:8450\n"
                                "  upstream: localhost:8480\n");
  p = fx_load();
  const struct egw_eas_policy *a = p->eas;
  cr_assert_str_eq(a->upstream_host, "127.0.0.1", "localhost, without a resolver");
  cr_assert_eq(a->upstream_port, 8480);
  cr_assert_eq(a->upstream_timeout_ms, 30000);
  cr_assert_str_eq(a->identity_header, "x-eec-id");
  cr_assert_null(a->ees_url);
  cr_assert_null(a->client_cert);
  cr_assert_null(a->client_key);
  cr_assert_eq(a->registration_ttl_s, 3600);
  cr_assert_null(a->provider);
  cr_assert_null(a->type);
  cr_assert_null(p->ees);
  egw_site_policy_free(p);

  fx_write("site.yaml", "site: {id: s}\n");
  p = fx_load();
  cr_assert_null(p->ees);
  cr_assert_null(p->eas);
  egw_site_policy_free(p);
}

/* site.trust.ca may come after the sections that call out over mutual TLS. */
Test(config_edge, site_ca_after_the_sections) {
  fx_write("site.yaml",
           EES_MIN "  ecs_url: https://127.0.0.1:8446\n" CLIENT
                   "eas:\n  id: eas1\n  endpoint: https://127.0.0.1:8450\n"
                   "  upstream: 127.0.0.1:1\n  ees_url: https://127.0.0.1:8444\n" CLIENT
                   "site:\n  id: site1\n  trust: {ca: certs/ca.pem}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_str_eq(p->ees->ecs_url, "https://127.0.0.1:8446");
  cr_assert_str_eq(p->eas->ees_url, "https://127.0.0.1:8444");
  cr_assert_eq(p->eas->upstream_port, 1);
  egw_site_policy_free(p);
}

/* ---- ees errors ----------------------------------------------------------------------- */

static void site_error(const char *lines, const char *expected) {
  char site[4096];
  snprintf(site, sizeof(site), FX_SITE "%s", lines);
  fx_site_error(site, expected);
}

Test(config_edge, ees_shape) {
  site_error("ees: []\n", "D/site.yaml:6: ees: must be a mapping");
  site_error("ees:\n  endpoint: https://127.0.0.1:8441\n",
             "D/site.yaml:7: ees.id: required key 'id' missing");
  site_error("ees:\n  id: ees1\n", "D/site.yaml:7: ees.endpoint: required key 'endpoint' missing");
  site_error(EES_MIN "  url: https://127.0.0.1:8441\n", "D/site.yaml:9: ees.url: unknown key");
  site_error(EES_MIN "  id: ees2\n", "D/site.yaml:9: ees.id: duplicate key");
  site_error("ees:\n  id: ''\n", "D/site.yaml:7: ees.id: must not be empty");
  site_error(EES_MIN "ees: {}\n", "D/site.yaml:9: ees: duplicate key");
}

Test(config_edge, ees_urls) {
  site_error("ees:\n  id: ees1\n  endpoint: http://127.0.0.1:8441\n",
             "D/site.yaml:8: ees.endpoint: 'http://127.0.0.1:8441' must be an https:// URL");
  site_error("ees:\n  id: ees1\n  endpoint: https://127.0.0.1:8441/x?y=1\n",
             "D/site.yaml:8: ees.endpoint: 'https://127.0.0.1:8441/x?y=1': a base URL takes no "
             "query ('?')");
  site_error("ees:\n  id: ees1\n  endpoint: https://127.0.0.1:8441?y\n",
             "D/site.yaml:8: ees.endpoint: 'https://127.0.0.1:8441?y': a base URL takes no query "
             "('?')");
  site_error("ees:\n  id: ees1\n  endpoint: 'https://127.0.0.1:8441/#x'\n",
             "D/site.yaml:8: ees.endpoint: 'https://127.0.0.1:8441/#x': a fragment ('#') is not "
             "allowed");
  site_error("ees:\n  id: ees1\n  endpoint: https://u@127.0.0.1:8441\n",
             "D/site.yaml:8: ees.endpoint: 'https://u@127.0.0.1:8441': user information "
             "(user@host) is not allowed");
  site_error(EES_MIN CLIENT "  ecs_url: https://127.0.0.1:99999\n",
             "D/site.yaml:10: ees.ecs_url: 'https://127.0.0.1:99999': invalid port '99999' "
             "(expected 1..65535)");
  site_error(EES_MIN CLIENT "  ecs_url: https://\n",
             "D/site.yaml:10: ees.ecs_url: 'https://': the host is missing");
}

Test(config_edge, ees_ecs_url_needs_the_client) {
  site_error(EES_MIN "  ecs_url: https://127.0.0.1:8446\n",
             "D/site.yaml:9: ees.ecs_url: needs ees.client (the ECS is called over mutual TLS)");
}

Test(config_edge, ees_ecs_url_needs_the_site_ca) {
  fx_site_error("site:\n  id: site1\n" EES_MIN CLIENT "  ecs_url: https://127.0.0.1:8446\n",
                "D/site.yaml:7: ees.ecs_url: needs site.trust.ca (the CA certificates that verify "
                "the ECS)");
}

Test(config_edge, ees_client) {
  site_error(EES_MIN "  client: {key: certs/client.key}\n",
             "D/site.yaml:9: ees.client.cert: required key 'cert' missing");
  site_error(EES_MIN "  client: {cert: certs/client.pem, key: certs/none.key}\n",
             "D/site.yaml:9: ees.client.key: cannot read 'D/certs/none.key': No such file or "
             "directory");
}

Test(config_edge, ees_ranges) {
  site_error(EES_MIN "  registration_ttl_s: 59\n",
             "D/site.yaml:9: ees.registration_ttl_s: must be between 60 and 86400");
  site_error(EES_MIN "  registration_ttl_s: 86401\n",
             "D/site.yaml:9: ees.registration_ttl_s: must be between 60 and 86400");
  site_error(EES_MIN "  eec_registration_max_s: 59\n",
             "D/site.yaml:9: ees.eec_registration_max_s: must be between 60 and 31536000");
  site_error(EES_MIN "  eec_registration_max_s: 31536001\n",
             "D/site.yaml:9: ees.eec_registration_max_s: must be between 60 and 31536000");
  site_error(EES_MIN "  eec_registration_max_s: 1d\n",
             "D/site.yaml:9: ees.eec_registration_max_s: must be an integer");
}

Test(config_edge, ees_eas_token_scopes) {
  site_error(EES_MIN "  eas_token_scopes: []\n",
             "D/site.yaml:9: ees.eas_token_scopes: must not be empty");
  site_error(EES_MIN "  eas_token_scopes: ['a\"b']\n",
             "D/site.yaml:9: ees.eas_token_scopes: invalid scope 'a\"b': printable ASCII only, "
             "without spaces, '\"' or '\\'");
}

#define PEERS EES_MIN CLIENT "  peers:\n" /* 6-10 */

Test(config_edge, ees_peers) {
  site_error(PEERS "    - id: ees2\n",
             "D/site.yaml:11: ees.peers[0].url: required key 'url' missing");
  site_error(PEERS "    - url: https://127.0.0.1:9449\n",
             "D/site.yaml:11: ees.peers[0].id: required key 'id' missing");
  site_error(PEERS "    - {id: ees2, url: 'http://127.0.0.1:9449'}\n",
             "D/site.yaml:11: ees.peers[0].url: 'http://127.0.0.1:9449' must be an https:// URL");
  site_error(PEERS "    - {id: ees2, url: 'https://127.0.0.1:9449', token_url: x}\n",
             "D/site.yaml:11: ees.peers[0].token_url: unknown key");
  site_error(EES_MIN CLIENT "  peers: []\n", "D/site.yaml:10: ees.peers: must not be empty");
  site_error(PEERS "    - {id: ees2, url: 'https://127.0.0.1:9449'}\n"
                   "    - {id: ees3, url: 'https://127.0.0.1:9450'}\n"
                   "    - url: https://127.0.0.1:9451\n"
                   "      id: ees2\n",
             "D/site.yaml:14: ees.peers[2].id: 'ees2' is already used by ees.peers[0] (line 11)");
  site_error(PEERS "    - {id: ees1, url: 'https://127.0.0.1:9449'}\n",
             "D/site.yaml:11: ees.peers[0].id: 'ees1' is this EES (ees.id, line 7)");
}

Test(config_edge, ees_peers_need_the_client) {
  site_error(EES_MIN "  peers: [{id: ees2, url: 'https://127.0.0.1:9449'}]\n",
             "D/site.yaml:9: ees.peers: needs ees.client (peer EESes are called over mutual TLS)");
}

Test(config_edge, ees_peers_need_the_site_ca) {
  fx_site_error("site:\n  id: site1\n" EES_MIN CLIENT
                "  peers: [{id: ees2, url: 'https://127.0.0.1:9449'}]\n",
                "D/site.yaml:7: ees.peers: needs site.trust.ca (the CA certificates that verify "
                "the peer EESes)");
}

/* ---- eas errors ----------------------------------------------------------------------- */

Test(config_edge, eas_shape) {
  site_error("eas: x\n", "D/site.yaml:6: eas: must be a mapping");
  site_error("eas:\n  endpoint: https://127.0.0.1:8450\n  upstream: 127.0.0.1:8480\n",
             "D/site.yaml:7: eas.id: required key 'id' missing");
  site_error("eas:\n  id: eas1\n  upstream: 127.0.0.1:8480\n",
             "D/site.yaml:7: eas.endpoint: required key 'endpoint' missing");
  site_error(EAS_HEAD, "D/site.yaml:7: eas.upstream: required key 'upstream' missing");
  site_error(EAS_MIN "  upstream_url: x\n", "D/site.yaml:10: eas.upstream_url: unknown key");
  site_error("eas:\n  id: eas1\n  endpoint: https://127.0.0.1:8450/p?q\n",
             "D/site.yaml:8: eas.endpoint: 'https://127.0.0.1:8450/p?q': a base URL takes no "
             "query ('?')");
  site_error(EAS_MIN "  provider: ''\n", "D/site.yaml:10: eas.provider: must not be empty");
  site_error(EAS_MIN "  type: [demo]\n", "D/site.yaml:10: eas.type: must be a string");
}

static void upstream_error(const char *value, const char *message) {
  char site[1024], expected[1024];
  snprintf(site, sizeof(site), FX_SITE EAS_HEAD "  upstream: %s\n", value);
  snprintf(expected, sizeof(expected), "D/site.yaml:9: eas.upstream: %s", message);
  fx_site_error(site, expected);
}

Test(config_edge, eas_upstream) {
  upstream_error("http://127.0.0.1:8480",
                 "'http://127.0.0.1:8480' must be host:port without a scheme (the upstream is "
                 "plain HTTP)");
  upstream_error("127.0.0.1", "'127.0.0.1' must be IPv4:port, [IPv6]:port or localhost:port");
  upstream_error("'::1:8480'", "'::1:8480': an IPv6 address goes in brackets, as [::1]:port");
  upstream_error("'[::1]'", "'[::1]' must be [IPv6]:port");
  upstream_error("'[::1]8480'", "'[::1]8480' must be [IPv6]:port");
  upstream_error("app.example:8480",
                 "'app.example:8480': 'app.example' is not an IPv4 address literal or localhost");
  upstream_error("'[127.0.0.1]:8480'",
                 "'[127.0.0.1]:8480': '127.0.0.1' is not an IPv6 address literal");
  upstream_error("'[localhost]:8480'",
                 "'[localhost]:8480': 'localhost' is not an IPv6 address literal");
  upstream_error("':8480'", "':8480': host must be an IP address literal or localhost");
  upstream_error("127.0.0.1:0", "'127.0.0.1:0': port must be between 1 and 65535");
  upstream_error("127.0.0.1:65536", "'127.0.0.1:65536': port must be between 1 and 65535");
  upstream_error("'127.0.0.1:'", "'127.0.0.1:': port must be a number");
  upstream_error("127.0.0.1:http", "'127.0.0.1:http': port must be a number");
  upstream_error("[127.0.0.1:8480]", "must be a string");
}

Test(config_edge, eas_upstream_timeout) {
  site_error(EAS_MIN "  upstream_timeout_ms: 99\n",
             "D/site.yaml:10: eas.upstream_timeout_ms: must be between 100 and 600000");
  site_error(EAS_MIN "  upstream_timeout_ms: 600001\n",
             "D/site.yaml:10: eas.upstream_timeout_ms: must be between 100 and 600000");
}

static void header_error(const char *value, const char *message) {
  char site[1024], expected[1024];
  snprintf(site, sizeof(site), FX_SITE EAS_MIN "  identity_header: %s\n", value);
  snprintf(expected, sizeof(expected), "D/site.yaml:10: eas.identity_header: %s", message);
  fx_site_error(site, expected);
}

Test(config_edge, eas_identity_header) {
  header_error("x eec", "'x eec' is not an HTTP header name (letters, digits and "
                        "!#$%&'*+-.^_`|~)");
  header_error("'x-eec:'", "'x-eec:' is not an HTTP header name (letters, digits and "
                           "!#$%&'*+-.^_`|~)");
  header_error("''", "must not be empty");
  static const char *const reserved[] = {
      "Host",         "content-length",  "Transfer-Encoding",
      "connection",   "Authorization",   "upgrade",
      "TE",           "keep-alive",      "proxy-authorization",
      "Content-Type", "X-Forwarded-For", "x-forwarded-proto",
  };
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
    char lower[64], message[256];
    size_t k = 0;
    for (; reserved[i][k]; k++)
      lower[k] =
          (char)(reserved[i][k] | (reserved[i][k] >= 'A' && reserved[i][k] <= 'Z' ? 0x20 : 0));
    lower[k] = '\0';
    snprintf(message, sizeof(message),
             "'%s' is handled by the proxy itself (hop-by-hop, framing or credentials); use a "
             "header of your own such as x-eec-id",
             lower);
    header_error(reserved[i], message);
  }
}

Test(config_edge, eas_ees_url) {
  site_error(EAS_MIN "  ees_url: https://127.0.0.1:8444\n",
             "D/site.yaml:10: eas.ees_url: needs eas.client (the EES is called over mutual TLS)");
  site_error(EAS_MIN CLIENT "  ees_url: ftp://127.0.0.1:8444\n",
             "D/site.yaml:11: eas.ees_url: 'ftp://127.0.0.1:8444' must be an https:// URL");
  fx_site_error("site:\n  id: site1\n" EAS_MIN CLIENT "  ees_url: https://127.0.0.1:8444\n",
                "D/site.yaml:8: eas.ees_url: needs site.trust.ca (the CA certificates that verify "
                "the EES)");
}

Test(config_edge, eas_client_and_ttl) {
  site_error(EAS_MIN "  client: {cert: certs/client.pem}\n",
             "D/site.yaml:10: eas.client.key: required key 'key' missing");
  site_error(EAS_MIN "  registration_ttl_s: 59\n",
             "D/site.yaml:10: eas.registration_ttl_s: must be between 60 and 86400");
  site_error(EAS_MIN "  registration_ttl_s: 86401\n",
             "D/site.yaml:10: eas.registration_ttl_s: must be between 60 and 86400");
}
