/* Values that several sections of a policy share: https URLs (issuer endpoints, the
 * base URLs of the ECS, EES and EAS), client certificate pairs and lists of ids. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define URL_MAX 2048

static int is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1123 host name: dot-separated labels of 1..63 letters, digits and '-', not
 * starting or ending with '-'; 253 characters at most. */
static int dns_name_ok(const char *s, size_t len) {
  size_t label = 0;
  if (len == 0 || len > 253)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-')
        return 0;
      label = 0;
    } else if (is_alnum(c) || c == '-') {
      if (c == '-' && label == 0)
        return 0;
      if (++label > 63)
        return 0;
    } else {
      return 0;
    }
  }
  return label > 0 && s[len - 1] != '-';
}

int egw__cfg_https_url(struct egw__cfg_file *f, const char *key, int line, const char *url,
                       enum egw__url_kind kind) {
  static const char scheme[] = "https://";
  size_t len = strlen(url);
  if (len > URL_MAX)
    return egw__cfg_error(f, line, key, "must be at most %d characters", URL_MAX);
  for (const char *c = url; *c; c++) {
    if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
      return egw__cfg_error(f, line, key,
                            "must be printable ASCII without spaces (percent-encode the rest)");
  }
  if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
    return egw__cfg_error(f, line, key, "'%s' must be an https:// URL", url);
  if (strchr(url, '#') != NULL)
    return egw__cfg_error(f, line, key, "'%s': a fragment ('#') is not allowed", url);
  const char *auth = url + sizeof(scheme) - 1;
  size_t auth_len = strcspn(auth, "/?");
  const char *path = auth + auth_len;
  if (memchr(auth, '@', auth_len) != NULL)
    return egw__cfg_error(f, line, key, "'%s': user information (user@host) is not allowed", url);
  const char *host = auth, *port = NULL;
  size_t host_len;
  if (auth[0] == '[') {
    const char *end = memchr(auth, ']', auth_len);
    char buf[64];
    unsigned char addr[16];
    if (end == NULL)
      return egw__cfg_error(f, line, key, "'%s': missing ']' after the IPv6 address", url);
    host_len = (size_t)(end - auth) + 1;
    if (host_len - 2 >= sizeof(buf))
      return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv6 address", url, (int)host_len,
                            host);
    memcpy(buf, auth + 1, host_len - 2);
    buf[host_len - 2] = '\0';
    if (inet_pton(AF_INET6, buf, addr) != 1)
      return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv6 address", url, (int)host_len,
                            host);
    if (host_len < auth_len && auth[host_len] != ':')
      return egw__cfg_error(f, line, key, "'%s': expected ':port' or a path after '%.*s'", url,
                            (int)host_len, host);
  } else {
    const char *colon = memchr(auth, ':', auth_len);
    host_len = colon ? (size_t)(colon - auth) : auth_len;
    if (host_len == 0)
      return egw__cfg_error(f, line, key, "'%s': the host is missing", url);
    if (strspn(host, "0123456789.") >= host_len) {
      char buf[16];
      unsigned char addr[4];
      if (host_len >= sizeof(buf))
        return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv4 address", url,
                              (int)host_len, host);
      memcpy(buf, host, host_len);
      buf[host_len] = '\0';
      if (inet_pton(AF_INET, buf, addr) != 1)
        return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv4 address", url,
                              (int)host_len, host);
    } else if (!dns_name_ok(host, host_len)) {
      return egw__cfg_error(f, line, key,
                            "'%s': invalid host '%.*s' (expected an IPv4 address, [IPv6] or a "
                            "DNS name)",
                            url, (int)host_len, host);
    }
  }
  if (host_len < auth_len) {
    port = auth + host_len + 1;
    size_t port_len = auth_len - host_len - 1;
    unsigned long n = 0;
    int ok = port_len > 0 && port_len <= 5 && strspn(port, "0123456789") >= port_len;
    for (size_t i = 0; ok && i < port_len; i++)
      n = n * 10 + (unsigned long)(port[i] - '0');
    if (!ok || n < 1 || n > 65535)
      return egw__cfg_error(f, line, key, "'%s': invalid port '%.*s' (expected 1..65535)", url,
                            (int)port_len, port);
  }
  if (kind == EGW__URL_BASE) {
    if (strchr(path, '?') != NULL)
      return egw__cfg_error(f, line, key, "'%s': a base URL takes no query ('?')", url);
    return 0;
  }
  if (path[0] != '/')
    return egw__cfg_error(f, line, key, "'%s': needs a path starting with '/'", url);
  return 0;
}

int egw__cfg_url(struct egw__cfg_file *f, const char *key, yaml_node_t *node,
                 enum egw__url_kind kind, char **out) {
  if (egw__cfg_string(f, key, node, out) != 0)
    return -1;
  if (egw__cfg_https_url(f, key, egw__cfg_line(node), *out, kind) != 0)
    return -1;
  /* The APIs are appended to a base URL: "https://h:1/" and "https://h:1" are the same
   * base, stored without the slash. */
  size_t len = strlen(*out);
  while (kind == EGW__URL_BASE && len > sizeof("https://") && (*out)[len - 1] == '/')
    (*out)[--len] = '\0';
  return 0;
}

/* ---- client certificate pairs ---------------------------------------------------------- */

struct egw__cfg_pair_out {
  char **cert;
  char **key;
};

static int set_pair_cert(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_path(f, at->path, at->value, ((struct egw__cfg_pair_out *)obj)->cert);
}

static int set_pair_key(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_path(f, at->path, at->value, ((struct egw__cfg_pair_out *)obj)->key);
}

/* Both files or no section at all: a certificate without its key cannot be presented. */
static const struct egw__cfg_key pair_keys[] = {
    {.name = "cert", .set = set_pair_cert, .required = 1},
    {.name = "key", .set = set_pair_key, .required = 1},
};

int egw__cfg_client_pair(struct egw__cfg_file *f, const struct egw__cfg_at *at, char **cert,
                         char **key) {
  struct egw__cfg_pair_out out = {.cert = cert, .key = key};
  return egw__cfg_walk(f, at->path, at->value, pair_keys, ARRAY_LEN(pair_keys), &out);
}

/* ---- lists of ids ---------------------------------------------------------------------- */

int egw__cfg_ids(struct egw__cfg_file *f, const char *key, yaml_node_t *node, char ***out,
                 size_t *out_n) {
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, key, node, &items, &n) != 0)
    return -1;
  *out = calloc(n, sizeof(char *));
  if (*out == NULL)
    return egw__cfg_nomem(f);
  *out_n = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    if (egw__cfg_string(f, key, item, &(*out)[i]) != 0)
      return -1;
    for (size_t k = 0; k < i; k++) {
      if (strcmp((*out)[k], (*out)[i]) == 0)
        return egw__cfg_error(f, egw__cfg_line(item), key, "'%s' is listed twice", (*out)[i]);
    }
  }
  return 0;
}

int egw__cfg_copy_strings(struct egw__cfg_file *f, const char *const *v, size_t n, char ***out,
                          size_t *out_n) {
  if (n == 0)
    return 0;
  *out = calloc(n, sizeof(char *));
  if (*out == NULL)
    return egw__cfg_nomem(f);
  *out_n = n;
  for (size_t i = 0; i < n; i++) {
    (*out)[i] = strdup(v[i]);
    if ((*out)[i] == NULL)
      return egw__cfg_nomem(f);
  }
  return 0;
}

int egw__cfg_host_port(struct egw__cfg_file *f, const char *key, yaml_node_t *node,
                       int allow_localhost, char **out_host, uint16_t *out_port) {
  int line = egw__cfg_line(node);
  const char *v = egw__cfg_scalar(f, key, node);
  if (v == NULL)
    return -1;
  const char *forms =
      allow_localhost ? "IPv4:port, [IPv6]:port or localhost:port" : "IPv4:port or [IPv6]:port";
  const char *host = v, *host_end, *port;
  int v6 = v[0] == '[';
  if (v6) {
    host = v + 1;
    host_end = strchr(host, ']');
    if (host_end == NULL || host_end[1] != ':')
      return egw__cfg_error(f, line, key, "'%s' must be [IPv6]:port", v);
    port = host_end + 2;
  } else {
    host_end = strrchr(v, ':');
    if (host_end == NULL)
      return egw__cfg_error(f, line, key, "'%s' must be %s", v, forms);
    if (memchr(v, ':', (size_t)(host_end - v)) != NULL)
      return egw__cfg_error(f, line, key, "'%s': an IPv6 address goes in brackets, as [::1]:port",
                            v);
    port = host_end + 1;
  }
  char addr[INET6_ADDRSTRLEN + 1];
  size_t host_len = (size_t)(host_end - host);
  unsigned char bin[16];
  if (host_len == 0 || host_len >= sizeof(addr))
    return egw__cfg_error(f, line, key, "'%s': host must be an IP address literal%s", v,
                          allow_localhost ? " or localhost" : "");
  memcpy(addr, host, host_len);
  addr[host_len] = '\0';
  if (allow_localhost && !v6 && strcmp(addr, "localhost") == 0)
    strcpy(addr, "127.0.0.1");
  else if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
    return egw__cfg_error(
        f, line, key, "'%s': '%s' is not an %s", v, addr,
        v6 ? "IPv6 address literal"
           : (allow_localhost ? "IPv4 address literal or localhost" : "IPv4 address literal"));
  unsigned long n = 0;
  size_t digits = strspn(port, "0123456789");
  if (digits == 0 || port[digits] != '\0')
    return egw__cfg_error(f, line, key, "'%s': port must be a number", v);
  for (size_t i = 0; i < digits && n <= 65535; i++)
    n = n * 10 + (unsigned long)(port[i] - '0');
  if (n < 1 || n > 65535)
    return egw__cfg_error(f, line, key, "'%s': port must be between 1 and 65535", v);
  *out_host = strdup(addr);
  *out_port = (uint16_t)n;
  return *out_host ? 0 : egw__cfg_nomem(f);
}
