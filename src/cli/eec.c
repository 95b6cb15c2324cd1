/* edgegw eec: an edge enabler client (the UE side of EDGE-4 and EDGE-1) for demos and
 * for trying a site: provision at the ECS, register at the EES, discover EASes, call
 * one, with the tokens each answer hands on. The steps run on a libuv loop with the
 * gateway's own HTTPS client (mutual TLS with the EEC certificate). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/eec_internal.h"
#include "keys/truststore.h"

static void usage(FILE *out) {
  fputs("usage: edgegw eec <command> [options]\n"
        "\n"
        "An edge enabler client. Every command starts with EDGE-4 service provisioning at the\n"
        "ECS, which names the EES and hands the EDGE-1 token for it; the EAS and its token come\n"
        "from discovery at that EES. Each HTTP exchange is one step in the output.\n"
        "\n"
        "commands:\n"
        "  demo        provision, register, discover, eas-call, wait until the EAS token has\n"
        "              expired, eas-call-expired (401), refresh (re-discover), eas-call-retry,\n"
        "              deregister\n"
        "  provision   provision only\n"
        "  register    provision, register (the registration stays; its URL is printed)\n"
        "  discover    provision, discover\n"
        "  call        provision, discover, call the EAS (GET --path)\n"
        "  deregister  provision, delete the registration given with --registration\n"
        "\n"
        "options:\n"
        "  --json               one JSON line per step: {\"step\", \"status\", \"body\"}, with "
        "every\n"
        "                       access_token value replaced by \"<redacted>\"\n"
        "  --ecs URL            the ECS's EDGE-4 base URL (default https://127.0.0.1:8443)\n"
        "  --eec-id ID          the eecId (default spiffe://site1/eec/eec1)\n"
        "  --cert FILE          the EEC's client certificate (default certs/out/eec1.pem)\n"
        "  --key FILE           its private key (default certs/out/eec1.key)\n"
        "  --ca FILE            CA certificates servers are verified against\n"
        "                       (default certs/out/ca.pem)\n"
        "  --ees-id ID          use the EES with this eesId, not the first one provisioned\n"
        "  --eas-id ID          ask for this EAS (acProfs, easDiscoveryFilter) and use it\n"
        "  --path PATH          the EAS request path (default /)\n"
        "  --registration URL   deregister: the registration to delete\n"
        "  --timeout-ms N       deadline of each request (default 5000)\n"
        "  --max-wait-s N       demo: longest wait for the EAS token to expire (default 30)\n"
        "  --auth psk           the TLS-PSK proposal instead of the EEC certificate (commands\n"
        "                       provision and call): derive Kedge and the Kedge-ID from --supi\n"
        "                       and --kausf, send the authentication request to the ECS\n"
        "                       (psk-auth, server-certificate TLS), then for call GET --path\n"
        "                       (default /whoami) over TLS 1.2 PSK at --psk-url (psk-call)\n"
        "  --supi DIGITS        --auth psk: the SUPI (IMSI digits; MCC, MNC from its start)\n"
        "  --kausf HEX          --auth psk: KAUSF, 64 hex digits (never printed)\n"
        "  --rid R              --auth psk: the routing indicator (default 0)\n"
        "  --psk-url URL        --auth psk|kecs: the PSK listener (default https://127.0.0.1:8446)\n"
        "  --auth kecs          KECS-PSK (TR 33.839 sol. 4; commands provision and call): ask\n"
        "                       the ECS for a counter over mutual TLS (kecs-counter, --cert),\n"
        "                       derive KECS-PSK from --msk, the ECS id and the counter, then\n"
        "                       for call GET --path over TLS 1.2 PSK as kecs:<eecId>:<counter>\n"
        "  --msk HEX            --auth kecs: the MSK, 64 to 128 hex digits (never printed)\n"
        "\n"
        "Tokens travel as \"Authorization: Bearer\". A request of a single-step command that is\n"
        "answered 401 gets a fresh token (re-provision for EDGE-1, re-discover for an EAS) and\n"
        "is retried once. Exit status: 0 when every step answered as expected, 1 otherwise,\n"
        "2 for a usage error.\n",
        out);
}

static const struct {
  const char *name;
  enum egw__eec_command command;
} commands[] = {
    {"demo", EGW__EEC_DEMO},         {"provision", EGW__EEC_PROVISION},
    {"register", EGW__EEC_REGISTER}, {"discover", EGW__EEC_DISCOVER},
    {"call", EGW__EEC_CALL},         {"deregister", EGW__EEC_DEREGISTER},
};

static int parse_u32(const char *flag, const char *s, uint32_t min, uint32_t max, uint32_t *out) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s < '0' || *s > '9' || *end || v < min || v > max) {
    fprintf(stderr, "edgegw eec: %s must be %u..%u\n", flag, min, max);
    return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

/* parse fills |o| from the arguments after the command name. */
static int parse(int argc, char **argv, struct egw__eec_options *o) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    const char **slot = strcmp(a, "--ecs") == 0            ? &o->ecs_url
                        : strcmp(a, "--eec-id") == 0       ? &o->eec_id
                        : strcmp(a, "--cert") == 0         ? &o->cert_file
                        : strcmp(a, "--key") == 0          ? &o->key_file
                        : strcmp(a, "--ca") == 0           ? &o->ca_file
                        : strcmp(a, "--ees-id") == 0       ? &o->ees_id
                        : strcmp(a, "--eas-id") == 0       ? &o->eas_id
                        : strcmp(a, "--path") == 0         ? &o->path
                        : strcmp(a, "--registration") == 0 ? &o->registration
                        : strcmp(a, "--supi") == 0         ? &o->supi
                        : strcmp(a, "--kausf") == 0        ? &o->kausf_hex
                        : strcmp(a, "--rid") == 0          ? &o->rid
                        : strcmp(a, "--psk-url") == 0      ? &o->psk_url
                        : strcmp(a, "--msk") == 0          ? &o->msk_hex
                                                           : NULL;
    if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (strcmp(a, "--auth") == 0 && v &&
               (strcmp(v, "psk") == 0 || strcmp(v, "cert") == 0 || strcmp(v, "kecs") == 0)) {
      o->auth_psk = strcmp(v, "psk") == 0;
      o->auth_kecs = strcmp(v, "kecs") == 0;
      i++;
    } else if (slot && v && v[0] != '\0') {
      *slot = v;
      i++;
    } else if (strcmp(a, "--timeout-ms") == 0 && v) {
      if (parse_u32(a, v, 100, 600000, &o->timeout_ms) != 0)
        return -1;
      i++;
    } else if (strcmp(a, "--max-wait-s") == 0 && v) {
      if (parse_u32(a, v, 1, 3600, &o->max_wait_s) != 0)
        return -1;
      i++;
    } else {
      fprintf(stderr, "edgegw eec: %s '%s'\n",
              slot || strncmp(a, "--", 2) == 0 ? "missing value or unknown option"
                                               : "unexpected argument",
              a);
      return -1;
    }
  }
  if (o->auth_psk && (o->supi == NULL || o->kausf_hex == NULL ||
                      (o->command != EGW__EEC_PROVISION && o->command != EGW__EEC_CALL))) {
    fprintf(stderr, "edgegw eec: --auth psk goes with provision or call, and needs --supi and "
                    "--kausf\n");
    return -1;
  }
  if (!o->auth_psk && (o->supi || o->kausf_hex || o->rid)) {
    fprintf(stderr, "edgegw eec: --supi, --kausf and --rid go with --auth psk\n");
    return -1;
  }
  if (o->auth_kecs && (o->msk_hex == NULL ||
                       (o->command != EGW__EEC_PROVISION && o->command != EGW__EEC_CALL))) {
    fprintf(stderr, "edgegw eec: --auth kecs goes with provision or call, and needs --msk\n");
    return -1;
  }
  if (!o->auth_kecs && o->msk_hex) {
    fprintf(stderr, "edgegw eec: --msk goes with --auth kecs\n");
    return -1;
  }
  if (!o->auth_psk && !o->auth_kecs && o->psk_url) {
    fprintf(stderr, "edgegw eec: --psk-url goes with --auth psk or --auth kecs\n");
    return -1;
  }
  if (o->command == EGW__EEC_DEREGISTER && o->registration == NULL) {
    fprintf(stderr, "edgegw eec deregister: --registration URL is required\n");
    return -1;
  }
  if (o->command != EGW__EEC_DEREGISTER && o->registration) {
    fprintf(stderr, "edgegw eec: --registration goes with deregister only\n");
    return -1;
  }
  return 0;
}

/* run builds the client (trust store, EEC certificate) and runs the steps. */
static int run(const struct egw__eec_options *o) {
  int rc = 2;
  char *err = NULL;
  struct egw_http_client *http = NULL;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    return 1;
  struct egw_truststore *trust = egw_truststore_new(&o->ca_file, 1, NULL, 0, &err);
  if (trust == NULL) {
    fprintf(stderr, "edgegw eec: --ca %s\n", err ? err : "cannot load");
    goto end;
  }
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(trust),
      /* --auth psk: server-certificate TLS only, the EEC proves itself with Kedge. */
      .client_cert_file = o->auth_psk ? NULL : o->cert_file,
      .client_key_file = o->auth_psk ? NULL : o->key_file,
      .timeout_ms = o->timeout_ms,
  };
  http = egw_http_client_new(&loop, &cfg, &err);
  if (http == NULL) {
    fprintf(stderr, "edgegw eec: %s\n", err ? err : "cannot create the HTTPS client");
    goto end;
  }
  rc = o->auth_psk || o->auth_kecs ? egw__eec_psk_run(&loop, http, o)
                                    : egw__eec_run(&loop, http, o);
  /* both free |http| */
end:
  free(err);
  uv_run(&loop, UV_RUN_DEFAULT); /* the client's handles finish closing */
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "edgegw eec: a handle was left open\n");
  egw_truststore_free(trust);
  return rc;
}

int egw_cli_eec(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
      strcmp(argv[0], "-h") == 0) {
    usage(argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  struct egw__eec_options o = {
      .ecs_url = "https://127.0.0.1:8443",
      .eec_id = "spiffe://site1/eec/eec1",
      .cert_file = "certs/out/eec1.pem",
      .key_file = "certs/out/eec1.key",
      .ca_file = "certs/out/ca.pem",
      .path = NULL, /* "/" (cert) or "/whoami" (psk) */
      .psk_url = NULL,
      .timeout_ms = 5000,
      .max_wait_s = 30,
  };
  size_t i = 0;
  while (i < sizeof(commands) / sizeof(commands[0]) && strcmp(argv[0], commands[i].name) != 0)
    i++;
  if (i == sizeof(commands) / sizeof(commands[0])) {
    fprintf(stderr, "edgegw eec: unknown command '%s'\n", argv[0]);
    usage(stderr);
    return 2;
  }
  o.command = commands[i].command;
  for (int k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
      usage(stdout);
      return 0;
    }
  }
  if (parse(argc - 1, argv + 1, &o) != 0) {
    fputs("run 'edgegw eec --help' for the options\n", stderr);
    return 2;
  }
  if (o.path == NULL && !o.auth_psk && !o.auth_kecs)
    o.path = "/";
  if ((o.auth_psk || o.auth_kecs) && o.psk_url == NULL)
    o.psk_url = "https://127.0.0.1:8446";
  return run(&o);
}
