/* Policy files parsed into plain structs. A policy directory holds one site file
 * (site.yaml) and one file per interface (any other *.yaml / *.yml). Every error names
 * the file, the line and the dotted key: "policies/edge1.yaml:7: listener.tls.mode: unknown
 * mode 'x' (expected server-cert, mtls, psk)". policies/README.md documents the format. */
#ifndef EGW_CONFIG_POLICY_H
#define EGW_CONFIG_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum egw_tls_mode { EGW_TLS_SERVER_CERT, EGW_TLS_MTLS, EGW_TLS_PSK };
enum egw_authz_mode { EGW_AUTHZ_NONE, EGW_AUTHZ_STATIC, EGW_AUTHZ_TOKEN };

/* egw_tls_mode_name: "server-cert", "mtls", "psk". egw_authz_mode_name: "none",
 * "static", "token". */
const char *egw_tls_mode_name(enum egw_tls_mode mode);
const char *egw_authz_mode_name(enum egw_authz_mode mode);

/* Per-listener limits; the parser fills the defaults below for absent keys. */
struct egw_limits {
  uint32_t max_connections;         /* default 10000 */
  uint32_t header_bytes;            /* default 16384; over it: 431 */
  uint64_t body_bytes;              /* default 1048576; over it: 413 */
  uint32_t header_timeout_ms;       /* default 10000; headers not complete: 408 */
  uint32_t idle_timeout_ms;         /* default 60000; keep-alive idle: close */
  uint32_t requests_per_connection; /* default 1000; then Connection: close */
};

struct egw_tls_policy {
  enum egw_tls_mode mode;
  /* Server certificate chain and key (PEM). Required for server-cert and mtls,
   * optional for psk. Paths are resolved against the policy file's directory. */
  char *cert_file;
  char *key_file;
  /* psk: identity hint sent by the server (may be NULL) and the static PSK file
   * (lines "<identity> <hex key>", '#' comments). */
  char *psk_identity_hint;
  char *psk_file;
  /* psk_source: keystore: no psk_file; the listener sees only the site-wide keys that
   * key providers put in the key store (Kedge from the AUSF). */
  int psk_keystore_only;
  /* Optional TLS 1.2 cipher list override (OpenSSL syntax); NULL for the mode's
   * default. TLS 1.3 suites are always BoringSSL's AEAD set. */
  char *ciphers;
  /* mtls: check client certificates against the site's CRLs. */
  int crl_check;
  int line; /* line of the tls key */
};

/* egw_allow_rule: requests whose path starts with |path_prefix| (and whose method is in
 * |methods|, 0 meaning any) are allowed when the peer identity matches one of
 * |patterns| (static) or carry a valid token with |scopes| (token), or always when
 * |allow_any| is set. In token mode |patterns| is always empty; with |allow_any|,
 * |scopes| is empty. */
struct egw_allow_rule {
  char *path_prefix;
  unsigned methods;
  int allow_any;
  char **patterns; /* static: see auth/allowlist.h for the syntax */
  size_t n_patterns;
  /* token: scopes the token must carry on this route ("scope:", a list or one
   * space-separated string); none listed means any valid token. */
  char **scopes;
  size_t n_scopes;
  int line;
};

/* authz: token (TS 33.501 13.4.1). Keys: audience, algs, leeway_s, sub_is_peer, issuers,
 * rules (path, methods, scope, or allow: any for routes that need no token). */
struct egw_token_authz_policy {
  char *audience;    /* required: this server's id, compared with "aud" */
  unsigned algs;     /* bits of enum egw_jws_alg (auth/jwt.h); default ES256 only */
  uint32_t leeway_s; /* exp/nbf leeway, 0..300; default 30 */
  /* sub must equal the TLS peer identity (certificate or PSK identity). Default true on
   * mtls and psk listeners; refused on server-cert listeners (no peer identity). */
  int sub_is_peer;
  char **issuers; /* ids of site issuers trusted here; none listed: every site issuer */
  size_t n_issuers;
  /* remote: ask the issuer's introspection endpoint instead of verifying locally; the
   * answer is cached until the token's exp, at most remote_cache_s (default 60,
   * 1..3600; 0 when remote is false). Every accepted issuer needs an introspection_uri. */
  int remote;
  uint32_t remote_cache_s;
  /* opaque_issuer: the issuer (with an introspection_uri) that non-JWT tokens are sent
   * to (entitlement tokens, TR 33.739 solution 25); NULL: opaque tokens are refused. It
   * must be one of |issuers| when those are listed. */
  char *opaque_issuer;
};

struct egw_authz_policy {
  enum egw_authz_mode mode;
  struct egw_allow_rule *rules; /* static, token: first rule whose prefix and method match */
  size_t n_rules;
  struct egw_token_authz_policy token; /* mode token only */
  int line;                            /* line of the authz key */
};

/* audit: where the authorization decisions of a listener go (site.audit is the default
 * of every listener; listener.audit overrides it). EGW_AUDIT_LOG (the default): the
 * process log, event "authz"; EGW_AUDIT_FILE: one JSON line per decision appended to
 * |file| (opened once, written in batches off the loop); stderr likewise; off: nothing. */
enum egw_audit_stream { EGW_AUDIT_LOG = 0, EGW_AUDIT_STDERR, EGW_AUDIT_OFF, EGW_AUDIT_FILE };
struct egw_audit_policy {
  enum egw_audit_stream stream;
  char *file; /* EGW_AUDIT_FILE only: resolved against the policy directory */
  int line;   /* line of the audit key; 0 when the file does not set it */
};

struct egw_listener_policy {
  char *file;           /* the policy file this listener came from */
  int line;             /* line of the listener's first key */
  char *interface_name; /* "EDGE-1", "EDGE-6", "app", "admin", ... */
  char *role;           /* "ecs", "ees", "eas", "admin", "sim" */
  char *listen_host;    /* "127.0.0.1", "::1" */
  uint16_t listen_port;
  char **mount; /* role modules mounted on this listener, in order */
  size_t n_mount;
  int mount_line; /* line of the mount key, for errors found later (unknown module) */
  struct egw_tls_policy tls;
  struct egw_authz_policy authz;
  struct egw_limits limits;
  struct egw_audit_policy audit; /* line 0: the site's applies */
};

/* A token issuer trusted by the site (site.yaml "tokens.issuers"). At most one source
 * of verification keys: the local ECS's own signing keys, PEM files (public keys or
 * certificates; kid = the file's "kid:" entry or the RFC 7638 thumbprint), a JWKS
 * document on disk or one fetched from jwks_uri. None only with an introspection_uri. */
struct egw_issuer_policy {
  char *id; /* the "iss" value */
  int local;
  struct egw_key_file_policy *keys;
  size_t n_keys;
  char *jwks_file;
  /* jwks_uri: the issuer's JWKS fetched over HTTPS (verified against the site's trust
   * store) at start and again, at most every jwks_refresh_min_s, when a token names a
   * kid it does not know. A fourth key source, exclusive with the others. */
  char *jwks_uri;
  uint32_t jwks_refresh_min_s; /* default 30, 1..3600; 0 without jwks_uri */
  /* introspection_uri: the issuer's RFC 7662 endpoint, for listeners in remote mode and
   * for opaque (non-JWT) tokens. May stand alone (an issuer of opaque tokens only).
   * Both URLs are https://host[:port]/path, as given in the file. */
  char *introspection_uri;
  int line;
};

/* egw_issuer_policy_is_remote says whether the gateway calls |ip| over HTTPS (its JWKS
 * or its introspection endpoint). */
int egw_issuer_policy_is_remote(const struct egw_issuer_policy *ip);

/* A key file with an optional kid: signing keys of the ECS, verification keys of an
 * issuer. */
struct egw_key_file_policy {
  char *kid; /* NULL: the RFC 7638 thumbprint */
  char *file;
  int line;
};

/* Which authenticated client may get which tokens (site.yaml "ecs.clients"): the first
 * entry whose pattern matches the client's TLS peer identity decides. */
struct egw_token_client_policy {
  char *pattern; /* auth/allowlist.h syntax */
  char **scopes; /* scopes it may ask for */
  size_t n_scopes;
  char **audiences; /* targetNfInstanceId values it may ask for; allow_any_audience for all
                     * (the file must say one or the other) */
  size_t n_audiences;
  int allow_any_audience;
  /* token_ttl_s overrides ecs.token_ttl_s for this client (0: not set; 1..86400). */
  uint32_t token_ttl_s;
  /* may_name_eec: the client may ask for tokens that carry an "eecId" claim (an EES
   * asking for an EAS token on behalf of an EEC, or for EDGE-9 with an EEC context). */
  int may_name_eec;
  int line;
};

/* ecs.ees_auth[]: the eesAuthMethods (TS 24.558 EESInfo) that EDGE-4 provisioning
 * announces for the EESes whose eesId matches |ees| (an exact id or "*" for every EES);
 * the first matching entry wins; without one, [TLS_CLIENT_SERVER_CERTIFICATE]. */
struct egw_ees_auth_policy {
  char *ees;
  char **methods; /* "TLS_CLIENT_SERVER_CERTIFICATE", "TLS_WITH_AKMA", "TLS_WITH_GBA",
                   * "SERVER_SIDE_CERTIFICATE_BASED" */
  size_t n_methods;
  int line;
};

/* ecs.peers[]: another ECS (multi-ECS, TR 33.739 solution 27). Token requests for a
 * target EES that |ees_ids| lists (or that this ECS learned the peer holds) are
 * forwarded to |token_url| over mutual TLS with ecs.client_cert; token requests the
 * peer forwards here are accepted when its TLS identity matches |identity|. */
struct egw_ecs_peer_policy {
  char *id;        /* the peer's ECS id */
  char *token_url; /* https://host:port/oauth2/token */
  char *identity;  /* allow-list pattern of the peer's client certificate identity */
  char **ees_ids;  /* EESes registered at that peer, as far as policy knows */
  size_t n_ees_ids;
  int line;
};

/* The site's ECS as OAuth 2.0 authorization server (site.yaml "ecs"). */
struct egw_ecs_policy {
  char *id;                                 /* "iss" of the tokens it issues */
  struct egw_key_file_policy *signing_keys; /* the first signs, the others only verify */
  size_t n_signing_keys;
  uint32_t token_ttl_s; /* default 3600, 60..86400 */
  struct egw_token_client_policy *clients;
  size_t n_clients;
  /* EDGE-4 provisioning (ecs.provisioning): lifeTime of the EDN configuration and of
   * the EDGE-1 tokens it hands out (default 3600, 60..86400), and their scope (default
   * "eees-eecregistration eees-easdiscovery"). */
  uint32_t provisioning_lifetime_s;
  char **eec_scopes;
  size_t n_eec_scopes;
  struct egw_ees_auth_policy *ees_auth;
  size_t n_ees_auth;
  /* EDGE-6: the longest registration an EES may ask for (expTime; default 86400,
   * 60..31536000) and the CA certificates (PEM files) returned to a registering EES so
   * that it can verify EEC client certificates; default: site.trust.ca. */
  uint32_t registration_max_s;
  char **eec_ca_files;
  size_t n_eec_ca_files;
  /* Multi-ECS: the peers and the certificate this ECS presents to them (and to
   * notification targets); both or neither. max_hops bounds forwarding (default 3,
   * 1..8). */
  struct egw_ecs_peer_policy *peers;
  size_t n_peers;
  char *client_cert;
  char *client_key;
  uint32_t max_hops;
  /* ecs.ausf: where the ECS fetches Kedge (sim_policy.c); NULL when absent. */
  struct egw_ecs_ausf_policy *ausf;
  int line;
};

/* ees.peers[]: another EES for EDGE-9. */
struct egw_ees_peer_policy {
  char *id;
  char *url; /* https://host:port, the peer's EDGE-9 listener */
  int line;
};

/* The site's EES (site.yaml "ees"). */
struct egw_ees_policy {
  char *id;           /* eesId; the aud of EDGE-1 and EDGE-9 tokens */
  char *endpoint_uri; /* EESProfile endPt.uri, the EDGE-1 base: https://host:port */
  /* The ECS this EES registers with over EDGE-6 and gets tokens from: its base URL
   * (https://host:port; the APIs and /oauth2/token are under it); NULL: no ECS (no
   * registration, no EAS tokens). */
  char *ecs_url;
  char *client_cert; /* presented to the ECS and to peer EESes (EDGE-9); both or neither */
  char *client_key;
  uint32_t registration_ttl_s;     /* expTime asked of the ECS, renewed at half; 3600 */
  uint32_t eec_registration_max_s; /* longest EEC/EAS registration granted; 86400 */
  /* Scope asked of the ECS for the EAS access tokens handed out at discovery (default
   * "eas-app"). */
  char **eas_token_scopes;
  size_t n_eas_token_scopes;
  /* EDGE-9 peers: id and base URL of each other EES this one relocates contexts with. */
  struct egw_ees_peer_policy *peers;
  size_t n_peers;
  int line;
};

/* The site's EAS as a sidecar reverse proxy (site.yaml "eas"). */
struct egw_eas_policy {
  char *id;           /* easId; the aud of EAS access tokens */
  char *endpoint_uri; /* EASProfile endPt.uri (where EECs reach the app listener) */
  /* The application, plain HTTP on the same host: "127.0.0.1:8480", "[::1]:8480" or
   * "localhost:8480" in the file; |upstream_host| is the address literal without
   * brackets ("127.0.0.1", "::1"; localhost is stored as "127.0.0.1"). */
  char *upstream_host;
  uint16_t upstream_port;
  uint32_t upstream_timeout_ms; /* whole upstream exchange; default 30000; over: 504 */
  /* The header the proxy sets to the EEC identity (the token's eecId claim, else its
   * sub) after removing any copy the client sent; default "x-eec-id". Lower case. */
  char *identity_header;
  /* Registration at an EES over EDGE-3 (mTLS with client_cert): the EES's base URL,
   * or NULL for none; renewed at half of registration_ttl_s (default 3600). */
  char *ees_url;
  char *client_cert;
  char *client_key;
  uint32_t registration_ttl_s;
  char *provider; /* EASProfile provId, optional */
  char *type;     /* EASProfile type, optional */
  int line;
};

/* ecs.ausf (module ecs-psk-auth): the AUSF the ECS asks for Kedge with the key request of
 * the TLS-PSK proposal (POST {url}/nausf-auth/v1/kedge-requests), over mutual TLS with
 * ecs.client and verified against site.trust.ca. */
struct egw_ecs_ausf_policy {
  char *url;                /* base URL https://host:port (no trailing '/') */
  uint32_t timeout_ms;      /* one key request, end to end; default 2000, 100..60000 */
  uint32_t negative_ttl_ms; /* how long an unknown Kedge-ID is remembered; 5000, 0..600000 */
  int line;
};

/* sim.ausf (module sim-ausf): a simulated AUSF for labs and tests. */
struct egw_sim_ausf_policy {
  char *subscribers_file; /* lines "<SUPI> <KAUSF hex>", '#' comments */
  uint32_t kedge_ttl_s;   /* lifetime announced with each Kedge; default 3600, 60..86400 */
  int line;
};

struct egw_site_policy {
  char *dir;       /* the policy directory */
  char *site_file; /* path of site.yaml */
  char *site_id;
  char **ca_files; /* trust store: PEM CA certificates (one or more per file) */
  size_t n_ca_files;
  char **crl_files; /* PEM CRLs */
  size_t n_crl_files;
  char *state_dir;           /* durable state; created at start if missing */
  uint32_t drain_timeout_ms; /* SIGTERM: how long requests in flight may take; 10000 */
  /* site.yaml "tokens": the shared token cache and the trusted issuers. */
  uint32_t token_cache_entries;   /* default 100000, 1..10000000 */
  uint32_t token_negative_ttl_ms; /* default 5000, 0..60000 */
  /* tokens.client: the certificate and key edgegw presents when it calls an issuer
   * (JWKS, introspection) that wants mutual TLS; both or neither (NULL). */
  char *token_client_cert;
  char *token_client_key;
  struct egw_issuer_policy *issuers;
  size_t n_issuers;
  struct egw_ecs_policy *ecs;           /* NULL when site.yaml has no "ecs" */
  struct egw_ees_policy *ees;           /* NULL when site.yaml has no "ees" */
  struct egw_eas_policy *eas;           /* NULL when site.yaml has no "eas" */
  struct egw_sim_ausf_policy *sim_ausf; /* NULL when site.yaml has no "sim.ausf" */
  struct egw_listener_policy *listeners;
  size_t n_listeners;
  struct egw_audit_policy audit; /* site.audit: the listeners' default */
};

/* egw_policy_load_dir parses |dir|/site.yaml and every other *.yaml / *.yml file in
 * |dir| (sorted by name) into a new site policy. On failure returns NULL and sets
 * *out_err to a malloc'd "file:line: key: message". Checks done here: YAML syntax, known
 * keys only, types and ranges, required keys per TLS and authz mode, unique interface
 * names and listen addresses, allow-list pattern and scope syntax, unique issuer ids and
 * kids, at most one key source per issuer (none only with an introspection_uri), https
 * URL syntax, a local issuer matching ecs.id, listener issuers (and opaque_issuer)
 * defined by the site, introspection_uri on every issuer of a remote listener and on the
 * opaque_issuer, keys for some issuer of a listener that verifies locally, files named by
 * the policy exist and are readable; for the ecs, ees and eas sections: enumerations,
 * unique peer ids, and a client certificate and site.trust.ca wherever the site calls
 * another edge server (ecs.peers, ees.ecs_url, ees.peers, eas.ees_url). Base URLs
 * (endpoint, ecs_url, ees_url, ees.peers[].url) are stored without a trailing '/'. Key
 * contents are not read here. */
struct egw_site_policy *egw_policy_load_dir(const char *dir, char **out_err);

/* egw_site_policy_free frees |p| and everything in it; NULL is accepted. */
void egw_site_policy_free(struct egw_site_policy *p);

#endif
