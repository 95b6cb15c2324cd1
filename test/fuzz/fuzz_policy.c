/* libFuzzer: the policy parser (src/config/), through its entry point
 * egw_policy_load_dir. The input is a policy directory in one text: site.yaml first,
 * then each further interface file after a line "#--". The directory also holds empty
 * readable files (ca.pem, crl.pem, k.key, k.pem, psk) so that seeds naming them get past
 * the path checks into the deeper ones. A refusal must always carry a message. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/policy.h"

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t len) {
  char path[128];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f)
    abort();
  if (len && fwrite(data, 1, len, f) != len)
    abort();
  fclose(f);
}

static void clear_yaml(void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[512];
  while (d && (e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > 5 && strcmp(e->d_name + n - 5, ".yaml") == 0) {
      snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
      unlink(path);
    }
  }
  if (d)
    closedir(d);
}

static void cleanup(void) {
  clear_yaml();
  static const char *const files[] = {"ca.pem", "crl.pem", "k.key", "k.pem", "psk"};
  char path[128];
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof(dir), "/tmp/egw-fuzz-policy-XXXXXX");
    if (!mkdtemp(dir))
      abort();
    put("ca.pem", NULL, 0), put("crl.pem", NULL, 0), put("k.key", NULL, 0);
    put("k.pem", NULL, 0), put("psk", NULL, 0);
    atexit(cleanup);
  }
  clear_yaml();
  static const char sep[] = "\n#--\n";
  size_t start = 0;
  int n = 0;
  while (start <= size && n < 8) {
    const uint8_t *hit = size - start >= sizeof(sep) - 1
                             ? memmem(data + start, size - start, sep, sizeof(sep) - 1)
                             : NULL;
    size_t end = hit ? (size_t)(hit - data) : size;
    char name[32];
    if (n == 0)
      snprintf(name, sizeof(name), "site.yaml");
    else
      snprintf(name, sizeof(name), "if%d.yaml", n);
    put(name, data + start, end - start);
    n++;
    if (!hit)
      break;
    start = end + sizeof(sep) - 1;
  }
  char *err = NULL;
  struct egw_site_policy *p = egw_policy_load_dir(dir, &err);
  if (!p && !err)
    abort(); /* every refusal says file:line: why */
  egw_site_policy_free(p);
  free(err);
  return 0;
}
