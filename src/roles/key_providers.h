/* The site's PSK key providers (keys/psk_resolver.h): one table of factories, each
 * registering its provider on site->psk when its policy section is present. The site
 * calls egw_key_providers_add after the modules' init, before the loop runs; the order
 * of the table is the order in which providers are asked whether they claim an
 * identity. */
#ifndef EGW_ROLES_KEY_PROVIDERS_H
#define EGW_ROLES_KEY_PROVIDERS_H

struct egw_site;

/* One factory. add returns 0 when it registered its provider or has nothing to do (its
 * section is absent), or a negative code with *out_err (malloc'd, "file:line: key:
 * message") when the section cannot be served. */
struct egw_key_provider_factory {
  const char *name; /* "ausf", "nef", "aanf", "kecs" */
  int (*add)(struct egw_site *site, char **out_err);
};

/* egw_key_providers_add runs every factory of the table, in order; returns 0 or the first
 * failure (with *out_err). */
int egw_key_providers_add(struct egw_site *site, char **out_err);

/* egw_key_provider_is_kedge_id says whether |id| has the form of a Kedge-ID
 * (SPEC-NOTES "Keys for TLS-PSK"): "<rid: 1-4 digits>.<32 hex digits>@5gc.mnc<3
 * digits>.mcc<3 digits>.3gppnetwork.org". The AUSF and NEF providers claim those. */
int egw_key_provider_is_kedge_id(const char *id);

/* The factories (one file each). */
int egw__key_provider_ausf_add(struct egw_site *site, char **out_err);
int egw__key_provider_nef_add(struct egw_site *site, char **out_err);
int egw__key_provider_aanf_add(struct egw_site *site, char **out_err);
int egw__key_provider_kecs_add(struct egw_site *site, char **out_err);

#endif
