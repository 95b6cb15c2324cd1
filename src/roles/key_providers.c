/* The table of key providers; see key_providers.h. */
#include "roles/key_providers.h"

#include <string.h>

#include "core/site.h"
#include "keys/psk_resolver.h"
#include "util/encoding.h"
#include "util/errors.h"
#include "util/format.h"

static const struct egw_key_provider_factory factories[] = {
    {.name = "ausf", .add = egw__key_provider_ausf_add},
    {.name = "nef", .add = egw__key_provider_nef_add},
    {.name = "aanf", .add = egw__key_provider_aanf_add},
    {.name = "kecs", .add = egw__key_provider_kecs_add},
};

int egw_key_providers_add(struct egw_site *site, char **out_err) {
  for (size_t i = 0; i < sizeof(factories) / sizeof(factories[0]); i++) {
    int rc = factories[i].add(site, out_err);
    if (rc != 0)
      return rc;
  }
  /* The authentication request of the TLS-PSK proposal is a client of the providers. */
  const struct egw_site_policy *p = site->policy;
  struct egw_psk_query kedge = {.identity = "0.00000000000000000000000000000000@5gc.mnc001."
                                            "mcc001.3gppnetwork.org"};
  for (size_t i = 0; i < p->n_listeners; i++) {
    const struct egw_listener_policy *lp = &p->listeners[i];
    for (size_t m = 0; m < lp->n_mount; m++) {
      if (strcmp(lp->mount[m], "ecs-psk-auth") == 0 &&
          !egw_psk_resolver_claims(site->psk, &kedge)) {
        *out_err = egw_format("%s:%d: listener.mount: ecs-psk-auth needs a key provider for "
                              "Kedge-IDs (\"ecs.ausf\" or \"ecs.nef\" in %s)",
                              lp->file, lp->mount_line, p->site_file);
        return EGW_ERR_POLICY;
      }
    }
  }
  return 0;
}

static int digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
  }
  return 1;
}

int egw_key_provider_is_kedge_id(const char *id) {
  const char *dot = strchr(id, '.');
  if (dot == NULL || dot == id || dot - id > 4 || !digits(id, (size_t)(dot - id)))
    return 0;
  const char *tid = dot + 1;
  for (int i = 0; i < 32; i++) {
    if (egw_hex_digit(tid[i]) < 0)
      return 0;
  }
  const char *realm = tid + 32;
  /* "@5gc.mncDDD.mccDDD.3gppnetwork.org" */
  static const char a[] = "@5gc.mnc", b[] = ".mcc", c[] = ".3gppnetwork.org";
  if (strncmp(realm, a, sizeof(a) - 1) != 0)
    return 0;
  realm += sizeof(a) - 1;
  if (!digits(realm, 3) || strncmp(realm + 3, b, sizeof(b) - 1) != 0)
    return 0;
  realm += 3 + sizeof(b) - 1;
  return digits(realm, 3) && strcmp(realm + 3, c) == 0;
}
