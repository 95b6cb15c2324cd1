/* Private to src/config: a small table-driven walker over a libyaml document (in the
 * style of nginx's command tables) and the helpers its handlers share. Every helper that
 * fails sets the file's error once, as "file:line: dotted.key: message", and returns -1. */
#ifndef EGW_CONFIG_INTERNAL_H
#define EGW_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config/policy.h"

/* One policy file being read. |path| is "dir/name" as the operator gave the directory;
 * relative file names in it resolve against |dir|. */
struct egw__cfg_file {
  const char *path;
  const char *dir;
  yaml_document_t doc;
  int loaded; /* doc must be deleted */
  char **out_err;
};

struct egw__cfg_key;

/* Where a handler is called from: the full dotted key ("listener.tls.mode"), the table
 * entry, the key and value nodes and the key's 1-based line. */
struct egw__cfg_at {
  const char *path;
  const struct egw__cfg_key *key;
  yaml_node_t *key_node;
  yaml_node_t *value;
  int line;
};

typedef int (*egw__cfg_set_fn)(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);

/* A key of a mapping: its name, the handler and whether it must be present. Generic
 * integer setters use |offset| (into the walked object) and the range |min|..|max|. */
struct egw__cfg_key {
  const char *name;
  egw__cfg_set_fn set;
  int required;
  size_t offset;
  uint64_t min;
  uint64_t max;
};

/* egw__cfg_open reads and parses |path| into |f| (always initialized, so that
 * egw__cfg_close may follow). Returns 0 and the root node in *out_root (NULL for an empty
 * file), or -1 with the error set. */
int egw__cfg_open(struct egw__cfg_file *f, const char *path, const char *dir, char **out_err,
                  yaml_node_t **out_root);
/* egw__cfg_close releases the document of |f|. */
void egw__cfg_close(struct egw__cfg_file *f);

/* egw__cfg_error sets *f->out_err (unless already set) to "file:line: key: message",
 * leaving out "line" when it is 0 and "key" when it is NULL. Returns -1. */
int egw__cfg_error(struct egw__cfg_file *f, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int egw__cfg_nomem(struct egw__cfg_file *f);

int egw__cfg_line(const yaml_node_t *node);
yaml_node_t *egw__cfg_node(struct egw__cfg_file *f, int id);

/* egw__cfg_walk checks that |map| is a mapping whose keys are all in |keys| (each at
 * most once, the required ones present), calling each key's handler in file order with
 * |obj|. |path| is the dotted name of the mapping ("" at the top). */
int egw__cfg_walk(struct egw__cfg_file *f, const char *path, yaml_node_t *map,
                  const struct egw__cfg_key *keys, size_t n_keys, void *obj);

/* Typed readers of a value node; |key| names it in errors. */
const char *egw__cfg_scalar(struct egw__cfg_file *f, const char *key, yaml_node_t *node);
int egw__cfg_string(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char **out);
int egw__cfg_uint(struct egw__cfg_file *f, const char *key, yaml_node_t *node, uint64_t min,
                  uint64_t max, uint64_t *out);
int egw__cfg_bool(struct egw__cfg_file *f, const char *key, yaml_node_t *node, int *out);
int egw__cfg_seq(struct egw__cfg_file *f, const char *key, yaml_node_t *node,
                 yaml_node_item_t **out_items, size_t *out_n);
/* egw__cfg_path reads a file name, resolves it against f->dir and checks that the file
 * is readable. egw__cfg_paths does the same for a string or a list of strings. */
int egw__cfg_path(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char **out);
int egw__cfg_paths(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char ***out,
                   size_t *out_n);
/* egw__cfg_scopes reads OAuth scopes (RFC 6749 scope-tokens): a list, or one string of
 * scopes separated by spaces. The vector is counted as allocated before it is filled,
 * so the caller frees it on failure too. */
int egw__cfg_scopes(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char ***out,
                    size_t *out_n);
/* egw__cfg_join returns "dir/name", or a copy of |name| when it is absolute. */
char *egw__cfg_join(const char *dir, const char *name);

/* Generic setters for struct egw__cfg_key.set: integers (uint32_t, uint64_t) and
 * booleans (int) at key->offset in |obj|. */
int egw__cfg_set_u32(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__cfg_set_u64(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__cfg_set_bool(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);

/* https URLs. An endpoint is https://host[:port]/path[?query] (the path is required); a
 * base URL is https://host[:port][/path], without query, that API paths are appended
 * to. Both: host an IPv4 address, [IPv6] or a DNS name, no userinfo, no fragment,
 * printable ASCII, at most 2048 characters. */
enum egw__url_kind { EGW__URL_ENDPOINT, EGW__URL_BASE };
/* egw__cfg_https_url checks |url| (the value at |line| of |key|). */
int egw__cfg_https_url(struct egw__cfg_file *f, const char *key, int line, const char *url,
                       enum egw__url_kind kind);
/* egw__cfg_url reads and checks a URL into *out; a base URL is stored without trailing
 * '/'; an endpoint as written. */
int egw__cfg_url(struct egw__cfg_file *f, const char *key, yaml_node_t *node,
                 enum egw__url_kind kind, char **out);
/* egw__cfg_client_pair reads a {cert, key} mapping (both required, readable files) at
 * |at| into *cert and *key. */
int egw__cfg_client_pair(struct egw__cfg_file *f, const struct egw__cfg_at *at, char **cert,
                         char **key);
/* egw__cfg_ids reads a non-empty list of distinct non-empty strings; the vector is
 * counted as allocated before it is filled (the caller frees it on failure too). */
int egw__cfg_ids(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char ***out,
                 size_t *out_n);
/* egw__cfg_copy_strings copies |n| strings into a new vector (nothing when |n| is 0);
 * counted as allocated before it is filled. */
int egw__cfg_copy_strings(struct egw__cfg_file *f, const char *const *v, size_t n, char ***out,
                          size_t *out_n);

void egw__cfg_free_strings(char **v, size_t n);

/* egw__cfg_host_port reads "IPv4:port" or "[IPv6]:port" (and "localhost:port", stored as
 * 127.0.0.1, when |allow_localhost|): address literals only, so that nothing waits on a
 * resolver. *out_host (malloc'd) is the address without brackets. */
int egw__cfg_host_port(struct egw__cfg_file *f, const char *key, yaml_node_t *node,
                       int allow_localhost, char **out_host, uint16_t *out_port);

/* What site.yaml parsing keeps for the checks made once the file or every file is
 * read. */
struct egw__site_places {
  int *issuer_local_lines; /* per tokens.issuers item: line of "local: true", else 0 */
  int ecs_id_line;
  /* Outbound mutual TLS, checked against site.trust.ca at the end of site.yaml: the
   * lines of ecs.peers, ees.ecs_url, ees.peers and eas.ees_url (0 when absent). */
  int ecs_peers_line;
  int ees_ecs_url_line;
  int ees_peers_line;
  int eas_ees_url_line;
};

/* The object site.yaml's top-level handlers get. */
struct egw__site_parse {
  struct egw_site_policy *p;
  struct egw__site_places places;
};

/* Handlers of site.yaml's "tokens" and "ecs" keys (obj: struct egw__site_parse). */
int egw__tokens_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
/* egw__tokens_cleanup frees the issuers, tokens.client and the ecs section of |p|. */
void egw__tokens_cleanup(struct egw_site_policy *p);

/* The object the handlers of site.yaml's "ecs" keys get. */
struct egw__ecs_parse {
  struct egw__site_parse *sx;
  struct egw_ecs_policy *e;
  int *peer_id_lines; /* line of each ecs.peers[].id; freed by egw__ecs_set */
  int client_line;    /* line of ecs.client (0 when absent) */
};

/* Handlers of the ecs keys for EDGE-4 provisioning, EDGE-6 registration and multi-ECS
 * (src/config/ecs_edge_policy.c; obj: struct egw__ecs_parse). */
int egw__ecs_provisioning_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_ees_auth_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_registration_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_client_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_peers_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_max_hops_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
/* egw__ecs_edge_defaults sets the defaults of those keys before the walk;
 * egw__ecs_edge_finish fills the list defaults and checks the keys against each other
 * after it. */
void egw__ecs_edge_defaults(struct egw_ecs_policy *e);
int egw__ecs_edge_finish(struct egw__cfg_file *f, struct egw__ecs_parse *ex);
/* egw__ecs_edge_cleanup frees what those keys allocated in |e| (not |e| itself). */
void egw__ecs_edge_cleanup(struct egw_ecs_policy *e);

/* Handlers of site.yaml's "ees" and "eas" keys (src/config/edge_policy.c; obj: struct
 * egw__site_parse). */
int egw__ees_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__eas_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
/* egw__edge_site_finish runs once site.yaml is walked (site.trust.ca may come after the
 * sections that need it): ecs.registration.eec_ca defaults to site.trust.ca, and every
 * outbound mutual TLS caller needs site.trust.ca to verify the server. */
int egw__edge_site_finish(struct egw__cfg_file *f, struct egw__site_parse *sx);
/* egw__edge_cleanup frees the ees and eas sections of |p|. */
void egw__edge_cleanup(struct egw_site_policy *p);

/* Handlers of site.yaml's "sim" key (obj: struct egw__site_parse) and of "ecs.ausf"
 * (obj: struct egw__ecs_parse), in src/config/sim_policy.c; egw__sim_cleanup frees
 * p->sim_ausf and p->ecs->ausf (call it before egw__tokens_cleanup). */
int egw__sim_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
int egw__ecs_ausf_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
void egw__sim_cleanup(struct egw_site_policy *p);

/* Where an interface file's keys are, for the checks that span files. */
struct egw__listener_places {
  int interface_line;
  int listen_line;
  int *issuer_lines; /* line of each authz.issuers item; malloc'd, freed by the caller */
  int issuers_line;  /* line of authz.issuers (0 when absent) */
  int remote_line;   /* line of authz.remote (0 when absent) */
  int opaque_issuer_line;
};

/* egw__listener_parse fills |lp| (zeroed by the caller, freed by it on failure too) from
 * the interface file |f| with root |root|; |site| is the site parsed so far. Also
 * fills |places| (zeroed by the caller, which frees issuer_lines on failure too). */
int egw__listener_parse(struct egw__cfg_file *f, yaml_node_t *root,
                        const struct egw_site_policy *site, struct egw_listener_policy *lp,
                        struct egw__listener_places *places);
void egw__listener_cleanup(struct egw_listener_policy *lp);

/* egw__cfg_audit reads an audit mapping ({file: PATH} or {stream: log|stderr|off}) at
 * |at| into |out| (config/audit_policy.c). The file need not exist; its directory must. */
int egw__cfg_audit(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                   struct egw_audit_policy *out);

#endif
