/* edgegw serve [--policies DIR]: load the site and run it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "config/policy.h"
#include "core/server.h"
#include "core/site.h"
#include "util/log.h"

static void usage(FILE *out) {
  fputs("usage: edgegw serve [--policies DIR]\n"
        "  Runs the site described by the policy files in DIR (default: policies).\n",
        out);
}

/* A policy error goes to stderr for the operator at the console and to the log stream
 * for whoever collects logs; both carry file:line. */
static int policy_error(const char *err) {
  fprintf(stderr, "edgegw: %s\n", err);
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_ERROR, "policy_error");
  egw_log_str(&rec, "error", err);
  egw_log_end(&rec);
  return 2;
}

/* Creates |path| and its missing parents, private to the gateway's user. */
static int make_dirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(buf, 0700) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

int egw_cli_serve(int argc, char **argv) {
  const char *dir = "policies";
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--policies") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strncmp(argv[i], "--policies=", 11) == 0) {
      dir = argv[i] + 11;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "edgegw serve: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  /* SIGHUP reloads once the server is up (core/reload.c); until then it must not kill a
   * gateway that is still reading its policies. */
  signal(SIGHUP, SIG_IGN);
  char *err = NULL;
  struct egw_site_policy *policy = egw_policy_load_dir(dir, &err);
  if (policy == NULL) {
    int rc = policy_error(err ? err : "cannot load policies");
    free(err);
    return rc;
  }
  if (make_dirs(policy->state_dir) != 0) {
    char msg[4200];
    snprintf(msg, sizeof(msg), "%s: site.state_dir: cannot create '%s': %s", policy->site_file,
             policy->state_dir, strerror(errno));
    egw_site_policy_free(policy);
    return policy_error(msg);
  }
  struct egw_site *site = egw_site_new(policy, &err);
  if (site == NULL) {
    int rc = policy_error(err ? err : "cannot build the site");
    free(err);
    return rc;
  }
  int rc = egw_server_run(site);
  egw_site_unref(site);
  return rc;
}
