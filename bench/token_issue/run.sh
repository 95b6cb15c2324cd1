#!/usr/bin/env bash
# Token issuance benchmark: edgegw's ECS answering POST /oauth2/token over kept-alive
# mutual TLS, against BoringSSL's raw ECDSA P-256 signing rate on the same machine.
# See bench/token_issue/README.md. Run from anywhere; `zig build bench-token-issue` runs it.
#
# Environment: CONNS (4), DURATION (10 s), WARMUP (1 s), DEPTH (1, pipeline depth),
# POLL (1 = the client polls instead of sleeping, token_load -P; 0 = blocking reads), SERVER_CPU (0) and
# CLIENT_CPU (1): the cores edgegw and the client are pinned to (when there are two),
# BSSL_TIMEOUT (3 s per bssl-tool run), PREFIX (/tmp/edgegw-bench), RESULTS_DIR
# (bench/results), EDGEGW_PERF=1 to record `perf record -g` of edgegw during the load.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

CONNS=${CONNS:-4}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
DEPTH=${DEPTH:-1}
POLL=${POLL:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BSSL_TIMEOUT=${BSSL_TIMEOUT:-3}
PREFIX=${PREFIX:-/tmp/edgegw-bench}
RESULTS_DIR=${RESULTS_DIR:-$root/bench/results}
BORINGSSL_INC=/usr/include/android
BORINGSSL_LIB=/usr/lib/x86_64-linux-gnu/android
certs=$root/certs/out

log() { echo "run.sh: $*" >&2; }

bash certs/gen.sh

# build.zig declares a preferred optimize mode (ReleaseSafe), so `-Doptimize=ReleaseFast`
# is not an option there: `-Drelease=true` builds that preferred mode, the one a
# deployment gets. OPTIMIZE records what was built.
OPTIMIZE=ReleaseSafe
log "building edgegw ($OPTIMIZE) into $PREFIX"
zig build -Drelease=true --prefix "$PREFIX"
bin=$PREFIX/bin/edgegw

work=$(mktemp -d /tmp/edgegw-bench.XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

log "building the load client"
cc=(zig cc)
command -v cc >/dev/null && cc=(cc)
"${cc[@]}" -std=c17 -O2 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
  -I "$BORINGSSL_INC" bench/token_issue/token_load.c \
  "$BORINGSSL_LIB/libssl.so" "$BORINGSSL_LIB/libcrypto.so" -Wl,-rpath,"$BORINGSSL_LIB" \
  -lpthread -o "$work/token_load"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pol=$work/policies
mkdir -p "$pol"
# The site and ECS set-up of test/e2e/test_tokens.py (site_yaml); the first key signs.
cat >"$pol/site.yaml" <<EOF
site:
  id: bench
  state_dir: $work/state
  trust:
    ca: $certs/ca.pem
    crl: $certs/crl.pem
tokens:
  issuers:
    - id: ecs.site1.example
      local: true
ecs:
  id: ecs.site1.example
  token_ttl_s: 600
  signing_keys:
    - kid: ecs-k1
      key: $certs/jwt-es256-k1.key
    - kid: ecs-k2
      key: $certs/jwt-es256-k2.key
  clients:
    - id: spiffe://site1/ees/*
      scopes: [eees-whoami, eees-other]
      audiences: any
EOF
# requests_per_connection at its maximum: the default (1000) would close each
# connection every 1000 tokens, and this measures kept-alive connections.
cat >"$pol/edge6.yaml" <<EOF
listener:
  interface: EDGE-6
  role: ecs
  listen: "127.0.0.1:$port"
  mount: [health, ecs]
  tls:
    mode: mtls
    cert: $certs/ecs.pem
    key: $certs/ecs.key
  authz:
    mode: static
    rules:
      - path: /.well-known/
        allow: any
      - path: /oauth2/
        allow: [spiffe://site1/ees/*]
  limits:
    requests_per_connection: 1000000
EOF

# bssl-tool speed: prints "sign_per_s" for ECDSA P-256 (one core, like edgegw's loop).
bssl_sign() {
  bssl-tool speed -filter 'ECDSA P-256' -timeout "$BSSL_TIMEOUT" -json | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["description"] == "ECDSA P-256 signing":
        us = r.get("microseconds", r.get("timeInMicroseconds"))
        print("%.1f" % (r["numCalls"] * 1e6 / us))
        break
else:
    sys.exit("no ECDSA P-256 signing line in bssl-tool output")'
}

log "bssl-tool speed (before)"
bssl_before=$(bssl_sign)
log "ECDSA P-256 sign/s before: $bssl_before"

log "starting edgegw on 127.0.0.1:$port"
# One core each, so that neither steals the other's (the polling client never sleeps).
pin_server=() pin_client=()
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
  pin_server=(taskset -c "$SERVER_CPU") pin_client=(taskset -c "$CLIENT_CPU")
fi
"${pin_server[@]}" "$bin" serve --policies "$pol" >"$work/edgegw.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q '"event":"ready"' "$work/edgegw.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/edgegw.log" >&2; log "edgegw exited"; exit 1; }
  sleep 0.1
done
grep -q '"event":"ready"' "$work/edgegw.log" || { cat "$work/edgegw.log" >&2; log "edgegw not ready"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)

perf_pid=
if [[ ${EDGEGW_PERF:-0} == 1 ]]; then
  perf record -g -o "$work/perf.data" -p "$pid" -- sleep $((DURATION + 1)) >/dev/null 2>&1 &
  perf_pid=$!
fi

log "load: $CONNS connections, depth $DEPTH, ${WARMUP}s warm-up, ${DURATION}s"
# edgegw's CPU time is sampled around the measured window: after the warm-up, at its end.
poll_flag=() client_mode="sleeps in read(2) (blocking sockets)"
[[ $POLL == 1 ]] && poll_flag=(-P) client_mode="polls (token_load -P: awake, so the server's writes wake no one)"

"${pin_client[@]}" "$work/token_load" -p "$port" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -q "$DEPTH" -C "$certs" "${poll_flag[@]}" \
  >"$work/load.out" 2>"$work/load.err" &
load_pid=$!
sleep "$WARMUP"
c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
sleep "$DURATION"
c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
load_rc=0
wait "$load_pid" || load_rc=$?
cat "$work/load.err" >&2
cat "$work/load.out"
[[ -n $perf_pid ]] && wait "$perf_pid" || true
result=$(grep '^RESULT ' "$work/load.out" || true)
[[ -n $result ]] || { log "no result from the load client"; exit 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${result#RESULT }"; }
tokens_per_s=$(field tokens_per_s)
errors=$(field total_errors)
reconnects=$(field reconnects)
latency=$(field mean_latency_ms)
cpu_pct=$(python3 -c "print('%.1f' % (($c1 - $c0) / $hz / ($t1 - $t0) * 100))")
log "edgegw CPU during the measured window: $cpu_pct% of one core"

log "stopping edgegw (SIGTERM)"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if [[ $rc != 0 ]]; then
  tail -20 "$work/edgegw.log" >&2
  log "edgegw exited $rc on SIGTERM"
  exit 1
fi
authz_lines=$(grep -c '"event":"authz"' "$work/edgegw.log" || true)
log_bytes=$(wc -c <"$work/edgegw.log")

log "bssl-tool speed (after)"
bssl_after=$(bssl_sign)
log "ECDSA P-256 sign/s after: $bssl_after"

read -r bssl_mean ratio < <(python3 -c "
m = ($bssl_before + $bssl_after) / 2
print('%.1f %.1f' % (m, $tokens_per_s / m * 100))")

if [[ -n $perf_pid ]]; then
  mkdir -p "$RESULTS_DIR"
  # By library first (BoringSSL has no symbols here), then by symbol.
  { perf report -i "$work/perf.data" --no-children --stdio --sort dso -g none
    perf report -i "$work/perf.data" --no-children --stdio --percent-limit 0.5 \
      --sort dso,symbol -g none; } >"$RESULTS_DIR/token_issue-perf.txt" 2>/dev/null || true
  log "perf report: $RESULTS_DIR/token_issue-perf.txt"
fi

date_s=$(date -u +%Y-%m-%d)
mkdir -p "$RESULTS_DIR"
out=$RESULTS_DIR/token_issue-$date_s.md
# A second run on one day gets its own file: a recorded result is never overwritten.
n=2
while [[ -e $out ]]; do
  out=$RESULTS_DIR/token_issue-$date_s-$n.md
  n=$((n + 1))
done
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
verdict=met
python3 -c "import sys; sys.exit(0 if $ratio >= 80 else 1)" || verdict="NOT met"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cat >"$out" <<EOF
# Token issuance benchmark, $date_s

\`bash bench/token_issue/run.sh\` (\`zig build bench-token-issue\`) at commit $commit.

| | |
|---|---|
| machine | $(nproc) cores, $cpu_model, $(uname -r) |
| edgegw build | $OPTIMIZE (\`zig build -Drelease=true\`), default target (x86-64-v3) |
| load | $CONNS kept-alive mTLS 1.3 connections (client cert ees1-client), pipeline depth $DEPTH, client $client_mode |
| cores | edgegw ${pin_server[*]:-not pinned}, client ${pin_client[*]:-not pinned} |
| duration | ${DURATION} s measured after ${WARMUP} s warm-up |
| tokens/s (200 with access_token) | **$tokens_per_s** |
| errors / reconnects (whole run) | $errors / $reconnects |
| mean latency per request | $latency ms |
| bssl-tool ECDSA P-256 sign/s | before $bssl_before, after $bssl_after, mean **$bssl_mean** |
| ratio tokens/s : sign/s | **$ratio %** (target >= 80 %: $verdict) |
| edgegw CPU, measured window | $cpu_pct % of one core (utime+stime from /proc/<pid>/stat) |
| edgegw log during the run | $authz_lines \`authz\` lines, $log_bytes bytes (stdout to a file) |

edgegw serves from one event loop (one core), and \`bssl-tool speed\` signs on one core,
so the ratio compares like with like; the load client runs on the other core(s).
EOF
echo
cat "$out"
log "wrote $out"
[[ $load_rc == 0 ]] || { log "load client reported errors (exit $load_rc)"; exit 1; }
