#include <criterion/criterion.h>

#include "auth/allowlist.h"

static struct egw_peer peer(enum egw_peer_kind kind, const char *id) {
  return (struct egw_peer){.kind = kind, .id = (char *)id};
}

Test(allowlist, exact_uri_matches_only_itself) {
  struct egw_peer p = peer(EGW_PEER_URI, "spiffe://site1/ees/ees1");
  cr_assert(egw_allowlist_match("spiffe://site1/ees/ees1", &p));
  cr_assert_not(egw_allowlist_match("spiffe://site1/ees/ees2", &p));
  cr_assert_not(egw_allowlist_match("spiffe://site1/ees", &p));
}

Test(allowlist, uri_wildcard_is_one_segment) {
  struct egw_peer one = peer(EGW_PEER_URI, "spiffe://site1/ees/ees1");
  struct egw_peer two = peer(EGW_PEER_URI, "spiffe://site1/ees/a/b");
  struct egw_peer none = peer(EGW_PEER_URI, "spiffe://site1/ees/");
  cr_assert(egw_allowlist_match("spiffe://site1/ees/*", &one));
  cr_assert_not(egw_allowlist_match("spiffe://site1/ees/*", &two));
  cr_assert_not(egw_allowlist_match("spiffe://site1/ees/*", &none), "empty segment");
  cr_assert(egw_allowlist_match("spiffe://site1/*/ees1", &one));
}

Test(allowlist, dns_wildcard_is_one_label) {
  struct egw_peer ok = peer(EGW_PEER_DNS, "ees1.ees.site1.example");
  struct egw_peer deep = peer(EGW_PEER_DNS, "a.b.ees.site1.example");
  struct egw_peer apex = peer(EGW_PEER_DNS, "ees.site1.example");
  cr_assert(egw_allowlist_match("DNS:*.ees.site1.example", &ok));
  cr_assert_not(egw_allowlist_match("DNS:*.ees.site1.example", &deep));
  cr_assert_not(egw_allowlist_match("DNS:*.ees.site1.example", &apex));
}

Test(allowlist, kind_prefix_restricts_the_kind) {
  struct egw_peer dns = peer(EGW_PEER_DNS, "ees1.ees.site1.example");
  struct egw_peer cn = peer(EGW_PEER_CN, "ees1.ees.site1.example");
  struct egw_peer psk = peer(EGW_PEER_PSK, "demo-eec1");
  cr_assert(egw_allowlist_match("DNS:ees1.ees.site1.example", &dns));
  cr_assert_not(egw_allowlist_match("DNS:ees1.ees.site1.example", &cn));
  cr_assert(egw_allowlist_match("ees1.ees.site1.example", &cn), "no prefix: any kind");
  cr_assert(egw_allowlist_match("PSK:demo-eec1", &psk));
  cr_assert_not(egw_allowlist_match("URI:demo-eec1", &psk));
}

Test(allowlist, anonymous_peer_matches_nothing) {
  struct egw_peer anon = peer(EGW_PEER_NONE, NULL);
  cr_assert_not(egw_allowlist_match("spiffe://site1/ees/*", &anon));
  cr_assert_not(egw_allowlist_match("x", NULL));
}

Test(allowlist, a_prefix_of_an_identity_is_not_a_match) {
  struct egw_peer p = peer(EGW_PEER_URI, "spiffe://site1/ees/ees1-evil");
  cr_assert_not(egw_allowlist_match("spiffe://site1/ees/ees1", &p));
}

Test(allowlist, invalid_patterns_are_explained) {
  const char *why = NULL;
  cr_assert_not(egw_allowlist_pattern_valid("*", &why));
  cr_assert_str_eq(why, "a pattern of only '*' is not allowed; use 'allow: any'");
  cr_assert_not(egw_allowlist_pattern_valid("spiffe://site1/ees*", &why));
  cr_assert_str_eq(why, "'*' must stand for a whole segment");
  cr_assert_not(egw_allowlist_pattern_valid("DNS:ees*.site1.example", &why));
  cr_assert_not(egw_allowlist_pattern_valid("DNS:", &why));
  cr_assert_str_eq(why, "empty pattern");
  cr_assert(egw_allowlist_pattern_valid("DNS:*.ees.site1.example", &why));
  cr_assert(egw_allowlist_pattern_valid("spiffe://site1/ees/*", &why));
  cr_assert(egw_allowlist_pattern_valid("PSK:demo-eec1", &why));
}
