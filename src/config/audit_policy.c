/* The audit key of site.yaml (site.audit) and of a listener file (listener.audit):
 * exactly one of file: PATH or stream: log|stderr|off. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct audit_parse {
  struct egw_audit_policy *out;
  int seen;
};

/* The file is created at start when missing (appended to otherwise): only its directory
 * must exist, so that a typo is an error now rather than a lost audit trail later. */
static int set_file(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct audit_parse *ap = obj;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  char *path = egw__cfg_join(f->dir, v);
  if (path == NULL)
    return egw__cfg_nomem(f);
  char *slash = strrchr(path, '/');
  struct stat st;
  int dir_ok = 1;
  if (slash && slash != path) {
    *slash = '\0';
    dir_ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    *slash = '/';
  }
  if (!dir_ok || (stat(path, &st) == 0 && !S_ISREG(st.st_mode))) {
    free(path);
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "'%s': the directory does not exist or the path is not a file", v);
  }
  free(ap->out->file);
  ap->out->file = path;
  ap->out->stream = EGW_AUDIT_FILE;
  ap->seen++;
  return 0;
}

static int set_stream(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct audit_parse *ap = obj;
  static const char *const names[] = {
      [EGW_AUDIT_LOG] = "log", [EGW_AUDIT_STDERR] = "stderr", [EGW_AUDIT_OFF] = "off"};
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  for (size_t i = 0; i < ARRAY_LEN(names); i++) {
    if (strcmp(v, names[i]) == 0) {
      ap->out->stream = (enum egw_audit_stream)i;
      ap->seen++;
      return 0;
    }
  }
  return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                        "unknown stream '%s' (expected log, stderr, off)", v);
}

static const struct egw__cfg_key audit_keys[] = {
    {.name = "file", .set = set_file},
    {.name = "stream", .set = set_stream},
};

int egw__cfg_audit(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                   struct egw_audit_policy *out) {
  struct audit_parse ap = {.out = out};
  out->line = egw__cfg_line(at->value);
  if (egw__cfg_walk(f, at->path, at->value, audit_keys, ARRAY_LEN(audit_keys), &ap) != 0)
    return -1;
  if (ap.seen != 1)
    return egw__cfg_error(f, out->line, at->path, "give exactly one of 'file' and 'stream'");
  return 0;
}
