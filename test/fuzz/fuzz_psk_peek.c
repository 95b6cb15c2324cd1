/* libFuzzer: reading the PSK identity of a TLS 1.2 ClientKeyExchange from the raw bytes a
 * client sent (src/tls/psk_peek.c), as the server does before BoringSSL sees them. The
 * answer must be consistent: a found identity is NUL-terminated within its buffer and the
 * safe prefix never exceeds the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char id[129];
  size_t safe = (size_t)-1;
  memset(id, 0x5a, sizeof(id));
  enum egw__tls_peek r = egw__tls_peek_psk_identity(data, size, &safe, id, sizeof(id));
  if (r != EGW__TLS_PEEK_NONE && safe > size)
    abort();
  if (r == EGW__TLS_PEEK_FOUND && !memchr(id, '\0', sizeof(id)))
    abort();
  /* Every prefix is a moment the server may have peeked at. */
  if (size > 1) {
    size_t safe2 = 0;
    (void)egw__tls_peek_psk_identity(data, size / 2, &safe2, id, sizeof(id));
  }
  return 0;
}
