/* Reload on SIGHUP (core/reload.c, core/reload_diff.c): what a reload compares and how the
 * server swaps snapshots. Private to core. */
#ifndef EGW_CORE_RELOAD_H
#define EGW_CORE_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config/policy.h"

struct egw_server;

/* The role sections of site.yaml that a reload must find unchanged: the running modules
 * carry over with the configuration they started with. ecs.signing_keys is left out: a
 * reload rotates the ECS signing keys. */
#define EGW_RELOAD_N_SECTIONS 4

struct egw_role_digests {
  uint8_t digest[EGW_RELOAD_N_SECTIONS][32]; /* SHA-256 of the section's YAML events */
  int line[EGW_RELOAD_N_SECTIONS];           /* line of the section's key; 0: absent */
};

/* egw__reload_digest_roles reads |site_file| and digests its role sections (ecs, ees,
 * eas, sim) into |out|. Returns 0, or -1 with *out_err (malloc'd) when the file cannot be
 * read or parsed. */
int egw__reload_digest_roles(const char *site_file, struct egw_role_digests *out, char **out_err);

/* egw__reload_compare_roles returns NULL when |before| and |after| match, else a malloc'd
 * "file:line: SECTION: ..." naming the first section that changed (|site_file| is the new
 * site.yaml). */
char *egw__reload_compare_roles(const struct egw_role_digests *before,
                                const struct egw_role_digests *after, const char *site_file);

/* egw__reload_same_addr is 1 when listeners |a| and |b| listen on the same address. */
int egw__reload_same_addr(const struct egw_listener_policy *a, const struct egw_listener_policy *b);

/* egw__reload_match sets out_old[j], for each of the |n_new| listeners of |next|, to the
 * index in |cur| (|n_cur| entries, NULL entries skipped) of the listener on the same
 * address, or -1 for a listener to add. Sets *out_removed to the number of entries of
 * |cur| that nothing matched (listeners to close). */
void egw__reload_match(const struct egw_listener_policy *const *cur, size_t n_cur,
                       const struct egw_listener_policy *next, size_t n_new, long *out_old,
                       size_t *out_removed);

/* egw__reload_init arms SIGHUP once every listener is bound (0, or -1 after logging);
 * egw__reload_stop closes the signal and the listeners a reload added (draining);
 * egw__reload_free releases what reloads kept, after the loop ended. */
int egw__reload_init(struct egw_server *s);
void egw__reload_stop(struct egw_server *s);
void egw__reload_free(struct egw_server *s);

#endif
