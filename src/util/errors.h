/* Error codes of edgegw. Loop and I/O code returns 0 or a negative code: libuv's codes
 * (UV_E*) pass through unchanged, ours live below EGW_ERR_BASE so the two never meet. */
#ifndef EGW_UTIL_ERRORS_H
#define EGW_UTIL_ERRORS_H

#define EGW_ERR_BASE (-20000)

/* X(name, text) */
#define EGW_ERRORS(X)                                                                              \
  X(NOMEM, "out of memory")                                                                        \
  X(POLICY, "invalid policy")                                                                      \
  X(TLS, "TLS failure")                                                                            \
  X(HTTP, "malformed HTTP")                                                                        \
  X(LIMIT, "limit exceeded")                                                                       \
  X(NOTFOUND, "not found")                                                                         \
  X(IO, "input/output error")                                                                      \
  X(DENIED, "access denied")                                                                       \
  X(CLOSED, "connection closed")

enum egw_error {
  EGW_ERR_FIRST_ = EGW_ERR_BASE,
#define EGW_X_ENUM(name, text) EGW_ERR_##name,
  EGW_ERRORS(EGW_X_ENUM)
#undef EGW_X_ENUM
};

/* egw_strerror returns a static description of |code|: one of ours, libuv's, or
 * "unknown error". */
const char *egw_strerror(int code);

#endif
