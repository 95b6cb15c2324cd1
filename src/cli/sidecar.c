/* edgegw sidecar: one EAS in front of one application, configured from flags or the
 * environment alone (a container next to the application), with no policy directory.
 * The site policy is built here in memory, exactly as the files would describe it: one
 * listener "sidecar" (role eas, server-certificate TLS, token authorization of every
 * path with the given audience and scopes) mounting the eas module, and one trusted
 * issuer. Then the normal server runs it; SIGTERM drains within --drain-s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "auth/jwt.h"
#include "cli/cli.h"
#include "config/policy.h"
#include "core/server.h"
#include "core/site.h"
#include "util/log.h"

static void usage(FILE *out) {
  fputs("usage: edgegw sidecar --listen ADDR:PORT --upstream ADDR:PORT\n"
        "                      (--issuer-cert FILE [--issuer-kid KID] | --issuer-jwks URL --ca "
        "FILE)\n"
        "                      --issuer ISS --aud ID [--scope \"S ...\"]\n"
        "                      --tls-cert FILE --tls-key FILE [--drain-s N] [--admin ADDR:PORT]\n"
        "  An EAS in front of one application: checks the access token of every request\n"
        "  (issuer ISS, audience ID, the scopes given) and proxies it to the application\n"
        "  (plain HTTP on this host). Every option may come from the environment instead:\n"
        "  EDGEGW_SIDECAR_LISTEN, _UPSTREAM, _ISSUER_CERT, _ISSUER_KID, _ISSUER_JWKS, _CA,\n"
        "  _ISSUER, _AUD, _SCOPE, _TLS_CERT, _TLS_KEY, _DRAIN_S, _ADMIN (a flag wins over its\n"
        "  variable). --admin adds a listener serving /metrics, /healthz and /readyz (same\n"
        "  certificate, no authorization: keep it on loopback or a pod-internal address).\n"
        "  ADDR is an IPv4 address, [IPv6] or localhost. TLS is required: listeners have no\n"
        "  plain HTTP mode. --drain-s (default 10, 1..600): on SIGTERM, how long requests in\n"
        "  flight may take; new connections are refused meanwhile.\n",
        out);
}

enum opt {
  O_LISTEN,
  O_UPSTREAM,
  O_ISSUER_CERT,
  O_ISSUER_KID,
  O_ISSUER_JWKS,
  O_CA,
  O_ISSUER,
  O_AUD,
  O_SCOPE,
  O_TLS_CERT,
  O_TLS_KEY,
  O_DRAIN_S,
  O_ADMIN,
  N_OPTS,
};

static const struct {
  const char *flag, *env;
} opts[N_OPTS] = {
    [O_LISTEN] = {"--listen", "EDGEGW_SIDECAR_LISTEN"},
    [O_UPSTREAM] = {"--upstream", "EDGEGW_SIDECAR_UPSTREAM"},
    [O_ISSUER_CERT] = {"--issuer-cert", "EDGEGW_SIDECAR_ISSUER_CERT"},
    [O_ISSUER_KID] = {"--issuer-kid", "EDGEGW_SIDECAR_ISSUER_KID"},
    [O_ISSUER_JWKS] = {"--issuer-jwks", "EDGEGW_SIDECAR_ISSUER_JWKS"},
    [O_CA] = {"--ca", "EDGEGW_SIDECAR_CA"},
    [O_ISSUER] = {"--issuer", "EDGEGW_SIDECAR_ISSUER"},
    [O_AUD] = {"--aud", "EDGEGW_SIDECAR_AUD"},
    [O_SCOPE] = {"--scope", "EDGEGW_SIDECAR_SCOPE"},
    [O_TLS_CERT] = {"--tls-cert", "EDGEGW_SIDECAR_TLS_CERT"},
    [O_TLS_KEY] = {"--tls-key", "EDGEGW_SIDECAR_TLS_KEY"},
    [O_DRAIN_S] = {"--drain-s", "EDGEGW_SIDECAR_DRAIN_S"},
    [O_ADMIN] = {"--admin", "EDGEGW_SIDECAR_ADMIN"},
};

static int fail(const char *fmt, const char *arg) {
  fputs("edgegw sidecar: ", stderr);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  return 2;
}

/* Reads "IPv4:port", "[IPv6]:port" or "localhost:port" (address literals only, so that
 * nothing waits on a resolver). */
static int host_port(const char *what, const char *v, char **out_host, uint16_t *out_port) {
  char host[64];
  const char *colon = strrchr(v, ':');
  const char *h = v;
  size_t hl = colon ? (size_t)(colon - v) : 0;
  if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
    h = v + 1;
    hl -= 2;
  }
  if (colon == NULL || hl == 0 || hl >= sizeof(host))
    return fail("%s: expected ADDR:PORT", what);
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (strcmp(host, "localhost") == 0)
    strcpy(host, "127.0.0.1");
  unsigned char addr[16];
  if (uv_inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, addr) != 0)
    return fail("%s: the address must be an IPv4 address, [IPv6] or localhost", what);
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || colon[1] == '\0' || port < 1 || port > 65535)
    return fail("%s: the port must be 1..65535", what);
  *out_host = strdup(host);
  *out_port = (uint16_t)port;
  return *out_host ? 0 : fail("%s: out of memory", what);
}

/* Splits a space-separated scope string into a vector. */
static int split_scopes(const char *s, char ***out, size_t *out_n) {
  size_t n = 0;
  char **v = calloc(strlen(s) / 2 + 2, sizeof(char *));
  if (v == NULL)
    return -1;
  for (const char *p = s; *p;) {
    while (*p == ' ')
      p++;
    size_t len = strcspn(p, " ");
    if (len == 0)
      break;
    if ((v[n] = strndup(p, len)) == NULL)
      return *out = v, *out_n = n, -1;
    n++;
    p += len;
  }
  *out = v;
  *out_n = n;
  return 0;
}

/* The optional admin listener (--admin): /metrics, /healthz, /readyz for the container's
 * probes, with the sidecar's certificate and no authorization (bind it to loopback or a
 * pod-internal address). |p->listeners| has room for it. */
static int add_admin(struct egw_site_policy *p, const char *const *o) {
  struct egw_listener_policy *lp = &p->listeners[1];
  p->n_listeners = 2;
  lp->file = strdup("sidecar");
  lp->interface_name = strdup("admin");
  lp->role = strdup("admin");
  lp->mount = calloc(1, sizeof(char *));
  lp->n_mount = lp->mount ? 1 : 0;
  lp->tls.mode = EGW_TLS_SERVER_CERT;
  lp->tls.cert_file = strdup(o[O_TLS_CERT]);
  lp->tls.key_file = strdup(o[O_TLS_KEY]);
  lp->authz.mode = EGW_AUTHZ_NONE;
  lp->limits = p->listeners[0].limits;
  lp->limits.max_connections = 64;
  if (lp->mount == NULL || (lp->mount[0] = strdup("admin")) == NULL || lp->file == NULL ||
      lp->interface_name == NULL || lp->role == NULL || lp->tls.cert_file == NULL ||
      lp->tls.key_file == NULL)
    return fail("%s", "out of memory");
  return host_port("--admin", o[O_ADMIN], &lp->listen_host, &lp->listen_port);
}

/* Builds the site policy from |o|. Returns NULL after printing why. */
static struct egw_site_policy *build(const char *const *o, long drain_s) {
  struct egw_site_policy *p = calloc(1, sizeof(*p));
  struct egw_listener_policy *lp = p ? calloc(2, sizeof(*lp)) : NULL;
  struct egw_issuer_policy *ip = lp ? calloc(1, sizeof(*ip)) : NULL;
  struct egw_eas_policy *eas = ip ? calloc(1, sizeof(*eas)) : NULL;
  struct egw_allow_rule *rule = eas ? calloc(1, sizeof(*rule)) : NULL;
  if (rule == NULL) {
    free(p), free(lp), free(ip), free(eas);
    fail("%s", "out of memory");
    return NULL;
  }
  p->listeners = lp;
  p->n_listeners = 1;
  p->issuers = ip;
  p->n_issuers = 1;
  p->eas = eas;
  lp->authz.rules = rule;
  lp->authz.n_rules = 1;
  int bad = 0;
  p->dir = strdup(".");
  p->site_file = strdup("sidecar");
  p->site_id = strdup("sidecar");
  p->drain_timeout_ms = (uint32_t)drain_s * 1000;
  p->token_cache_entries = 100000;
  p->token_negative_ttl_ms = 5000;
  if (o[O_CA]) {
    p->ca_files = calloc(1, sizeof(char *));
    p->n_ca_files = p->ca_files ? 1 : 0;
    bad |= p->ca_files == NULL || (p->ca_files[0] = strdup(o[O_CA])) == NULL;
  }
  ip->id = strdup(o[O_ISSUER]);
  if (o[O_ISSUER_CERT]) {
    ip->keys = calloc(1, sizeof(*ip->keys));
    ip->n_keys = ip->keys ? 1 : 0;
    bad |= ip->keys == NULL || (ip->keys[0].file = strdup(o[O_ISSUER_CERT])) == NULL ||
           (o[O_ISSUER_KID] && (ip->keys[0].kid = strdup(o[O_ISSUER_KID])) == NULL);
  } else {
    ip->jwks_uri = strdup(o[O_ISSUER_JWKS]);
    ip->jwks_refresh_min_s = 30;
  }
  lp->file = strdup("sidecar");
  lp->interface_name = strdup("sidecar");
  lp->role = strdup("eas");
  lp->mount = calloc(1, sizeof(char *));
  lp->n_mount = lp->mount ? 1 : 0;
  bad |= lp->mount == NULL || (lp->mount[0] = strdup("eas")) == NULL;
  lp->tls.mode = EGW_TLS_SERVER_CERT;
  lp->tls.cert_file = strdup(o[O_TLS_CERT]);
  lp->tls.key_file = strdup(o[O_TLS_KEY]);
  lp->authz.mode = EGW_AUTHZ_TOKEN;
  lp->authz.token.audience = strdup(o[O_AUD]);
  lp->authz.token.algs = EGW_JWS_ES256;
  lp->authz.token.leeway_s = 30;
  rule->path_prefix = strdup("/");
  if (o[O_SCOPE])
    bad |= split_scopes(o[O_SCOPE], &rule->scopes, &rule->n_scopes) != 0;
  lp->limits = (struct egw_limits){
      .max_connections = 10000,
      .header_bytes = 16384,
      .body_bytes = 1048576,
      .header_timeout_ms = 10000,
      .idle_timeout_ms = 60000,
      .requests_per_connection = 1000,
  };
  eas->id = strdup(o[O_AUD]);
  eas->upstream_timeout_ms = 30000;
  eas->registration_ttl_s = 3600;
  bad |= p->dir == NULL || p->site_file == NULL || p->site_id == NULL || ip->id == NULL ||
         (o[O_ISSUER_JWKS] && ip->jwks_uri == NULL) || lp->file == NULL ||
         lp->interface_name == NULL || lp->role == NULL || lp->tls.cert_file == NULL ||
         lp->tls.key_file == NULL || lp->authz.token.audience == NULL ||
         rule->path_prefix == NULL || eas->id == NULL;
  if (!bad &&
      (host_port("--listen", o[O_LISTEN], &lp->listen_host, &lp->listen_port) != 0 ||
       host_port("--upstream", o[O_UPSTREAM], &eas->upstream_host, &eas->upstream_port) != 0)) {
    egw_site_policy_free(p);
    return NULL;
  }
  if (bad) {
    egw_site_policy_free(p);
    fail("%s", "out of memory");
    return NULL;
  }
  char endpoint[96];
  snprintf(endpoint, sizeof(endpoint),
           strchr(lp->listen_host, ':') ? "https://[%s]:%u" : "https://%s:%u", lp->listen_host,
           lp->listen_port);
  eas->endpoint_uri = strdup(endpoint);
  if (o[O_ADMIN] && add_admin(p, o) != 0) {
    egw_site_policy_free(p);
    return NULL;
  }
  return p;
}

/* Checks the combination of options; returns 0 or prints why and returns 2. */
static int check(const char *const *o, long *out_drain_s) {
  static const enum opt required[] = {O_LISTEN, O_UPSTREAM, O_ISSUER, O_AUD};
  for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
    if (o[required[i]] == NULL || o[required[i]][0] == '\0')
      return fail("%s is required (or its environment variable)", opts[required[i]].flag);
  }
  if (!o[O_TLS_CERT] || !o[O_TLS_KEY])
    return fail("%s", "--tls-cert and --tls-key are required: edgegw listeners speak TLS only "
                      "(there is no plain HTTP listener)");
  if (!!o[O_ISSUER_CERT] == !!o[O_ISSUER_JWKS])
    return fail("%s", "give exactly one of --issuer-cert and --issuer-jwks");
  if (o[O_ISSUER_JWKS] && strncmp(o[O_ISSUER_JWKS], "https://", 8) != 0)
    return fail("--issuer-jwks: '%s' is not an https:// URL", o[O_ISSUER_JWKS]);
  if (o[O_ISSUER_JWKS] && !o[O_CA])
    return fail("%s", "--issuer-jwks needs --ca (the CA that the JWKS server's certificate "
                      "chains to)");
  if (o[O_ISSUER_KID] && !o[O_ISSUER_CERT])
    return fail("%s", "--issuer-kid goes with --issuer-cert");
  *out_drain_s = 10;
  if (o[O_DRAIN_S]) {
    char *end;
    *out_drain_s = strtol(o[O_DRAIN_S], &end, 10);
    if (*end || o[O_DRAIN_S][0] == '\0' || *out_drain_s < 1 || *out_drain_s > 600)
      return fail("--drain-s: '%s' is not a number of seconds in 1..600", o[O_DRAIN_S]);
  }
  return 0;
}

int egw_cli_sidecar(int argc, char **argv) {
  const char *o[N_OPTS];
  for (int i = 0; i < N_OPTS; i++) {
    o[i] = getenv(opts[i].env);
    if (o[i] && o[i][0] == '\0')
      o[i] = NULL;
  }
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    int k = 0;
    while (k < N_OPTS && strcmp(argv[i], opts[k].flag) != 0)
      k++;
    if (k == N_OPTS || i + 1 >= argc) {
      fprintf(stderr, "edgegw sidecar: %s '%s'\n",
              k == N_OPTS ? "unknown argument" : "no value for", argv[i]);
      usage(stderr);
      return 2;
    }
    o[k] = argv[++i];
  }
  long drain_s;
  if (check(o, &drain_s) != 0)
    return 2;
  struct egw_site_policy *policy = build(o, drain_s);
  if (policy == NULL)
    return 2;
  char *err = NULL;
  struct egw_site *site = egw_site_new(policy, &err);
  if (site == NULL) {
    fprintf(stderr, "edgegw sidecar: %s\n", err ? err : "cannot build the site");
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_ERROR, "policy_error");
    egw_log_str(&rec, "error", err);
    egw_log_end(&rec);
    free(err);
    return 2;
  }
  int rc = egw_server_run(site);
  egw_site_unref(site);
  return rc;
}
