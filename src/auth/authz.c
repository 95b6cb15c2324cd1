#include "auth/authz.h"

extern const struct egw_authz_provider egw__authz_none;
extern const struct egw_authz_provider egw__authz_static;
extern const struct egw_authz_provider egw__authz_token;

const struct egw_authz_provider *egw_authz_provider_for(enum egw_authz_mode mode) {
  switch (mode) {
  case EGW_AUTHZ_STATIC:
    return &egw__authz_static;
  case EGW_AUTHZ_TOKEN:
    return &egw__authz_token;
  case EGW_AUTHZ_NONE:
    break;
  }
  return &egw__authz_none;
}
