// Static allow-lists (TS 33.501 13.3.0: authorization by local policy) match the peer
// identity of a connection against patterns.
//
// Pattern syntax:
//   [KIND:]VALUE   KIND is one of URI, DNS, CN, PSK (upper case); without it the
//                  pattern matches an identity of any kind.
//   VALUE          exact text, or text where whole segments are "*". A "*" segment
//                  matches exactly one non-empty segment. Segments are split on '.'
//                  for DNS identities and on '/' for every other kind, so
//                  "spiffe://site1/ees/*" matches "spiffe://site1/ees/ees1" but not
//                  "spiffe://site1/ees/a/b", and "DNS:*.ees.site1.example" matches
//                  "ees1.ees.site1.example" but not "a.b.ees.site1.example".
//   A "*" inside a segment ("ees*"), or a pattern that is only "*", is invalid: a
//   rule that admits every authenticated peer says `allow: any` instead.
#ifndef EGW_AUTH_ALLOWLIST_H
#define EGW_AUTH_ALLOWLIST_H

#include <stddef.h>

#include "edgegw/peer.h"

/* egw_allowlist_pattern_valid returns 1 if |pattern| is valid, else 0 and sets
 * *out_reason to a static message. */
int egw_allowlist_pattern_valid(const char *pattern, const char **out_reason);

/* egw_allowlist_match returns 1 if |peer| matches |pattern| (which must be valid). An
 * anonymous peer (EGW_PEER_NONE) matches nothing. */
int egw_allowlist_match(const char *pattern, const struct egw_peer *peer);

#endif
