/* The EAS role: a sidecar in front of an application on the same host. Mounted on the
 * application listener, whose token authorization checks the EAS access token (aud =
 * the EAS id, scope eas-app); every request it accepts is proxied to the application
 * over plain HTTP with the EEC's identity in a header the gateway sets. At start the EAS
 * registers at its EES over EDGE-3 when the policy names one (eas.ees_url). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/site.h"
#include "roles/eas/internal.h"
#include "util/format.h"
#include "util/log.h"

static const struct egw_route eas_routes[] = {
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD | EGW_METHOD_POST | EGW_METHOD_PUT |
                EGW_METHOD_PATCH | EGW_METHOD_DELETE | EGW_METHOD_OPTIONS,
     .prefix = "/"},
    {.prefix = NULL},
};

/* The upstream is an IP address literal on this host (the policy parser turned
 * "localhost" into 127.0.0.1): nothing to resolve, nothing that could block. */
static int upstream_address(struct eas *eas, char **out_err) {
  const struct egw_eas_policy *p = eas->policy;
  const char *host = p->upstream_host;
  int v6 = strchr(host, ':') != NULL;
  int rc = v6 ? uv_ip6_addr(host, p->upstream_port, (struct sockaddr_in6 *)&eas->upstream_addr)
              : uv_ip4_addr(host, p->upstream_port, (struct sockaddr_in *)&eas->upstream_addr);
  if (rc != 0 || p->upstream_port == 0) {
    *out_err = egw_format("eas.upstream: '%s' port %u is not an IP address and port on this host",
                          host, (unsigned)p->upstream_port);
    return -1;
  }
  snprintf(eas->upstream_authority, sizeof(eas->upstream_authority), v6 ? "[%s]:%u" : "%s:%u", host,
           (unsigned)p->upstream_port);
  return 0;
}

/* Responses may be as large as the largest request body a listener mounting eas takes,
 * and at least EGW_EAS_MIN_RESPONSE_BYTES. */
static size_t max_response_bytes(const struct egw_site_policy *sp) {
  uint64_t max = EGW_EAS_MIN_RESPONSE_BYTES;
  for (size_t i = 0; i < sp->n_listeners; i++) {
    const struct egw_listener_policy *lp = &sp->listeners[i];
    for (size_t m = 0; m < lp->n_mount; m++) {
      if (strcmp(lp->mount[m], "eas") == 0 && lp->limits.body_bytes > max)
        max = lp->limits.body_bytes;
    }
  }
  return max > SIZE_MAX ? SIZE_MAX : (size_t)max;
}

static void eas_dispose(void *state);

static int eas_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_eas_policy *p = site->policy->eas;
  if (p == NULL || p->id == NULL || p->upstream_host == NULL) {
    *out_err = egw_format("the eas module needs the \"eas\" section of %s (id, endpoint, "
                          "upstream)",
                          site->policy->site_file);
    return -1;
  }
  struct eas *eas = calloc(1, sizeof(*eas));
  if (eas == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  eas->site = site;
  eas->policy = p;
  eas->identity_header = p->identity_header ? p->identity_header : EGW_EAS_DEFAULT_IDENTITY_HEADER;
  eas->timeout_ms = p->upstream_timeout_ms ? p->upstream_timeout_ms : EGW_EAS_DEFAULT_TIMEOUT_MS;
  eas->max_response_bytes = max_response_bytes(site->policy);
  if (upstream_address(eas, out_err) != 0) {
    eas_dispose(eas);
    return -1;
  }
  *out_state = eas;
  return 0;
}

static int eas_start(void *state, uv_loop_t *loop) {
  struct eas *eas = state;
  eas->loop = loop;
  struct egw__eas_upstream_config cfg = {
      .addr = eas->upstream_addr,
      .timeout_ms = eas->timeout_ms,
      .max_body_bytes = eas->max_response_bytes,
  };
  eas->upstream = egw__eas_upstream_new(loop, &cfg);
  if (eas->upstream == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "eas_start_failed", "out of memory");
    return -1;
  }
  if (eas->policy->ees_url) {
    char *err = NULL;
    eas->reg = egw__eas_registration_start(eas, loop, &err);
    if (eas->reg == NULL) {
      egw_log_msg(EGW_LOG_ERROR, "eas_start_failed", "%s", err ? err : "out of memory");
      free(err);
      return -1;
    }
  }
  return 0;
}

/* Requests in flight run to their end (the server's drain timeout bounds them); idle
 * upstream connections and the registration stop now. */
static void eas_stop(void *state) {
  struct eas *eas = state;
  eas->stopped = 1;
  egw__eas_upstream_shutdown(eas->upstream);
  egw__eas_registration_stop(eas->reg);
  eas->reg = NULL;
}

static void eas_dispose(void *state) {
  struct eas *eas = state;
  if (eas == NULL)
    return;
  egw__eas_upstream_free(eas->upstream);
  free(eas);
}

static enum egw_handler_result eas_on_request(void *state, struct egw_exchange *x) {
  return egw__eas_proxy(state, x);
}

const struct egw_role_ops egw_role_eas = {
    .name = "eas",
    .routes = eas_routes,
    .streams_request_body = 1,
    .init = eas_init,
    .start = eas_start,
    .on_request = eas_on_request,
    .stop = eas_stop,
    .dispose = eas_dispose,
};
