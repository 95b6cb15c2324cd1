/* The role interface: how ECS, EES, EAS, the built-in health role and test peers plug
 * into edgegw. A role is one const struct egw_role_ops; the list of built-in roles is
 * one explicit array (src/roles/registry.c). */
#ifndef EDGEGW_ROLE_H
#define EDGEGW_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "edgegw/http.h"

struct egw_site;     /* the running site snapshot: shared services, policies */
struct uv_loop_s;    /* libuv's loop */
struct egw_exchange; /* one request and its response, owned by the connection */

/* egw_handler_result is what on_request answers. */
enum egw_handler_result {
  /* EGW_DONE: the response is filled; framing sends it now. */
  EGW_DONE = 0,
  /* EGW_AGAIN: the role started asynchronous work and will call egw_exchange_finish
   * exactly once later (or will be told by on_abort that the connection went away). */
  EGW_AGAIN,
  /* EGW_DECLINED: this role does not serve the path after all; the router answers 404. */
  EGW_DECLINED,
  /* EGW_FAILED: internal failure; core answers 500 with a ProblemDetails body. */
  EGW_FAILED,
};

/* egw_route is one entry of a role's routing table: a set of methods and a path
 * prefix. The longest matching prefix of all roles mounted on a listener wins. */
struct egw_route {
  unsigned methods; /* bits of enum egw_method */
  const char *prefix;
};

/* egw_role_ops is a role's table. on_request is required; the others may be NULL.
 *
 * Return contract: init returns 0 or a negative code and sets *out_err (malloc'd) on
 * failure; it runs before the loop does and must not start asynchronous work. start runs
 * once on the loop thread when every listener is up (register with an ECS, arm timers);
 * it returns 0 or a negative code after logging why (the server then exits 1). stop
 * runs once when the server drains (or start failed somewhere): it cancels what is in
 * flight and closes the role's handles, whose close callbacks run before the loop ends;
 * after it the role answers requests still in flight but starts nothing new. on_request
 * returns an egw_handler_result; dispose accepts the state init made (or NULL) and runs
 * after the loop ended. */
struct egw_role_ops {
  const char *name;
  const struct egw_route *routes; /* terminated by an entry with prefix NULL */
  /* learns_client_cas: listeners that mount this module verify client certificates
   * against a trust store of their own (the site's CAs and CRLs, plus what the module
   * learns at run time through egw_site_learned_trust), so that a CA learned for one
   * interface (EEC CAs on EDGE-1) is trusted on no other. */
  int learns_client_cas;
  /* streams_request_body: for a request with a body, the dispatcher routes and authorizes
   * as soon as the head is complete and calls on_request with req->body NULL; the role
   * reads the body as it arrives with egw_exchange_body_start (see "streamed request
   * bodies" below). A request refused before that (404, 405, authorization) is answered
   * at once, and the connection closes after the answer instead of reading the body.
   * Zero: the body is read whole (bounded by the listener's body_bytes) first. */
  int streams_request_body;
  int (*init)(struct egw_site *site, void **out_state, char **out_err);
  int (*start)(void *state, struct uv_loop_s *loop);
  enum egw_handler_result (*on_request)(void *state, struct egw_exchange *x);
  void (*stop)(void *state);
  void (*dispose)(void *state);
};

/* egw_site_shared returns the object called |name| that several modules of one role
 * share on |site| (the ECS's table of registered EESes, used by its EDGE-6 and EDGE-4
 * modules), creating it with |create| on first use; |destroy| runs when the site is
 * freed, after every module's dispose. NULL when |create| returned NULL (it sets
 * *out_err, malloc'd). Call it from init only. */
void *egw_site_shared(struct egw_site *site, const char *name,
                      void *(*create)(struct egw_site *site, char **out_err),
                      void (*destroy)(void *obj), char **out_err);

/* egw_exchange_request and egw_exchange_response give the two halves of |x|. */
const struct egw_request *egw_exchange_request(const struct egw_exchange *x);
struct egw_response *egw_exchange_response(struct egw_exchange *x);

/* egw_exchange_finish sends the response of an exchange whose role returned EGW_AGAIN.
 * Call it exactly once, on the loop thread. */
void egw_exchange_finish(struct egw_exchange *x);

/* egw_exchange_set_abort registers |cb| to run if the connection closes before an
 * EGW_AGAIN exchange finished; after |cb| the exchange must not be touched. */
void egw_exchange_set_abort(struct egw_exchange *x, void (*cb)(void *arg), void *arg);

/* ---- streamed responses ---------------------------------------------------------- *
 *
 * A role that produces its body as it goes (a proxy passing on an application's answer)
 * streams it instead of filling resp->body: after EGW_AGAIN, it fills the status and the
 * header fields of egw_exchange_response, sets resp->length (GIVEN with content_length
 * when it knows the length, else UNKNOWN), calls egw_exchange_stream_begin, then
 * egw_exchange_stream_write for each piece and egw_exchange_stream_end once (instead of
 * egw_exchange_finish). How the body is delimited on the wire is the framing's business.
 *
 * Backpressure: the connection's write queue is bounded by EGW_STREAM_HIGH_WATER. A
 * write that leaves it above the bound answers EGW_STREAM_FULL: the data was taken, and
 * the role should stop producing until the callback of egw_exchange_stream_set_drain
 * runs (once the queue fell to EGW_STREAM_LOW_WATER). Memory then stays bounded by what
 * the role writes after the FULL answer. The abort callback (egw_exchange_set_abort)
 * still tells the role that the client went away; after it, nothing may be called. */

/* Bytes queued for the client above which a stream write answers EGW_STREAM_FULL, and
 * the level at which the drain callback runs. */
#define EGW_STREAM_HIGH_WATER (256u * 1024)
#define EGW_STREAM_LOW_WATER (64u * 1024)

/* egw_stream_status is what egw_exchange_stream_begin and _write answer. */
enum egw_stream_status {
  /* EGW_STREAM_OK: taken; the connection can take more. */
  EGW_STREAM_OK = 0,
  /* EGW_STREAM_FULL: taken; the write queue is over EGW_STREAM_HIGH_WATER: wait for the
   * drain callback before writing more. */
  EGW_STREAM_FULL,
  /* EGW_STREAM_CLOSED: not sent: the connection failed or the stream is not open (no
   * begin, or already ended). The abort callback follows if the client went away. */
  EGW_STREAM_CLOSED,
};

/* egw_exchange_stream_begin sends the status line and header fields of |x|'s response
 * (resp->body is ignored). Call it once, on the loop thread, after EGW_AGAIN. A status
 * outside 200..999 is answered as 500 and the stream is then closed to the role. */
enum egw_stream_status egw_exchange_stream_begin(struct egw_exchange *x);

/* egw_exchange_stream_write sends |len| bytes (copied) of the body. Bytes of a response
 * that has no body (HEAD, 204, 304) are dropped, and so are bytes past a GIVEN length. */
enum egw_stream_status egw_exchange_stream_write(struct egw_exchange *x, const void *data,
                                                 size_t len);

/* egw_exchange_stream_set_drain registers |cb|: after a write that answered
 * EGW_STREAM_FULL, it runs once, on the loop thread and from a callback of the
 * connection (never from inside a stream call), when the write queue of |x|'s connection
 * has fallen to EGW_STREAM_LOW_WATER. It may write and end the stream. NULL removes it. */
void egw_exchange_stream_set_drain(struct egw_exchange *x, void (*cb)(void *arg), void *arg);

/* egw_exchange_stream_end completes the streamed response of |x| and ends the exchange
 * (like egw_exchange_finish; |x| must not be touched afterwards). A GIVEN length not
 * reached closes the connection, so that the client sees the body cut short. */
void egw_exchange_stream_end(struct egw_exchange *x);

/* egw_exchange_stream_abort ends the exchange of a stream that cannot complete (the
 * application failed after its head was passed on): the status cannot change any more,
 * so the connection closes without completing the body, which the client sees as a
 * truncated response. |x| must not be touched afterwards. */
void egw_exchange_stream_abort(struct egw_exchange *x);

/* ---- streamed request bodies ------------------------------------------------------ *
 *
 * For a module with streams_request_body, egw_exchange_body_pending says whether the
 * request's body is still to be read. The role then calls egw_exchange_body_start once:
 * framing answers a client's Expect: 100-continue at that moment, and from then on hands
 * the body (de-chunked) to on_data in pieces as it arrives, then calls on_end once. The
 * listener's body_bytes still bounds the body: a chunked body that grows past it ends
 * with EGW_BODY_TOO_LARGE (a Content-Length over it is refused with 413 before the role
 * runs). Both callbacks run on the loop thread from callbacks of the connection, never
 * from inside egw_exchange_body_start or _resume; they may finish the exchange. An
 * exchange that ends before its body was read whole closes its connection after the
 * response (the rest of the body is never read). */

/* egw_body_status is what on_end of a streamed request body reports. */
enum egw_body_status {
  /* EGW_BODY_COMPLETE: every byte of the body went to on_data. */
  EGW_BODY_COMPLETE = 0,
  /* EGW_BODY_TOO_LARGE: the body grew past the listener's body_bytes; answer 413 if no
   * response head went out yet, else abort the stream. */
  EGW_BODY_TOO_LARGE,
  /* EGW_BODY_MALFORMED: the chunked framing of the body was broken; answer 400 likewise. */
  EGW_BODY_MALFORMED,
};

/* egw_exchange_body_pending says whether |x|'s request body is still to be read with
 * egw_exchange_body_start (1) or was read whole into req->body, or there is none (0). */
int egw_exchange_body_pending(const struct egw_exchange *x);

/* egw_exchange_body_start starts reading |x|'s pending body: |on_data| gets each piece
 * (valid during the call only; |len| > 0), |on_end| the outcome, once, after the last
 * piece. Both get |arg|. Returns 0, or -1 when no body is pending or it was started
 * already (nothing is called then). */
int egw_exchange_body_start(struct egw_exchange *x,
                            void (*on_data)(void *arg, const uint8_t *data, size_t len),
                            void (*on_end)(void *arg, enum egw_body_status status), void *arg);

/* egw_exchange_body_pause stops handing the body over (the role's consumer is full):
 * framing stops reading the client's socket once a little input is kept (bytes already
 * read or decrypted are kept, not dropped); egw_exchange_body_resume goes on. Calling
 * either twice, or after on_end, is harmless. */
void egw_exchange_body_pause(struct egw_exchange *x);
void egw_exchange_body_resume(struct egw_exchange *x);

/* egw_site_learned_trust returns the trust store of the listeners that mount a module
 * with learns_client_cas (keys/truststore.h; add CAs with egw_truststore_add_pem), or
 * NULL when the site has none. */
struct egw_truststore *egw_site_learned_trust(struct egw_site *site);

/* egw_site_ready says whether every listener is up (for /readyz). */
int egw_site_ready(const struct egw_site *site);

#endif
