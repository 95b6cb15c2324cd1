/* A connection's wait for a PSK key (conn_psk.h): the TLS layer held the client's
 * ClientKeyExchange (EGW_TLS_NEED_KEY); the connection stops reading and asks the site's
 * resolver, which answers at once (cached, negative cache, no provider) or later. */
#include "core/conn_psk.h"

#include "tls/tls.h"

static void on_resolved(void *arg, enum egw_psk_result r) {
  struct egw__conn_psk *p = arg;
  p->wait = NULL;
  p->done(p->owner, r);
}

int egw__conn_psk_resolve(struct egw__conn_psk *p, struct egw_psk_resolver *r,
                          const struct egw_tls_conn *tls) {
  struct egw_psk_query q;
  egw_tls_conn_psk_query(tls, &q);
  if (r == NULL || q.identity == NULL)
    return EGW_PSK_UNAVAILABLE;
  return egw_psk_resolve(r, &q, on_resolved, p, &p->wait);
}

void egw__conn_psk_cancel(struct egw__conn_psk *p) {
  if (p->wait == NULL)
    return;
  egw_psk_wait_cancel(p->wait);
  p->wait = NULL;
}
