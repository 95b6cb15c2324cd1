/* edgegw: the 3GPP edge security gateway (ECS, EES and EAS roles in one loop). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define EDGEGW_VERSION "0.1.0"

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
};

static const struct command commands[] = {
    {.name = "serve", .run = egw_cli_serve, .help = "run the site described by a policy directory"},
    {.name = "token", .run = egw_cli_token, .help = "issue, inspect or verify an access token"},
    {.name = "eec",
     .run = egw_cli_eec,
     .help = "an edge enabler client: provision, register, discover, call an EAS"},
    {.name = "kdf", .run = egw_cli_kdf, .help = "derive Kedge, AKMA or KECS-PSK keys (TLS-PSK)"},
    {.name = "sidecar",
     .run = egw_cli_sidecar,
     .help = "an EAS in front of one application, from flags or environment alone"},
};

static void usage(FILE *out) {
  fputs("usage: edgegw <command> [options]\n\ncommands:\n", out);
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
  fputs("  version  print the version\n", out);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("edgegw %s\n", EDGEGW_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 2, argv + 2);
  }
  fprintf(stderr, "edgegw: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
