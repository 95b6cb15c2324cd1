/* Formatting into fresh memory, for error messages handed to callers (char **out_err). */
#ifndef EGW_UTIL_FORMAT_H
#define EGW_UTIL_FORMAT_H

/* egw_format returns a malloc'd formatted string, or NULL when out of memory. */
char *egw_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


#include <stddef.h>
#include <stdint.h>

/* EGW_INT_TEXT_MAX is the longest decimal int64_t: a sign and 19 digits. */
#define EGW_INT_TEXT_MAX 20

/* egw_format_int writes |value| in decimal to |out| (room for EGW_INT_TEXT_MAX bytes, no
 * NUL written) and returns the length: "%lld" for the per-request paths (response head,
 * log lines, token claims), where printf's machinery costs more than the number. */
size_t egw_format_int(char *out, int64_t value);

/* egw_format_uint is egw_format_int for unsigned values ("%llu"). */
size_t egw_format_uint(char *out, uint64_t value);

#endif
