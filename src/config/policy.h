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
  /* Optional TLS 1.2 cipher list override (OpenSSL syntax); NULL for the mode's
   * default. TLS 1.3 suites are always BoringSSL's AEAD set. */
  char *ciphers;
  /* mtls: check client certificates against the site's CRLs. */
  int crl_check;
  int line; /* line of the tls key */
};

/* egw_allow_rule: requests whose path starts with |path_prefix| (and whose method is in
 * |methods|, 0 meaning any) are allowed when the peer identity matches one of
 * |patterns|, or always when |allow_any| is set. */
struct egw_allow_rule {
  char *path_prefix;
  unsigned methods;
  int allow_any;
  char **patterns; /* see auth/allowlist.h for the syntax */
  size_t n_patterns;
  int line;
};

struct egw_authz_policy {
  enum egw_authz_mode mode;
  struct egw_allow_rule *rules; /* static: first rule whose prefix and method match */
  size_t n_rules;
  int line; /* line of the authz key */
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
  struct egw_listener_policy *listeners;
  size_t n_listeners;
};

/* egw_policy_load_dir parses |dir|/site.yaml and every other *.yaml / *.yml file in
 * |dir| (sorted by name) into a new site policy. On failure returns NULL and sets
 * *out_err to a malloc'd "file:line: key: message". Checks done here: YAML syntax, known
 * keys only, types and ranges, required keys per TLS mode, unique interface names and
 * listen addresses, allow-list pattern syntax, files named by the policy exist and are
 * readable. */
struct egw_site_policy *egw_policy_load_dir(const char *dir, char **out_err);

/* egw_site_policy_free frees |p| and everything in it; NULL is accepted. */
void egw_site_policy_free(struct egw_site_policy *p);

#endif
