#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

static char dir[64];

const char *fx_dir(void) { return dir; }

void fx_write(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

void fx_remove(const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  cr_assert_eq(unlink(path), 0, "%s", path);
}

void fx_init(void) {
  char path[256];
  strcpy(dir, "/tmp/egw-config-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/certs", dir);
  cr_assert_eq(mkdir(path, 0700), 0);
  fx_write("certs/ca.pem", "ca\n");
  fx_write("certs/crl.pem", "crl\n");
  fx_write("certs/srv.pem", "cert\n");
  fx_write("certs/srv.key", "key\n");
  fx_write("certs/demo.psk", "demo-eec1 00112233445566778899aabbccddeeff\n");
  fx_write("site.yaml", FX_SITE);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

void fx_fini(void) {
  if (dir[0] != '\0') {
    chmod(dir, 0700);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  }
}

struct egw_site_policy *fx_load(void) {
  char *err = NULL;
  struct egw_site_policy *p = egw_policy_load_dir(dir, &err);
  cr_assert_not_null(p, "unexpected error: %s", err ? err : "(none)");
  cr_assert_null(err);
  return p;
}

char *fx_error(void) {
  char *err = NULL;
  struct egw_site_policy *p = egw_policy_load_dir(dir, &err);
  cr_assert_null(p, "loaded a policy that should fail");
  cr_assert_not_null(err);
  /* Replace every occurrence of the directory by "D". */
  size_t dl = strlen(dir);
  char *out = malloc(strlen(err) + 1);
  cr_assert_not_null(out);
  const char *s = err;
  char *o = out;
  while (*s) {
    if (strncmp(s, dir, dl) == 0) {
      *o++ = 'D';
      s += dl;
    } else {
      *o++ = *s++;
    }
  }
  *o = '\0';
  free(err);
  return out;
}

void fx_expect_error(const char *expected) {
  char *err = fx_error();
  cr_assert_str_eq(err, expected);
  free(err);
}

void fx_listener_error(const char *text, const char *expected) {
  fx_write("l.yaml", text);
  fx_expect_error(expected);
}

void fx_site_error(const char *site, const char *expected) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", site);
  fx_expect_error(expected);
}

void fx_assert_path(const char *got, const char *rel) {
  char *want = NULL;
  cr_assert_geq(asprintf(&want, "%s/%s", fx_dir(), rel), 0);
  cr_assert_str_eq(got, want);
  free(want);
}
