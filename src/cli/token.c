/* edgegw token issue|inspect|verify: the ECS's tokens from the command line, for
 * operators and tests. issue and verify load the site's policies for keys and issuers;
 * inspect only decodes and says so. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/issuers.h"
#include "auth/tokcache.h"
#include "auth/token_verify.h"
#include "cli/cli.h"
#include "config/policy.h"

static void usage(FILE *out) {
  fputs("usage: edgegw token issue --sub S --aud A --scope \"X Y\" [--ttl SECONDS] "
        "[--policies DIR]\n"
        "       edgegw token inspect TOKEN\n"
        "       edgegw token verify TOKEN [--aud A] [--policies DIR]\n"
        "  issue signs with the site ECS's current key; verify checks issuer, key, signature\n"
        "  and expiry (and aud if given) with the site's trusted issuers.\n",
        out);
}

struct options {
  const char *dir, *sub, *aud, *scope, *token;
  long ttl;
};

static int parse(int argc, char **argv, struct options *o) {
  *o = (struct options){.dir = "policies", .ttl = -1};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = strcmp(a, "--policies") == 0 ? &o->dir
                        : strcmp(a, "--sub") == 0    ? &o->sub
                        : strcmp(a, "--aud") == 0    ? &o->aud
                        : strcmp(a, "--scope") == 0  ? &o->scope
                                                     : NULL;
    if (slot && i + 1 < argc) {
      *slot = argv[++i];
    } else if (strcmp(a, "--ttl") == 0 && i + 1 < argc) {
      char *end;
      o->ttl = strtol(argv[++i], &end, 10);
      if (*end || o->ttl <= 0 || o->ttl > 86400) {
        fprintf(stderr, "edgegw token: --ttl must be 1..86400 seconds\n");
        return -1;
      }
    } else if (a[0] != '-' && o->token == NULL) {
      o->token = a;
    } else {
      fprintf(stderr, "edgegw token: unexpected argument '%s'\n", a);
      return -1;
    }
  }
  return 0;
}

static struct egw_issuer_set *load_issuers(const char *dir, struct egw_site_policy **out_policy) {
  char *err = NULL;
  struct egw_site_policy *p = egw_policy_load_dir(dir, &err);
  struct egw_issuer_set *set = p ? egw_issuers_new(p, &err) : NULL;
  if (set == NULL) {
    fprintf(stderr, "edgegw: %s\n", err ? err : "cannot load the policies");
    free(err);
    egw_site_policy_free(p);
    return NULL;
  }
  *out_policy = p;
  return set;
}

static int issue(const struct options *o) {
  if (o->sub == NULL || o->aud == NULL || o->scope == NULL) {
    usage(stderr);
    return 2;
  }
  struct egw_site_policy *p = NULL;
  struct egw_issuer_set *set = load_issuers(o->dir, &p);
  if (set == NULL)
    return 2;
  int rc = 1;
  const struct egw_jwk *key = egw_issuers_signing_key(set);
  if (key == NULL) {
    fprintf(stderr, "edgegw: %s has no \"ecs\" section with signing keys\n", p->site_file);
    rc = 2;
    goto end;
  }
  int64_t now = egw_token_now_s();
  long ttl = o->ttl > 0 ? o->ttl : (long)p->ecs->token_ttl_s;
  json_t *claims =
      json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", p->ecs->id, "sub", o->sub, "aud", o->aud,
                "scope", o->scope, "iat", (json_int_t)now, "exp", (json_int_t)(now + ttl));
  char *token = claims ? egw_jws_sign(key, claims) : NULL;
  json_decref(claims);
  if (token) {
    printf("%s\n", token);
    free(token);
    rc = 0;
  }
end:
  egw_issuers_free(set);
  egw_site_policy_free(p);
  return rc;
}

static int inspect(const struct options *o) {
  struct egw_jws jws;
  memset(&jws, 0, sizeof(jws));
  if (o->token == NULL || egw_jws_decode(o->token, strlen(o->token), &jws) != EGW_JWS_OK) {
    fprintf(stderr, "edgegw token inspect: not a well-formed JWS\n");
    egw_jws_cleanup(&jws);
    return 1;
  }
  json_t *out =
      json_pack("{s:O, s:O, s:b}", "header", jws.header, "payload", jws.payload, "verified", 0);
  json_dumpf(out, stdout, JSON_INDENT(2));
  putchar('\n');
  json_decref(out);
  egw_jws_cleanup(&jws);
  return 0;
}

static int verify(const struct options *o) {
  if (o->token == NULL) {
    usage(stderr);
    return 2;
  }
  struct egw_site_policy *p = NULL;
  struct egw_issuer_set *set = load_issuers(o->dir, &p);
  if (set == NULL)
    return 2;
  struct egw_tokcache *cache = egw_tokcache_new(1, 0);
  struct egw_token_env env = {.cache = cache, .issuers = set};
  struct egw_token_accept accept = {.algs = EGW_JWS_ES256 | EGW_JWS_ES384 | EGW_JWS_RS256 |
                                            EGW_JWS_PS256};
  struct egw_token_claims *claims = NULL;
  const char *reason = "out of memory";
  int rc = 1;
  if (cache &&
      egw_token_verify(&env, &accept, o->token, strlen(o->token), NULL, &claims, &reason) == 0) {
    struct egw_token_expect expect = {.audience = o->aud ? o->aud : claims->aud[0],
                                      .now_s = egw_token_now_s()};
    enum egw_token_check check = egw_token_check_claims(claims, &expect);
    if (check == EGW_TOKEN_VALID) {
      printf("valid: iss=%s sub=%s scope=\"%s\" exp=%lld\n", claims->iss, claims->sub,
             claims->scope, (long long)claims->exp);
      rc = 0;
    } else {
      reason = egw_token_check_reason(check);
    }
    egw_token_claims_free(claims);
  }
  if (rc != 0)
    printf("invalid: %s\n", reason);
  egw_tokcache_free(cache);
  egw_issuers_free(set);
  egw_site_policy_free(p);
  return rc;
}

int egw_cli_token(int argc, char **argv) {
  if (argc < 1) {
    usage(stderr);
    return 2;
  }
  struct options o;
  if (parse(argc - 1, argv + 1, &o) != 0) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[0], "issue") == 0)
    return issue(&o);
  if (strcmp(argv[0], "inspect") == 0)
    return inspect(&o);
  if (strcmp(argv[0], "verify") == 0)
    return verify(&o);
  usage(strcmp(argv[0], "help") == 0 ? stdout : stderr);
  return strcmp(argv[0], "help") == 0 ? 0 : 2;
}
