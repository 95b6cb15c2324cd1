/* systemd's readiness protocol without libsystemd: Type=notify services get
 * $NOTIFY_SOCKET, a unix datagram socket, and are told "READY=1" once every listener is
 * up and "STOPPING=1" when draining begins (sd_notify(3)). */
#ifndef EGW_CORE_NOTIFY_H
#define EGW_CORE_NOTIFY_H

/* egw_notify sends |state| ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET when it is
 * set (a path, or an abstract socket name starting with '@'). Returns 1 when sent, 0
 * when there is no socket, -1 on failure (logged). Never blocks. */
int egw_notify(const char *state);

#endif
