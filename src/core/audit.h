/* The audit trail: one JSON line per authorization decision, written where the policy
 * says (config/policy.h struct egw_audit_policy).
 *
 * Sinks are process-wide and keyed by destination, so that a file is opened once (with
 * O_APPEND) and stays open across site reloads. Lines are appended to the sink's memory
 * buffer on the loop thread; a prepare handle hands what accumulated to one uv_fs_write
 * (libuv's thread pool) per loop iteration at most, with one write in flight per sink:
 * the request path makes no system call and allocates nothing once the buffer is grown.
 * A full buffer (EGW_AUDIT_MAX_PENDING) drops the line and counts it in
 * edgegw_audit_dropped_total. Loop thread only. */
#ifndef EGW_CORE_AUDIT_H
#define EGW_CORE_AUDIT_H

#include <uv.h>

#include "config/policy.h"
#include "util/log.h"

#define EGW_AUDIT_MAX_PENDING (1u << 20)

struct egw_audit_sink;

/* egw_audit_sink_get finds or opens the sink of |ap| into *out_sink: NULL for
 * EGW_AUDIT_LOG (the caller logs the decision as before) and for EGW_AUDIT_OFF with
 * *out_off set. Returns 0, or -1 with *out_err (malloc'd, "file:line: audit: ...") when
 * the file cannot be opened. Call it while the site is built (it may open a file). */
int egw_audit_sink_get(const struct egw_audit_policy *ap, const char *policy_file,
                       struct egw_audit_sink **out_sink, int *out_off, char **out_err);

/* egw_audit_append finishes |rec| (built with egw_log_begin and egw_log_str/int) with
 * its "time" and queues it on |sink|, to be written from |loop|. */
void egw_audit_append(struct egw_audit_sink *sink, uv_loop_t *loop, struct egw_log_record *rec);

/* egw_audit_stop starts the last write of every sink bound to |loop| and closes their
 * handles; the loop then ends once those writes are done. Call it when the server stops. */
void egw_audit_stop(uv_loop_t *loop);

#endif
