/* Formatting into fresh memory, for error messages handed to callers (char **out_err). */
#ifndef EGW_UTIL_FORMAT_H
#define EGW_UTIL_FORMAT_H

/* egw_format returns a malloc'd formatted string, or NULL when out of memory. */
char *egw_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
