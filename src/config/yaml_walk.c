/* Generic helpers of the policy parser: loading a file with libyaml, the key walker,
 * typed value readers and error formatting. Policy files are small and read once at
 * start, so the parser favours exact messages over speed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/internal.h"

int egw__cfg_error(struct egw__cfg_file *f, int line, const char *key, const char *fmt, ...) {
  if (*f->out_err != NULL)
    return -1;
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (n < 0) {
    *f->out_err = strdup("out of memory");
    return -1;
  }
  char *out = NULL;
  if (line > 0 && key != NULL)
    n = asprintf(&out, "%s:%d: %s: %s", f->path, line, key, msg);
  else if (line > 0)
    n = asprintf(&out, "%s:%d: %s", f->path, line, msg);
  else if (key != NULL)
    n = asprintf(&out, "%s: %s: %s", f->path, key, msg);
  else
    n = asprintf(&out, "%s: %s", f->path, msg);
  free(msg);
  *f->out_err = n < 0 ? strdup("out of memory") : out;
  return -1;
}

int egw__cfg_nomem(struct egw__cfg_file *f) { return egw__cfg_error(f, 0, NULL, "out of memory"); }

int egw__cfg_line(const yaml_node_t *node) { return (int)node->start_mark.line + 1; }

yaml_node_t *egw__cfg_node(struct egw__cfg_file *f, int id) {
  return yaml_document_get_node(&f->doc, id);
}

static void syntax_error(struct egw__cfg_file *f, const yaml_parser_t *parser) {
  if (parser->error == YAML_MEMORY_ERROR)
    egw__cfg_nomem(f);
  else if (parser->error == YAML_READER_ERROR)
    egw__cfg_error(f, 0, NULL, "yaml: %s", parser->problem ? parser->problem : "cannot read");
  else
    egw__cfg_error(f, (int)parser->problem_mark.line + 1, NULL, "yaml: %s",
                   parser->problem ? parser->problem : "syntax error");
}

int egw__cfg_open(struct egw__cfg_file *f, const char *path, const char *dir, char **out_err,
                  yaml_node_t **out_root) {
  int ret = -1;
  yaml_parser_t parser;
  int parser_ready = 0;
  yaml_document_t extra;
  FILE *in = NULL;
  *f = (struct egw__cfg_file){.path = path, .dir = dir, .out_err = out_err};
  *out_root = NULL;
  in = fopen(path, "rb");
  if (in == NULL) {
    egw__cfg_error(f, 0, NULL, "cannot read: %s", strerror(errno));
    goto end;
  }
  if (!yaml_parser_initialize(&parser)) {
    egw__cfg_nomem(f);
    goto end;
  }
  parser_ready = 1;
  yaml_parser_set_input_file(&parser, in);
  if (!yaml_parser_load(&parser, &f->doc)) {
    syntax_error(f, &parser);
    goto end;
  }
  f->loaded = 1;
  /* A second document would be silently ignored: refuse it instead. */
  if (!yaml_parser_load(&parser, &extra)) {
    syntax_error(f, &parser);
    goto end;
  }
  yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
  int extra_line = extra_root ? egw__cfg_line(extra_root) : 0;
  yaml_document_delete(&extra);
  if (extra_root != NULL) {
    egw__cfg_error(f, extra_line, NULL, "yaml: only one document per file is allowed");
    goto end;
  }
  *out_root = yaml_document_get_root_node(&f->doc);
  ret = 0;
end:
  if (parser_ready)
    yaml_parser_delete(&parser);
  if (in != NULL)
    fclose(in);
  return ret;
}

void egw__cfg_close(struct egw__cfg_file *f) {
  if (f->loaded)
    yaml_document_delete(&f->doc);
  f->loaded = 0;
}

static int is_null(const yaml_node_t *node) {
  if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  const char *v = (const char *)node->data.scalar.value;
  return strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
         strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The text of a non-null scalar, or NULL. */
static const char *scalar_text(const yaml_node_t *node) {
  if (node->type != YAML_SCALAR_NODE || is_null(node))
    return NULL;
  return (const char *)node->data.scalar.value;
}

int egw__cfg_walk(struct egw__cfg_file *f, const char *path, yaml_node_t *map,
                  const struct egw__cfg_key *keys, size_t n_keys, void *obj) {
  char full[192];
  int seen[32] = {0};
  if (map == NULL || map->type != YAML_MAPPING_NODE)
    return egw__cfg_error(f, map ? egw__cfg_line(map) : 1, path[0] ? path : NULL,
                          "must be a mapping");
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = egw__cfg_node(f, p->key);
    yaml_node_t *v = egw__cfg_node(f, p->value);
    const char *name = scalar_text(k);
    if (name == NULL)
      return egw__cfg_error(f, egw__cfg_line(k), path[0] ? path : NULL, "keys must be strings");
    snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", name);
    size_t i = 0;
    while (i < n_keys && strcmp(keys[i].name, name) != 0)
      i++;
    if (i == n_keys)
      return egw__cfg_error(f, egw__cfg_line(k), full, "unknown key");
    if (seen[i])
      return egw__cfg_error(f, egw__cfg_line(k), full, "duplicate key");
    seen[i] = 1;
    struct egw__cfg_at at = {
        .path = full, .key = &keys[i], .key_node = k, .value = v, .line = egw__cfg_line(k)};
    if (keys[i].set(f, &at, obj) != 0)
      return -1;
  }
  for (size_t i = 0; i < n_keys; i++) {
    if (keys[i].required && !seen[i]) {
      snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", keys[i].name);
      return egw__cfg_error(f, egw__cfg_line(map), full, "required key '%s' missing", keys[i].name);
    }
  }
  return 0;
}

const char *egw__cfg_scalar(struct egw__cfg_file *f, const char *key, yaml_node_t *node) {
  const char *v = scalar_text(node);
  if (v == NULL) {
    egw__cfg_error(f, egw__cfg_line(node), key, "must be a string");
    return NULL;
  }
  if (strlen(v) != node->data.scalar.length) {
    egw__cfg_error(f, egw__cfg_line(node), key, "must not contain NUL bytes");
    return NULL;
  }
  if (v[0] == '\0') {
    egw__cfg_error(f, egw__cfg_line(node), key, "must not be empty");
    return NULL;
  }
  return v;
}

int egw__cfg_string(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char **out) {
  const char *v = egw__cfg_scalar(f, key, node);
  if (v == NULL)
    return -1;
  free(*out);
  *out = strdup(v);
  return *out ? 0 : egw__cfg_nomem(f);
}

int egw__cfg_uint(struct egw__cfg_file *f, const char *key, yaml_node_t *node, uint64_t min,
                  uint64_t max, uint64_t *out) {
  const char *v = scalar_text(node);
  int line = egw__cfg_line(node);
  if (v == NULL)
    return egw__cfg_error(f, line, key, "must be an integer");
  const char *digits = v[0] == '-' ? v + 1 : v;
  /* Decimal only: a leading zero would be octal to other YAML readers. */
  if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits) ||
      (digits[0] == '0' && digits[1] != '\0'))
    return egw__cfg_error(f, line, key, "must be an integer");
  uint64_t n = 0;
  int overflow = digits != v;
  for (const char *c = digits; *c && !overflow; c++) {
    uint64_t d = (uint64_t)(*c - '0');
    if (n > (UINT64_MAX - d) / 10)
      overflow = 1;
    else
      n = n * 10 + d;
  }
  if (overflow || n < min || n > max)
    return egw__cfg_error(f, line, key, "must be between %llu and %llu", (unsigned long long)min,
                          (unsigned long long)max);
  *out = n;
  return 0;
}

int egw__cfg_bool(struct egw__cfg_file *f, const char *key, yaml_node_t *node, int *out) {
  const char *v = scalar_text(node);
  if (v != NULL && strcmp(v, "true") == 0)
    *out = 1;
  else if (v != NULL && strcmp(v, "false") == 0)
    *out = 0;
  else
    return egw__cfg_error(f, egw__cfg_line(node), key, "must be true or false");
  return 0;
}

int egw__cfg_seq(struct egw__cfg_file *f, const char *key, yaml_node_t *node,
                 yaml_node_item_t **out_items, size_t *out_n) {
  if (node->type != YAML_SEQUENCE_NODE)
    return egw__cfg_error(f, egw__cfg_line(node), key, "must be a list");
  *out_items = node->data.sequence.items.start;
  *out_n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
  if (*out_n == 0)
    return egw__cfg_error(f, egw__cfg_line(node), key, "must not be empty");
  return 0;
}

char *egw__cfg_join(const char *dir, const char *name) {
  char *out = NULL;
  if (name[0] == '/')
    return strdup(name);
  if (asprintf(&out, "%s/%s", dir, name) < 0)
    return NULL;
  return out;
}

int egw__cfg_path(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char **out) {
  const char *v = egw__cfg_scalar(f, key, node);
  if (v == NULL)
    return -1;
  char *joined = egw__cfg_join(f->dir, v);
  if (joined == NULL)
    return egw__cfg_nomem(f);
  struct stat st;
  int err = 0;
  if (access(joined, R_OK) != 0)
    err = errno;
  else if (stat(joined, &st) == 0 && S_ISDIR(st.st_mode))
    err = EISDIR;
  if (err != 0) {
    egw__cfg_error(f, egw__cfg_line(node), key, "cannot read '%s': %s", joined, strerror(err));
    free(joined);
    return -1;
  }
  free(*out);
  *out = joined;
  return 0;
}

int egw__cfg_paths(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char ***out,
                   size_t *out_n) {
  yaml_node_item_t *items = NULL;
  size_t n = 1;
  if (node->type == YAML_SEQUENCE_NODE) {
    if (egw__cfg_seq(f, key, node, &items, &n) != 0)
      return -1;
  } else if (scalar_text(node) == NULL) {
    return egw__cfg_error(f, egw__cfg_line(node), key, "must be a string or a list of strings");
  }
  /* The vector is filled in place and counted as allocated, so the caller's free
   * handles a failure part way. */
  *out = calloc(n, sizeof(char *));
  if (*out == NULL)
    return egw__cfg_nomem(f);
  *out_n = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = items ? egw__cfg_node(f, items[i]) : node;
    if (egw__cfg_path(f, key, item, &(*out)[i]) != 0)
      return -1;
  }
  return 0;
}

int egw__cfg_set_u32(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  uint64_t v = 0;
  if (egw__cfg_uint(f, at->path, at->value, at->key->min, at->key->max, &v) != 0)
    return -1;
  *(uint32_t *)((char *)obj + at->key->offset) = (uint32_t)v;
  return 0;
}

int egw__cfg_set_u64(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  uint64_t v = 0;
  if (egw__cfg_uint(f, at->path, at->value, at->key->min, at->key->max, &v) != 0)
    return -1;
  *(uint64_t *)((char *)obj + at->key->offset) = v;
  return 0;
}

int egw__cfg_set_bool(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_bool(f, at->path, at->value, (int *)((char *)obj + at->key->offset));
}

void egw__cfg_free_strings(char **v, size_t n) {
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static const char *bad_scope_char(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (!(c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)))
      return s;
  }
  return NULL;
}

int egw__cfg_scopes(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char ***out,
                    size_t *out_n) {
  yaml_node_item_t *items = NULL;
  size_t n = 0;
  const char *text = NULL;
  int line = egw__cfg_line(node);
  if (node->type == YAML_SEQUENCE_NODE) {
    if (egw__cfg_seq(f, key, node, &items, &n) != 0)
      return -1;
  } else if (scalar_text(node) != NULL) {
    if ((text = egw__cfg_scalar(f, key, node)) == NULL)
      return -1;
    for (const char *s = text + strspn(text, " "); *s; s += strspn(s, " ")) {
      n++;
      s += strcspn(s, " ");
    }
    if (n == 0)
      return egw__cfg_error(f, line, key, "must not be empty");
  } else {
    return egw__cfg_error(f, line, key, "must be a list of scopes or one string of scopes");
  }
  *out = calloc(n, sizeof(char *));
  if (*out == NULL)
    return egw__cfg_nomem(f);
  *out_n = n;
  const char *s = text;
  for (size_t i = 0; i < n; i++) {
    if (items != NULL) {
      yaml_node_t *item = egw__cfg_node(f, items[i]);
      if (egw__cfg_string(f, key, item, &(*out)[i]) != 0)
        return -1;
      line = egw__cfg_line(item);
    } else {
      s += strspn(s, " ");
      size_t len = strcspn(s, " ");
      (*out)[i] = strndup(s, len);
      if ((*out)[i] == NULL)
        return egw__cfg_nomem(f);
      s += len;
    }
    if (bad_scope_char((*out)[i]) != NULL)
      return egw__cfg_error(f, line, key,
                            "invalid scope '%s': printable ASCII only, without spaces, '\"' "
                            "or '\\'",
                            (*out)[i]);
  }
  return 0;
}
