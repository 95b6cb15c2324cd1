/* Private to core: a connection's wait for the key of a direct PSK handshake
 * (conn_psk.c). Kept apart from conn.c, which only calls these. */
#ifndef EGW_CORE_CONN_PSK_H
#define EGW_CORE_CONN_PSK_H

#include "keys/psk_resolver.h"

struct egw_tls_conn;

/* One connection's wait. |done| runs once with the resolver's answer, unless
 * egw__conn_psk_cancel ran first. */
struct egw__conn_psk {
  struct egw_psk_wait *wait; /* non-NULL while waiting */
  void (*done)(void *owner, enum egw_psk_result r);
  void *owner;
};

/* egw__conn_psk_resolve asks |r| for the key |tls| waits for (egw_tls_conn_psk_query).
 * Returns the answer at once (done is not called), or -1: done runs later. */
int egw__conn_psk_resolve(struct egw__conn_psk *p, struct egw_psk_resolver *r,
                          const struct egw_tls_conn *tls);

/* egw__conn_psk_cancel drops the wait, if any (the connection closes). */
void egw__conn_psk_cancel(struct egw__conn_psk *p);

#endif
