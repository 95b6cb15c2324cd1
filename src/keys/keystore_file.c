/* Static PSK files: "<identity> <hex key>" per line. The file is read with read(2), not
 * stdio, so that no library buffer we cannot wipe ever holds key material. Errors name
 * the line and what is wrong, never the text of the line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/mem.h>

#include "keys/keystore.h"
#include "util/encoding.h"
#include "util/errors.h"
#include "util/format.h"

#define MAX_FILE_BYTES (4u << 20)

struct parsed {
  char *identity; /* points into the file buffer */
  uint8_t key[EGW_PSK_MAX_LEN];
  size_t key_len;
  int line;
};

static int read_all(const char *path, char **out_buf, size_t *out_len, char **out_err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *out_err = egw_format("%s: cannot open: %s", path, strerror(errno));
    return EGW_ERR_IO;
  }
  int rc = EGW_ERR_IO;
  char *buf = NULL;
  size_t len = 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *out_err = egw_format("%s: not a regular file", path);
    goto end;
  }
  if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
    *out_err = egw_format("%s: file too large", path);
    rc = EGW_ERR_LIMIT;
    goto end;
  }
  size_t cap = (size_t)st.st_size + 1;
  buf = malloc(cap);
  if (buf == NULL) {
    *out_err = egw_format("%s: out of memory", path);
    rc = EGW_ERR_NOMEM;
    goto end;
  }
  while (len < cap - 1) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      *out_err = egw_format("%s: cannot read: %s", path, strerror(errno));
      goto end;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  *out_buf = buf;
  *out_len = len;
  buf = NULL;
  rc = 0;
end:
  if (buf) {
    OPENSSL_cleanse(buf, cap);
    free(buf);
  }
  close(fd);
  return rc;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* parse_line parses one NUL-terminated line (modified in place) into |p|. Returns 1 for
 * an entry, 0 for a blank or comment line, or -1 with *out_msg set. */
static int parse_line(char *s, struct parsed *p, const char **out_msg) {
  while (is_space(*s))
    s++;
  if (*s == '\0' || *s == '#')
    return 0;
  char *id = s;
  while (*s && !is_space(*s))
    s++;
  size_t id_len = (size_t)(s - id);
  if (*s)
    *s++ = '\0';
  while (is_space(*s))
    s++;
  char *hex = s;
  while (*s && !is_space(*s))
    s++;
  size_t hex_len = (size_t)(s - hex);
  while (is_space(*s))
    s++;
  if (id_len > EGW_PSK_IDENTITY_MAX_LEN) {
    *out_msg = "identity too long (at most 128 bytes)";
    return -1;
  }
  if (hex_len == 0) {
    *out_msg = "missing key (expected \"<identity> <hex key>\")";
    return -1;
  }
  if (*s != '\0' && *s != '#') {
    *out_msg = "unexpected text after the key";
    return -1;
  }
  for (size_t i = 0; i < hex_len; i++) {
    if (egw_hex_digit(hex[i]) < 0) {
      *out_msg = "key is not hex";
      return -1;
    }
  }
  if (hex_len % 2 != 0) {
    *out_msg = "key has an odd number of hex digits";
    return -1;
  }
  if (hex_len / 2 > EGW_PSK_MAX_LEN) {
    *out_msg = "key too long (at most 64 bytes)";
    return -1;
  }
  p->identity = id;
  p->key_len = hex_len / 2;
  for (size_t i = 0; i < p->key_len; i++)
    p->key[i] = (uint8_t)(egw_hex_digit(hex[2 * i]) << 4 | egw_hex_digit(hex[2 * i + 1]));
  return 1;
}

int egw_keystore_load_file(struct egw_keystore *ks, const char *path, char **out_err) {
  char *buf = NULL;
  size_t len = 0;
  int rc = read_all(path, &buf, &len, out_err);
  if (rc != 0)
    return rc;
  struct parsed *items = NULL;
  size_t n = 0, cap = 0;
  int line = 0;
  char *next = buf;
  /* Parse everything first: a file with an error changes nothing in the store. */
  while (next != NULL && *next != '\0') {
    char *cur = next;
    line++;
    next = strchr(cur, '\n');
    if (next)
      *next++ = '\0';
    if (memchr(cur, '\0', (size_t)((next ? next - 1 : buf + len) - cur)) != NULL) {
      *out_err = egw_format("%s:%d: NUL byte in line", path, line);
      rc = EGW_ERR_POLICY;
      goto end;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      struct parsed *grown = calloc(ncap, sizeof(*grown));
      if (grown == NULL) {
        *out_err = egw_format("%s: out of memory", path);
        rc = EGW_ERR_NOMEM;
        goto end;
      }
      if (n) {
        memcpy(grown, items, n * sizeof(*items));
        OPENSSL_cleanse(items, n * sizeof(*items));
      }
      free(items);
      items = grown;
      cap = ncap;
    }
    const char *msg = NULL;
    int r = parse_line(cur, &items[n], &msg);
    if (r < 0) {
      *out_err = egw_format("%s:%d: %s", path, line, msg);
      rc = EGW_ERR_POLICY;
      goto end;
    }
    if (r == 0)
      continue;
    items[n].line = line;
    for (size_t i = 0; i < n; i++) {
      if (strcmp(items[i].identity, items[n].identity) == 0) {
        *out_err =
            egw_format("%s:%d: duplicate identity (first on line %d)", path, line, items[i].line);
        rc = EGW_ERR_POLICY;
        n++; /* so that the key just parsed is wiped too */
        goto end;
      }
    }
    n++;
  }
  for (size_t i = 0; i < n; i++) {
    rc = egw_keystore_put(ks, path, items[i].identity, items[i].key, items[i].key_len, 0);
    if (rc != 0) {
      *out_err = egw_format("%s:%d: %s", path, items[i].line, egw_strerror(rc));
      break;
    }
  }
end:
  if (items) {
    OPENSSL_cleanse(items, cap * sizeof(*items));
    free(items);
  }
  OPENSSL_cleanse(buf, len + 1);
  free(buf);
  return rc;
}
