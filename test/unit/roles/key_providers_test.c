/* The Kedge-ID form the AUSF and NEF providers claim. */
#include <criterion/criterion.h>

#include "roles/key_providers.h"

Test(key_providers, kedge_id_form) {
  cr_assert(egw_key_provider_is_kedge_id(
      "0.0123456789abcdef0123456789ABCDEF@5gc.mnc001.mcc262.3gppnetwork.org"));
  cr_assert(egw_key_provider_is_kedge_id(
      "1234.0123456789abcdef0123456789abcdef@5gc.mnc999.mcc001.3gppnetwork.org"));
  static const char *const bad[] = {
      "",
      "0.",
      ".0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork.org",
      "12345.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork.org",
      "a.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork.org",
      "0.0123456789abcdef0123456789abcde@5gc.mnc001.mcc262.3gppnetwork.org",
      "0.0123456789abcdef0123456789abcdeg@5gc.mnc001.mcc262.3gppnetwork.org",
      "0.0123456789abcdef0123456789abcdef0@5gc.mnc001.mcc262.3gppnetwork.org",
      "0.0123456789abcdef0123456789abcdef@5gc.mnc01.mcc262.3gppnetwork.org",
      "0.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork.org.",
      "0.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork",
      "0.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc2",
      "3GPP-AKMA0.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork.org",
      "kecs:eec1:7",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_not(egw_key_provider_is_kedge_id(bad[i]), "%s", bad[i]);
}
