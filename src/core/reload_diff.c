/* The pure parts of a reload: which role sections changed, which listeners stay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <yaml.h>

#include "core/reload.h"
#include "util/format.h"

static const char *const sections[EGW_RELOAD_N_SECTIONS] = {"ecs", "ees", "eas", "sim"};

static void hash_event(SHA256_CTX *h, const yaml_event_t *ev) {
  uint8_t tag = (uint8_t)ev->type;
  SHA256_Update(h, &tag, 1);
  if (ev->type == YAML_SCALAR_EVENT) {
    uint64_t len = ev->data.scalar.length;
    SHA256_Update(h, &len, sizeof(len));
    SHA256_Update(h, ev->data.scalar.value, ev->data.scalar.length);
  }
}

struct frame {
  int mapping, next_key;
  int section, skip;         /* what this node's children belong to */
  int val_section, val_skip; /* for the value after the last key */
};

#define MAX_DEPTH 64

/* Walks the events of site.yaml with a stack of open mappings and sequences. The value of
 * a top-level key naming a role section is digested, except, inside "ecs", the value of
 * "signing_keys". Every event of a section is hashed (type and scalar text), so any
 * change of key, value or structure changes the digest; comments and layout do not. */
int egw__reload_digest_roles(const char *site_file, struct egw_role_digests *out, char **out_err) {
  memset(out, 0, sizeof(*out));
  FILE *in = fopen(site_file, "rb");
  if (in == NULL) {
    *out_err = egw_format("%s: cannot open", site_file);
    return -1;
  }
  yaml_parser_t parser;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, in);
  SHA256_CTX h[EGW_RELOAD_N_SECTIONS];
  struct frame st[MAX_DEPTH];
  size_t depth = 0;
  int rc = -1;
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      *out_err = egw_format("%s:%zu: YAML syntax: %s", site_file, parser.problem_mark.line + 1,
                            parser.problem ? parser.problem : "error");
      break;
    }
    yaml_event_type_t t = ev.type;
    int opens = t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT;
    int closes = t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT;
    if (opens || t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT) {
      struct frame *parent = depth ? &st[depth - 1] : NULL;
      int key = parent && parent->mapping && parent->next_key;
      int sec = -1, skip = 0;
      if (parent) {
        sec = key ? parent->section : parent->val_section;
        skip = key ? parent->skip : parent->val_skip;
      }
      if (sec >= 0 && !skip)
        hash_event(&h[sec], &ev);
      if (key) {
        parent->next_key = 0;
        parent->val_section = parent->section;
        parent->val_skip = parent->skip;
        const char *name = t == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : "";
        for (int i = 0; depth == 1 && i < EGW_RELOAD_N_SECTIONS; i++) {
          if (strcmp(name, sections[i]) == 0) {
            parent->val_section = i;
            out->line[i] = (int)ev.start_mark.line + 1;
            SHA256_Init(&h[i]);
          }
        }
        if (depth == 2 && parent->section == 0 && strcmp(name, "signing_keys") == 0)
          parent->val_skip = 1;
      }
      if (opens) {
        if (depth == MAX_DEPTH) {
          *out_err = egw_format("%s:%zu: nested too deeply", site_file, ev.start_mark.line + 1);
          yaml_event_delete(&ev);
          break;
        }
        st[depth++] = (struct frame){.mapping = t == YAML_MAPPING_START_EVENT,
                                     .next_key = t == YAML_MAPPING_START_EVENT,
                                     .section = sec,
                                     .skip = skip,
                                     .val_section = sec,
                                     .val_skip = skip};
      } else if (parent && !key && parent->mapping) {
        parent->next_key = 1;
      }
    } else if (closes && depth > 0) {
      struct frame f = st[--depth];
      if (f.section >= 0 && !f.skip)
        hash_event(&h[f.section], &ev);
      if (depth > 0 && st[depth - 1].mapping)
        st[depth - 1].next_key = 1;
    }
    yaml_event_delete(&ev);
    if (t == YAML_STREAM_END_EVENT) {
      rc = 0;
      break;
    }
  }
  for (int i = 0; rc == 0 && i < EGW_RELOAD_N_SECTIONS; i++) {
    if (out->line[i])
      SHA256_Final(out->digest[i], &h[i]);
  }
  yaml_parser_delete(&parser);
  fclose(in);
  return rc;
}

char *egw__reload_compare_roles(const struct egw_role_digests *before,
                                const struct egw_role_digests *after, const char *site_file) {
  for (int i = 0; i < EGW_RELOAD_N_SECTIONS; i++) {
    int had = before->line[i] != 0, has = after->line[i] != 0;
    if (had == has && (!had || memcmp(before->digest[i], after->digest[i], 32) == 0))
      continue;
    int line = has ? after->line[i] : 1;
    const char *what = !had ? "added" : !has ? "removed" : "changed";
    return egw_format("%s:%d: %s: the section was %s; the running %s modules keep the "
                      "configuration they started with, so this needs a restart (a reload "
                      "applies listeners, trust, tokens, ecs.signing_keys and PSK files)",
                      site_file, line, sections[i], what, sections[i]);
  }
  return NULL;
}

int egw__reload_same_addr(const struct egw_listener_policy *a,
                          const struct egw_listener_policy *b) {
  return a->listen_port == b->listen_port && strcmp(a->listen_host, b->listen_host) == 0;
}

void egw__reload_match(const struct egw_listener_policy *const *cur, size_t n_cur,
                       const struct egw_listener_policy *next, size_t n_new, long *out_old,
                       size_t *out_removed) {
  size_t matched = 0, live = 0;
  for (size_t i = 0; i < n_cur; i++)
    live += cur[i] != NULL;
  for (size_t j = 0; j < n_new; j++) {
    out_old[j] = -1;
    for (size_t i = 0; i < n_cur; i++) {
      if (cur[i] != NULL && egw__reload_same_addr(cur[i], &next[j])) {
        out_old[j] = (long)i;
        matched++;
        break;
      }
    }
  }
  /* The policy loader refuses two listeners on one address, so matches are one to one. */
  *out_removed = live - matched;
}
