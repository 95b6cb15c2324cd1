#!/usr/bin/env bash
# The demo edge site (policies/: an ECS, an EES and an EAS in one edgegw process, and a
# small Python application behind the EAS) with real clients against it:
#   the EDGEAPP flow with edgegw's own EEC (`edgegw eec demo --json`): service
#   provisioning at the ECS (EDGE-4), registration and EAS discovery at the EES (EDGE-1,
#   mutual TLS and the EDGE-1 token), a call to the application through the EAS sidecar
#   with the EAS token, the same call after that token expired (401), a fresh token by
#   re-discovery and the call again, deregistration; the application saw the EEC's
#   identity in x-eec-id;
#   an EES over EDGE-6 (mutual TLS) is identified by its certificate; an EEC certificate
#   there is authenticated but not allowed (403); a certificate from another CA and a
#   revoked one are refused in the handshake;
#   an EEC over EDGE-1-psk (TLS-PSK) is identified by its PSK identity; a wrong key fails;
#   an EES gets an access token from the ECS (EDGE-6) and calls the EES over EDGE-9 with
#   it; without it, or with it revoked, the call is refused.
# Every outcome is checked; the script exits non-zero if any differs. The site is then
# stopped with SIGTERM and must exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EDGEGW_BIN:-zig-out/bin/edgegw}
policies=${EDGEGW_DEMO_POLICIES:-policies}
python=/usr/bin/python3
certs=certs/out
eec_id=spiffe://site1/eec/eec1
log=$(mktemp /tmp/edgegw-demo-log.XXXXXX)
app_log=$(mktemp /tmp/edgegw-demo-app.XXXXXX)
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

pid= app_pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  [[ -n $app_pid ]] && kill "$app_pid" 2>/dev/null || true
}
trap cleanup EXIT

step "starting the application behind the EAS (Python, plain HTTP on 127.0.0.1:8480)"
# It answers JSON with the x-eec-id header it received (set by the EAS sidecar) and
# records every request in $app_log.
"$python" - "$app_log" <<'EOF' &
import http.server, json, sys
log = open(sys.argv[1], "a", buffering=1)
class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        seen = {"method": self.command, "path": self.path, "x-eec-id": self.headers.get("x-eec-id")}
        log.write(json.dumps(seen) + "\n")
        body = json.dumps({"app": "demo", **seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_PUT = do_DELETE = do_GET
http.server.ThreadingHTTPServer(("127.0.0.1", 8480), App).serve_forever()
EOF
app_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/8480) 2>/dev/null && break
  kill -0 $app_pid 2>/dev/null || { echo "the application did not start (port 8480 in use?)" >&2; exit 1; }
  sleep 0.1
done

step "starting edgegw with $policies/"
"$bin" serve --policies "$policies" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q '"event":"ready"' "$log" && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "edgegw exited early" >&2; exit 1; }
  sleep 0.1
done
grep '"event":"listening"' "$log" | sed 's/^/   /'

step "waiting for the site to settle (EES registered at the ECS over EDGE-6, EAS at the EES over EDGE-3)"
settled=0
for _ in $(seq 50); do
  if "$bin" eec discover --json >/dev/null 2>&1; then settled=1; break; fi
  sleep 0.2
done
if ((settled)); then
  ok "the ECS provisions the EES and the EES discovers the EAS"
else
  bad "the site did not settle in 10 s; the last attempt:"
  "$bin" eec discover 2>&1 | sed 's/^/      /' || true
fi

step "EEC: the EDGEAPP flow (edgegw eec demo --json)"
rc=0
out=$("$bin" eec demo --json 2>&1) || rc=$?
sed 's/^/   /' <<<"$out"
"$python" - "$out" "$eec_id" <<'EOF' || failures=$((failures + 1))
import json, sys
out, eec_id = sys.argv[1], sys.argv[2]
want = [("provision", 200), ("register", 201), ("discover", 200), ("eas-call", 200),
        ("eas-call-expired", 401), ("refresh", 200), ("eas-call-retry", 200), ("deregister", 204)]
try:
    lines = [json.loads(line) for line in out.splitlines()]
except ValueError:
    print("   FAILED: the EEC did not print JSON lines")
    sys.exit(1)
got = [(s.get("step"), s.get("status")) for s in lines]
bad = 0
for i, (name, status) in enumerate(want):
    if i < len(got) and got[i] == (name, status):
        print(f"   ok: {name} answered {status}")
    else:
        print(f"   FAILED: step {i + 1}: wanted {name} {status}, got {got[i] if i < len(got) else 'nothing'}")
        bad = 1
if len(got) > len(want):
    print(f"   FAILED: unexpected steps {got[len(want):]}")
    bad = 1
for s in lines:
    if s.get("step") in ("eas-call", "eas-call-retry"):
        seen = (s.get("body") or {}).get("x-eec-id") if isinstance(s.get("body"), dict) else None
        if seen == eec_id:
            print(f"   ok: {s['step']}: the application saw x-eec-id {seen}")
        else:
            print(f"   FAILED: {s['step']}: the application saw x-eec-id {seen!r}, wanted {eec_id}")
            bad = 1
sys.exit(bad)
EOF
if [[ $rc -eq 0 ]]; then ok "the EEC exited 0"; else bad "the EEC exited $rc"; fi
if grep -q 'eyJ' <<<"$out"; then bad "a token appears in the EEC's output"; else ok "no token in the EEC's output"; fi
calls=$(grep -c . "$app_log" || true)
spoofed=$(grep -vc "\"x-eec-id\": \"$eec_id\"" "$app_log" || true)
if [[ $calls -ge 2 && $spoofed -eq 0 ]]; then
  ok "the application got $calls calls, each with x-eec-id $eec_id"
else
  bad "the application log: $(tr '\n' ' ' <"$app_log")"
fi

curl_json() { curl -sS --max-time 5 --cacert $certs/ca.pem "$@" 2>&1 || true; }

step "EEC -> ECS over EDGE-4 (mutual TLS)"
out=$(curl_json --resolve ecs1.site1.example:8443:127.0.0.1 --cert $certs/eec1.pem \
  --key $certs/eec1.key https://ecs1.site1.example:8443/healthz -w ' %{http_code}')
echo "   $out"
expect "the ECS answers the EEC under its node name" ' 200' "$out"
out=$(curl_json --resolve ecs1.site1.example:8443:127.0.0.1 https://ecs1.site1.example:8443/healthz)
expect "an EEC without a certificate is refused at the handshake" 'alert' "$out"

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

step "EEC -> EES over EDGE-1-psk (TLS-PSK)"
read -r identity key < <(grep -v '^#' $certs/demo.psk | head -1)
psk_get() { # key
  printf 'GET /whoami HTTP/1.1\r\nHost: ees1.site1.example\r\nConnection: close\r\n\r\n' |
    timeout 5 openssl s_client -connect 127.0.0.1:8442 -tls1_2 -psk_identity "$identity" \
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
  -d scope=eees-eeccontextreloc -d targetNfInstanceId=ees1.site1.example)
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
if grep -q 'eyJ' "$log"; then bad "a token appears in the log"; else ok "no token in the log"; fi

out=$(curl_json https://localhost:8490/metrics | grep -E '^edgegw_authz_decisions_total.*"deny"' || true)
expect "the admin listener's /metrics counts the refusals" 'edgegw_authz_decisions_total{' "$out"

step "SIGTERM: drain and stop"
kill -TERM $pid
rc=0
wait $pid || rc=$?
pid=
grep -E '"event":"(draining|stopped)"' "$log" | sed 's/^/   /'
if [[ $rc -eq 0 ]]; then ok "edgegw exited 0"; else bad "edgegw exited $rc"; fi
kill $app_pid 2>/dev/null || true
wait $app_pid 2>/dev/null || true
app_pid=
trap - EXIT
rm -f "$log" "$app_log"

if ((failures)); then
  printf '\n%d check(s) failed\n' $failures
  exit 1
fi
printf '\ndemo: every check passed\n'
