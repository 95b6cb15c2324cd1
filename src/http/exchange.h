/* One request/response pair, shared by framing (http/h1.c) and the connection that
 * dispatches it (core/conn.c). Roles see it only through include/edgegw/role.h. */
#ifndef EGW_HTTP_EXCHANGE_H
#define EGW_HTTP_EXCHANGE_H

#include "edgegw/http.h"
#include "edgegw/role.h"
#include "util/arena.h"

struct egw_h1;

struct egw_exchange {
  struct egw_request req;
  struct egw_response resp;
  struct egw_arena arena; /* req and resp memory; reset when the exchange ends */
  struct egw_h1 *h1;      /* framing that owns this exchange */
  void (*on_abort)(void *arg);
  void *abort_arg;
  void (*on_drain)(void *arg); /* egw_exchange_stream_set_drain */
  void *drain_arg;
  /* A streamed request body (egw_exchange_body_start). */
  void (*on_body_data)(void *arg, const uint8_t *data, size_t len);
  void (*on_body_end)(void *arg, enum egw_body_status status);
  void *body_arg;
  int in_role;      /* set while a role holds it after EGW_AGAIN */
  void *owner_data; /* for the dispatcher (core): route, listener, timings */
};

#endif
