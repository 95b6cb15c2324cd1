#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys/keystore.h"
#include "util/errors.h"

static const uint8_t k1[4] = {1, 2, 3, 4};
static const uint8_t k2[5] = {9, 8, 7, 6, 5};

Test(keystore, put_get_and_replace) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_not_null(ks);
  cr_assert_eq(egw_keystore_put(ks, NULL, "eec1", k1, sizeof(k1), 0), 0);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, NULL, "eec1", out, sizeof(out), 100), sizeof(k1));
  cr_assert_arr_eq(out, k1, sizeof(k1));
  cr_assert_eq(egw_keystore_get(ks, NULL, "eec", out, sizeof(out), 100), 0);
  cr_assert_eq(egw_keystore_get(ks, NULL, "eec12", out, sizeof(out), 100), 0);

  cr_assert_eq(egw_keystore_put(ks, NULL, "eec1", k2, sizeof(k2), 0), 0);
  cr_assert_eq(egw_keystore_size(ks), 1);
  cr_assert_eq(egw_keystore_get(ks, NULL, "eec1", out, sizeof(out), 100), sizeof(k2));
  cr_assert_arr_eq(out, k2, sizeof(k2));
  /* Does not fit: nothing copied. */
  cr_assert_eq(egw_keystore_get(ks, NULL, "eec1", out, 4, 100), 0);
  egw_keystore_free(ks);
}

Test(keystore, realms) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, "a.psk", "x", k1, sizeof(k1), 0), 0);
  cr_assert_eq(egw_keystore_put(ks, "b.psk", "x", k2, sizeof(k2), 0), 0);
  cr_assert_eq(egw_keystore_put(ks, NULL, "site", k2, sizeof(k2), 0), 0);
  cr_assert_eq(egw_keystore_size(ks), 3);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "x", out, sizeof(out), 0), sizeof(k1));
  cr_assert_arr_eq(out, k1, sizeof(k1));
  cr_assert_eq(egw_keystore_get(ks, "b.psk", "x", out, sizeof(out), 0), sizeof(k2));
  cr_assert_eq(egw_keystore_get(ks, "c.psk", "x", out, sizeof(out), 0), 0);
  cr_assert_eq(egw_keystore_get(ks, NULL, "x", out, sizeof(out), 0), 0);
  /* Site-wide keys are visible in every realm. */
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "site", out, sizeof(out), 0), sizeof(k2));
  cr_assert_eq(egw_keystore_get(ks, NULL, "site", out, sizeof(out), 0), sizeof(k2));
  /* The realm's own key wins over a site-wide one with the same identity. */
  cr_assert_eq(egw_keystore_put(ks, NULL, "x", k2, 2, 0), 0);
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "x", out, sizeof(out), 0), sizeof(k1));
  cr_assert_eq(egw_keystore_get(ks, "c.psk", "x", out, sizeof(out), 0), 2);
  egw_keystore_free(ks);
}

Test(keystore, expiry) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, NULL, "short", k1, sizeof(k1), 1000), 0);
  cr_assert_eq(egw_keystore_put(ks, NULL, "forever", k2, sizeof(k2), 0), 0);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, NULL, "short", out, sizeof(out), 999), sizeof(k1));
  cr_assert_eq(egw_keystore_size(ks), 2);
  cr_assert_eq(egw_keystore_get(ks, NULL, "short", out, sizeof(out), 1000), 0);
  cr_assert_eq(egw_keystore_size(ks), 1, "the expired key is dropped by the lookup");
  cr_assert_eq(egw_keystore_get(ks, NULL, "forever", out, sizeof(out), UINT64_MAX - 1), sizeof(k2));
  egw_keystore_free(ks);
}

Test(keystore, limits) {
  struct egw_keystore *ks = egw_keystore_new();
  uint8_t big[EGW_PSK_MAX_LEN + 1] = {0};
  char id[EGW_PSK_IDENTITY_MAX_LEN + 2];
  memset(id, 'a', sizeof(id) - 1);
  id[sizeof(id) - 1] = '\0';
  cr_assert_eq(egw_keystore_put(ks, NULL, id, k1, sizeof(k1), 0), EGW_ERR_LIMIT);
  id[EGW_PSK_IDENTITY_MAX_LEN] = '\0';
  cr_assert_eq(egw_keystore_put(ks, NULL, id, k1, sizeof(k1), 0), 0);
  cr_assert_eq(egw_keystore_put(ks, NULL, "", k1, sizeof(k1), 0), EGW_ERR_LIMIT);
  cr_assert_eq(egw_keystore_put(ks, NULL, "x", k1, 0, 0), EGW_ERR_LIMIT);
  cr_assert_eq(egw_keystore_put(ks, NULL, "x", big, sizeof(big), 0), EGW_ERR_LIMIT);
  cr_assert_eq(egw_keystore_put(ks, NULL, "x", big, EGW_PSK_MAX_LEN, 0), 0);
  cr_assert_eq(egw_keystore_size(ks), 2);
  egw_keystore_free(ks);
}

Test(keystore, many_entries) {
  struct egw_keystore *ks = egw_keystore_new();
  char id[32];
  for (int i = 0; i < 300; i++) {
    snprintf(id, sizeof(id), "id-%d", i);
    uint8_t key[2] = {(uint8_t)i, (uint8_t)(i >> 8)};
    cr_assert_eq(egw_keystore_put(ks, (i % 2) ? "odd" : NULL, id, key, 2, 0), 0);
  }
  cr_assert_eq(egw_keystore_size(ks), 300);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, "odd", "id-257", out, sizeof(out), 0), 2);
  cr_assert_eq(out[0], 1);
  cr_assert_eq(out[1], 1);
  cr_assert_eq(egw_keystore_get(ks, NULL, "id-257", out, sizeof(out), 0), 0);
  cr_assert_eq(egw_keystore_get(ks, NULL, "id-256", out, sizeof(out), 0), 2);
  egw_keystore_free(ks);
}

/* ---- static PSK files ------------------------------------------------------------ */

static char *write_tmp(const char *content) {
  char *path = strdup("/tmp/egw-psk-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  size_t n = strlen(content);
  cr_assert_eq(write(fd, content, n), (ssize_t)n);
  close(fd);
  return path;
}

#define HEX32 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

Test(keystore_file, loads_lines_into_the_realm) {
  char *path = write_tmp("# comment\n\n  alice " HEX32 "  \r\n"
                         "bob\tDEADBEEF # trailing comment\n"
                         "carol 0102");
  struct egw_keystore *ks = egw_keystore_new();
  char *err = NULL;
  cr_assert_eq(egw_keystore_load_file(ks, path, &err), 0, "%s", err ? err : "");
  cr_assert_eq(egw_keystore_size(ks), 3);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, path, "alice", out, sizeof(out), 0), 32);
  cr_assert_eq(out[1], 0x11);
  cr_assert_eq(out[31], 0xff);
  cr_assert_eq(egw_keystore_get(ks, path, "bob", out, sizeof(out), 0), 4);
  cr_assert_eq(out[0], 0xde);
  cr_assert_eq(egw_keystore_get(ks, path, "carol", out, sizeof(out), 0), 2);
  cr_assert_eq(egw_keystore_get(ks, NULL, "alice", out, sizeof(out), 0), 0,
               "file keys are scoped to the file's realm");
  egw_keystore_free(ks);
  unlink(path);
  free(path);
}

Test(keystore_file, demo_psk) {
  if (access("certs/out/demo.psk", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
  struct egw_keystore *ks = egw_keystore_new();
  char *err = NULL;
  cr_assert_eq(egw_keystore_load_file(ks, "certs/out/demo.psk", &err), 0, "%s", err ? err : "");
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, "certs/out/demo.psk", "demo-eec1", out, sizeof(out), 0), 32);
  egw_keystore_free(ks);
}

static void expect_error(const char *content, const char *expected_suffix, const char *secret) {
  char *path = write_tmp(content);
  struct egw_keystore *ks = egw_keystore_new();
  char *err = NULL;
  cr_assert_neq(egw_keystore_load_file(ks, path, &err), 0, "accepted: %s", content);
  cr_assert_not_null(err);
  char want[512];
  snprintf(want, sizeof(want), "%s%s", path, expected_suffix);
  cr_assert_str_eq(err, want);
  if (secret)
    cr_assert_null(strstr(err, secret), "key material in: %s", err);
  cr_assert_eq(egw_keystore_size(ks), 0, "a bad file changes nothing");
  free(err);
  egw_keystore_free(ks);
  unlink(path);
  free(path);
}

Test(keystore_file, errors_name_the_line_not_the_key) {
  expect_error("# c\nok " HEX32 "\nbad 00112233zz\n", ":3: key is not hex", "00112233");
  expect_error("lonely\n", ":1: missing key (expected \"<identity> <hex key>\")", NULL);
  expect_error("a 0011\nb 00112\n", ":2: key has an odd number of hex digits", "00112");
  expect_error("a " HEX32 HEX32 "00\n", ":1: key too long (at most 64 bytes)", HEX32);
  expect_error("a " HEX32 "\n\na aabb\n", ":3: duplicate identity (first on line 1)", "aabb");
  expect_error("a " HEX32 " extra\n", ":1: unexpected text after the key", HEX32);
  char line[400];
  memset(line, 'i', 129);
  snprintf(line + 129, sizeof(line) - 129, " %s\n", HEX32);
  expect_error(line, ":1: identity too long (at most 128 bytes)", HEX32);
}

Test(keystore_file, missing_file) {
  struct egw_keystore *ks = egw_keystore_new();
  char *err = NULL;
  cr_assert_neq(egw_keystore_load_file(ks, "/nonexistent/x.psk", &err), 0);
  cr_assert_str_eq(err, "/nonexistent/x.psk: cannot open: No such file or directory");
  free(err);
  egw_keystore_free(ks);
}

/* A reload: the file realms become exactly the new files' keys; fetched keys stay. */
Test(keystore_reload, replace_scoped_keeps_fetched_keys) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, NULL, "kedge-1", k1, sizeof(k1), 0), 0);
  cr_assert_eq(egw_keystore_put(ks, "a.psk", "alice", k1, sizeof(k1), 0), 0);
  cr_assert_eq(egw_keystore_put(ks, "a.psk", "bob", k1, sizeof(k1), 0), 0);
  cr_assert_eq(egw_keystore_put(ks, "old.psk", "olga", k1, sizeof(k1), 0), 0);
  struct egw_keystore *next = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(next, "a.psk", "alice", k2, sizeof(k2), 0), 0);
  cr_assert_eq(egw_keystore_put(next, "a.psk", "carol", k2, sizeof(k2), 0), 0);
  cr_assert_eq(egw_keystore_put(next, NULL, "stray", k2, sizeof(k2), 0), 0);
  cr_assert_eq(egw_keystore_replace_scoped(ks, next), 0);

  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, NULL, "kedge-1", out, sizeof(out), 0), sizeof(k1),
               "a fetched key survives the reload");
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "alice", out, sizeof(out), 0), sizeof(k2),
               "a changed key takes the new value");
  cr_assert_eq(out[0], 9);
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "carol", out, sizeof(out), 0), sizeof(k2),
               "a new identity works");
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "bob", out, sizeof(out), 0), 0,
               "an identity removed from the file stops working");
  cr_assert_eq(egw_keystore_get(ks, "old.psk", "olga", out, sizeof(out), 0), 0,
               "a file no longer named loses its keys");
  cr_assert_eq(egw_keystore_get(ks, NULL, "stray", out, sizeof(out), 0), 0,
               "site-wide keys of the new store are not moved");
  cr_assert_eq(egw_keystore_size(ks), 3);
  cr_assert_eq(egw_keystore_size(next), 1);
  egw_keystore_free(next);
  egw_keystore_free(ks);
}

Test(keystore_reload, replace_scoped_with_nothing) {
  struct egw_keystore *ks = egw_keystore_new();
  struct egw_keystore *next = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, "a.psk", "alice", k1, sizeof(k1), 0), 0);
  cr_assert_eq(egw_keystore_replace_scoped(ks, next), 0);
  cr_assert_eq(egw_keystore_size(ks), 0);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(ks, "a.psk", "alice", out, sizeof(out), 0), 0);
  egw_keystore_free(next);
  egw_keystore_free(ks);
}
