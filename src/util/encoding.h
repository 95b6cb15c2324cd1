/* Text encodings of binary data: base64url without padding (RFC 4648 section 5, as JWS
 * and RFC 8705 thumbprints use it) and hex digits. */
#ifndef EGW_UTIL_ENCODING_H
#define EGW_UTIL_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* egw_b64url_encoded_len is the length of the unpadded base64url of |len| bytes. */
size_t egw_b64url_encoded_len(size_t len);
/* egw_b64url_encode writes the unpadded base64url of |in| to |out| (which has room for
 * egw_b64url_encoded_len(in_len) bytes; no NUL written) and returns its length. */
size_t egw_b64url_encode(char *out, const uint8_t *in, size_t in_len);
/* egw_b64url_encode_str returns the malloc'd, NUL-terminated base64url of |in|. */
char *egw_b64url_encode_str(const uint8_t *in, size_t in_len);
/* egw_b64url_decode decodes unpadded base64url |in| into |out| (room for in_len*3/4
 * bytes) and sets *out_len. Returns 0 on any non-alphabet byte (including '=' padding),
 * an impossible length, or non-zero trailing bits (a non-canonical encoding). */
int egw_b64url_decode(uint8_t *out, size_t *out_len, const char *in, size_t in_len);

/* egw_pct_encode writes |in| (|len| bytes) percent-encoded for a form body or a query
 * (RFC 3986 unreserved characters as they are, every other byte %XX) to |out|, which has
 * room for 3 * len bytes (no NUL written), and returns the length written. */
size_t egw_pct_encode(char *out, const char *in, size_t len);
/* egw_pct_encode_str returns the malloc'd, NUL-terminated egw_pct_encode of |s|, or NULL
 * when out of memory. */
char *egw_pct_encode_str(const char *s);

/* egw_hex_digit returns the value of hex digit |c| (either case), or -1. */
int egw_hex_digit(char c);

#endif
