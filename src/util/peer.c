#include "edgegw/peer.h"

const char *egw_peer_kind_name(enum egw_peer_kind kind) {
  switch (kind) {
  case EGW_PEER_URI:
    return "uri";
  case EGW_PEER_DNS:
    return "dns";
  case EGW_PEER_CN:
    return "cn";
  case EGW_PEER_PSK:
    return "psk";
  case EGW_PEER_NONE:
    break;
  }
  return "none";
}
