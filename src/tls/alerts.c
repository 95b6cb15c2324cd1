/* TLS alert descriptions by name, for log lines. */
#include <openssl/ssl.h>

#include "tls/internal.h"

/* Alert names as in RFC 8446 section 6 (snake case, as logs and tests expect them). */
const char *egw__tls_alert_name(int desc) {
  switch (desc) {
  case SSL_AD_CLOSE_NOTIFY:
    return "close_notify";
  case SSL_AD_UNEXPECTED_MESSAGE:
    return "unexpected_message";
  case SSL_AD_BAD_RECORD_MAC:
    return "bad_record_mac";
  case SSL_AD_RECORD_OVERFLOW:
    return "record_overflow";
  case SSL_AD_HANDSHAKE_FAILURE:
    return "handshake_failure";
  case SSL_AD_BAD_CERTIFICATE:
    return "bad_certificate";
  case SSL_AD_UNSUPPORTED_CERTIFICATE:
    return "unsupported_certificate";
  case SSL_AD_CERTIFICATE_REVOKED:
    return "certificate_revoked";
  case SSL_AD_CERTIFICATE_EXPIRED:
    return "certificate_expired";
  case SSL_AD_CERTIFICATE_UNKNOWN:
    return "certificate_unknown";
  case SSL_AD_ILLEGAL_PARAMETER:
    return "illegal_parameter";
  case SSL_AD_UNKNOWN_CA:
    return "unknown_ca";
  case SSL_AD_ACCESS_DENIED:
    return "access_denied";
  case SSL_AD_DECODE_ERROR:
    return "decode_error";
  case SSL_AD_DECRYPT_ERROR:
    return "decrypt_error";
  case SSL_AD_PROTOCOL_VERSION:
    return "protocol_version";
  case SSL_AD_INSUFFICIENT_SECURITY:
    return "insufficient_security";
  case SSL_AD_INTERNAL_ERROR:
    return "internal_error";
  case SSL_AD_INAPPROPRIATE_FALLBACK:
    return "inappropriate_fallback";
  case SSL_AD_USER_CANCELLED:
    return "user_canceled";
  case SSL_AD_NO_RENEGOTIATION:
    return "no_renegotiation";
  case SSL_AD_MISSING_EXTENSION:
    return "missing_extension";
  case SSL_AD_UNSUPPORTED_EXTENSION:
    return "unsupported_extension";
  case SSL_AD_UNRECOGNIZED_NAME:
    return "unrecognized_name";
  case SSL_AD_BAD_CERTIFICATE_STATUS_RESPONSE:
    return "bad_certificate_status_response";
  case SSL_AD_UNKNOWN_PSK_IDENTITY:
    return "unknown_psk_identity";
  case SSL_AD_CERTIFICATE_REQUIRED:
    return "certificate_required";
  case SSL_AD_NO_APPLICATION_PROTOCOL:
    return "no_application_protocol";
  }
  return "unknown";
}
