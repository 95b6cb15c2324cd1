#!/usr/bin/env bash
# The demo edge site (policies/) with real clients against it:
#   an EEC over EDGE-4 (server-certificate TLS) asks the ECS who it is;
#   an EES over EDGE-6 (mutual TLS) is identified by its certificate's URI SAN;
#   an EEC certificate on EDGE-6 is authenticated but not allowed (403);
#   a certificate from another CA and a revoked one are refused in the handshake;
#   an EEC over EDGE-1 (TLS-PSK) is identified by its PSK identity; a wrong key fails;
#   an EES gets an access token from the ECS (EDGE-6) and calls another EES over EDGE-9
#   with it; without it, or with it revoked, the call is refused.
# Every outcome is checked; the script exits non-zero if any differs. The site is then
# stopped with SIGTERM and must exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EDGEGW_BIN:-zig-out/bin/edgegw}
certs=certs/out
log=$(mktemp /tmp/edgegw-demo-log.XXXXXX)
failures=0

certs/gen.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
bad() {
  printf '   FAILED: %s\n' "$*"
  failures=$((failures + 1))
}
expect() { # description, expected substring, actual text
  if [[ $3 == *"$2"* ]]; then ok "$1"; else bad "$1 (wanted '$2', got: ${3:0:300})"; fi
}

step "starting edgegw with policies/"
"$bin" serve --policies policies >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '"event":"ready"' "$log" && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "edgegw exited early" >&2; exit 1; }
  sleep 0.1
done
grep '"event":"listening"' "$log" | sed 's/^/   /'

curl_json() { curl -sS --max-time 5 --cacert $certs/ca.pem "$@" 2>&1 || true; }

step "EEC -> ECS over EDGE-4 (server-cert TLS)"
out=$(curl_json --resolve ecs.site1.example:8443:127.0.0.1 https://ecs.site1.example:8443/whoami)
echo "   $out"
expect "the ECS answers an anonymous EEC" '"tls":"server-cert"' "$out"

step "EES -> ECS over EDGE-6 (mutual TLS)"
out=$(curl_json --cert $certs/ees1-client.pem --key $certs/ees1-client.key https://localhost:8446/whoami)
echo "   $out"
expect "the EES is identified by its URI SAN" '"id":"spiffe://site1/ees/ees1"' "$out"
out=$(curl_json --cert $certs/eec1.pem --key $certs/eec1.key https://localhost:8446/whoami)
expect "an EEC certificate is authenticated but not allowed on EDGE-6" 'Forbidden' "$out"
out=$(curl_json --cert $certs/rogue-eec.pem --key $certs/rogue-eec.key https://localhost:8446/whoami)
expect "a certificate from another CA is refused in the handshake" 'alert' "$out"
out=$(curl_json --cert $certs/eec-revoked.pem --key $certs/eec-revoked.key https://localhost:8446/whoami)
expect "a revoked certificate is refused in the handshake" 'alert' "$out"

step "EEC -> EES over EDGE-1 (TLS-PSK)"
read -r identity key < <(grep -v '^#' $certs/demo.psk | head -1)
psk_get() { # key
  printf 'GET /whoami HTTP/1.1\r\nHost: ees.site1.example\r\nConnection: close\r\n\r\n' |
    timeout 5 openssl s_client -connect 127.0.0.1:8441 -tls1_2 -psk_identity "$identity" \
      -psk "$1" -quiet -ign_eof 2>&1 || true
}
out=$(psk_get "$key")
echo "   $(echo "$out" | tail -1)"
expect "the EEC is identified by its PSK identity" "\"id\":\"$identity\"" "$out"
out=$(psk_get "00${key:2}")
expect "a wrong PSK fails the handshake" 'alert' "$out"

step "EES -> ECS: access token (OAuth 2.0 client credentials over mTLS), EES -> EES over EDGE-9"
ees1=(--cert $certs/ees1-client.pem --key $certs/ees1-client.key)
out=$(curl_json "${ees1[@]}" https://localhost:8446/oauth2/token \
  -d grant_type=client_credentials -d nfInstanceId=spiffe://site1/ees/ees1 \
  -d scope=eees-edge9 -d targetNfInstanceId=ees.site1.example)
token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$out")
if [[ -n $token ]]; then ok "the ECS issued a token (${#token} bytes)"; else bad "no token: $out"; fi
"$bin" token inspect "$token" 2>/dev/null | sed -n '/"payload"/,/}/p' | sed 's/^/   /'
out=$(curl_json "${ees1[@]}" -H "Authorization: Bearer $token" https://localhost:8449/whoami)
echo "   $out"
expect "EDGE-9 serves the EES that presents its token" '"id":"spiffe://site1/ees/ees1"' "$out"
out=$(curl_json "${ees1[@]}" -w ' %{http_code}' https://localhost:8449/whoami)
expect "EDGE-9 refuses a call without a token" ' 401' "$out"
out=$(curl_json "${ees1[@]}" -w '%{http_code}' https://localhost:8446/oauth2/revoke -d "token=$token")
expect "the ECS revokes the token" '200' "$out"
out=$(curl_json "${ees1[@]}" -w ' %{http_code}' -H "Authorization: Bearer $token" https://localhost:8449/whoami)
expect "EDGE-9 refuses the revoked token" ' 401' "$out"

step "what the gateway logged about the refusals"
grep -E '"event":"(tls_handshake_failed|authz)"' "$log" | sed 's/^/   /'
if grep -q "$key" "$log"; then bad "the PSK appears in the log"; else ok "no key material in the log"; fi

step "SIGTERM: drain and stop"
kill -TERM $pid
rc=0
wait $pid || rc=$?
trap - EXIT
grep -E '"event":"(draining|stopped)"' "$log" | sed 's/^/   /'
if [[ $rc -eq 0 ]]; then ok "edgegw exited 0"; else bad "edgegw exited $rc"; fi
rm -f "$log"

if ((failures)); then
  printf '\n%d check(s) failed\n' $failures
  exit 1
fi
printf '\ndemo: every check passed\n'
