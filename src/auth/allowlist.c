#include "auth/allowlist.h"

#include <string.h>

struct kind_prefix {
  const char *text;
  size_t len;
  enum egw_peer_kind kind;
};

static const struct kind_prefix kind_prefixes[] = {
    {.text = "URI:", .len = 4, .kind = EGW_PEER_URI},
    {.text = "DNS:", .len = 4, .kind = EGW_PEER_DNS},
    {.text = "CN:", .len = 3, .kind = EGW_PEER_CN},
    {.text = "PSK:", .len = 4, .kind = EGW_PEER_PSK},
};

/* Splits off an optional KIND: prefix. EGW_PEER_NONE in *out_kind means "any kind". */
static const char *split_kind(const char *pattern, enum egw_peer_kind *out_kind) {
  for (size_t i = 0; i < sizeof(kind_prefixes) / sizeof(kind_prefixes[0]); i++) {
    if (strncmp(pattern, kind_prefixes[i].text, kind_prefixes[i].len) == 0) {
      *out_kind = kind_prefixes[i].kind;
      return pattern + kind_prefixes[i].len;
    }
  }
  *out_kind = EGW_PEER_NONE;
  return pattern;
}

/* A '*' is valid only as a whole segment under both separators it may meet. */
static int wildcards_whole(const char *value, char sep) {
  for (const char *p = value; *p; p++) {
    if (*p != '*')
      continue;
    int starts = p == value || p[-1] == sep;
    int ends = p[1] == '\0' || p[1] == sep;
    if (!starts || !ends)
      return 0;
  }
  return 1;
}

int egw_allowlist_pattern_valid(const char *pattern, const char **out_reason) {
  enum egw_peer_kind kind;
  const char *value = split_kind(pattern, &kind);
  if (*value == '\0') {
    *out_reason = "empty pattern";
    return 0;
  }
  if (strcmp(value, "*") == 0) {
    *out_reason = "a pattern of only '*' is not allowed; use 'allow: any'";
    return 0;
  }
  if (strchr(value, '*') == NULL)
    return 1;
  int ok;
  if (kind == EGW_PEER_DNS)
    ok = wildcards_whole(value, '.');
  else if (kind == EGW_PEER_NONE)
    ok = wildcards_whole(value, '/') || wildcards_whole(value, '.');
  else
    ok = wildcards_whole(value, '/');
  if (!ok) {
    *out_reason = "'*' must stand for a whole segment";
    return 0;
  }
  return 1;
}

/* Matches |value| against |pat| segment by segment. */
static int match_segments(const char *pat, const char *value, char sep) {
  for (;;) {
    const char *pend = strchr(pat, sep);
    const char *vend = strchr(value, sep);
    size_t plen = pend ? (size_t)(pend - pat) : strlen(pat);
    size_t vlen = vend ? (size_t)(vend - value) : strlen(value);
    if (plen == 1 && pat[0] == '*') {
      if (vlen == 0)
        return 0;
    } else if (plen != vlen || memcmp(pat, value, plen) != 0) {
      return 0;
    }
    if (pend == NULL || vend == NULL)
      return pend == NULL && vend == NULL;
    pat = pend + 1;
    value = vend + 1;
  }
}

int egw_allowlist_match(const char *pattern, const struct egw_peer *peer) {
  if (peer == NULL || peer->kind == EGW_PEER_NONE || peer->id == NULL)
    return 0;
  enum egw_peer_kind kind;
  const char *value = split_kind(pattern, &kind);
  if (kind != EGW_PEER_NONE && kind != peer->kind)
    return 0;
  char sep = peer->kind == EGW_PEER_DNS ? '.' : '/';
  return match_segments(value, peer->id, sep);
}
