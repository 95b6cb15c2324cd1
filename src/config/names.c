#include "config/policy.h"

const char *egw_tls_mode_name(enum egw_tls_mode mode) {
  switch (mode) {
  case EGW_TLS_SERVER_CERT:
    return "server-cert";
  case EGW_TLS_MTLS:
    return "mtls";
  case EGW_TLS_PSK:
    return "psk";
  }
  return "?";
}

const char *egw_authz_mode_name(enum egw_authz_mode mode) {
  switch (mode) {
  case EGW_AUTHZ_NONE:
    return "none";
  case EGW_AUTHZ_STATIC:
    return "static";
  case EGW_AUTHZ_TOKEN:
    return "token";
  }
  return "?";
}

int egw_issuer_policy_is_remote(const struct egw_issuer_policy *ip) {
  return ip->jwks_uri != NULL || ip->introspection_uri != NULL;
}
