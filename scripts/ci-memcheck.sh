#!/usr/bin/env bash
# The Criterion unit suites and the whole end-to-end suite again, built with Debian's
# clang under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer, every
# report fatal. Zig 0.14 has no ASan runtime, so this build is clang's; it is linked like
# build.zig's (BoringSSL first by full path, with an rpath). Every report of every edgegw
# process the suite starts (servers and CLI runs alike, whatever their exit code is
# checked for) lands in a log directory, and any file there fails the run.
# The tests that wrap edgegw in valgrind themselves (named *memcheck*) are left to the
# normal run: valgrind cannot run an ASan binary. Needs `zig build` first (egw-psk-load).
#   scripts/ci-memcheck.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

CC=${ASAN_CC:-clang-14}
BSSL_INC=/usr/include/android
BSSL_LIB=/usr/lib/x86_64-linux-gnu/android
LLHTTP_SRC=/usr/share/llhttp
LLHTTP_INC=/usr/share/include/llhttp
OUT=zig-out/asan
mkdir -p "$OUT/obj"
CFLAGS="-std=c17 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
  -fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude -Isrc -I$BSSL_INC -isystem $LLHTTP_INC"
export CC CFLAGS OUT
mapfile -t srcs < <(find src -name '*.c' | sort)
printf '%s\n' "${srcs[@]}" | xargs -P "$(nproc)" -I{} bash -c \
  'o="$OUT/obj/${1%.c}.o"; mkdir -p "$(dirname "$o")"; [[ -f "$o" && "$o" -nt "$1" && -z "$(find src include -name "*.h" -newer "$o" -print -quit)" ]] || $CC $CFLAGS -c "$1" -o "$o"' _ {}
for f in llhttp api http; do
  [[ -f "$OUT/obj/llhttp-$f.o" ]] || $CC -std=c11 -w -g -O1 -fsanitize=address -I"$LLHTTP_INC" -c "$LLHTTP_SRC/$f.c" -o "$OUT/obj/llhttp-$f.o"
done
mapfile -t objs < <(find "$OUT/obj" -name '*.o' | sort)
$CC -fsanitize=address,undefined -o "$OUT/edgegw" "$BSSL_LIB/libssl.so" "$BSSL_LIB/libcrypto.so" "${objs[@]}" \
  -Wl,-rpath,"$BSSL_LIB" -luv -ljansson -ljwt-gnutls -lsqlite3 -lyaml -lpthread -lm
# The other tools the tests find beside the binary (egw-psk-load, edgegw-bench): Zig's.
for tool in zig-out/bin/*; do
  [[ "$(basename "$tool")" == edgegw ]] || ln -sf "$PWD/$tool" "$OUT/$(basename "$tool")"
done
built=$(date +%s)
echo "ci-memcheck: ASan+UBSan edgegw built in $((built - start)) s" >&2

# The Criterion unit suites, linked against the same objects (every unit suite gets all
# of src/ but main.c; the linker keeps what it needs).
mkdir -p "$OUT/unit"
mapfile -t tsrcs < <(find test/unit -name '*.c' | sort)
printf '%s\n' "${tsrcs[@]}" | xargs -P "$(nproc)" -I{} bash -c \
  'o="$OUT/unit/${1%.c}.o"; mkdir -p "$(dirname "$o")"; [[ -f "$o" && "$o" -nt "$1" && -z "$(find src include -name "*.h" -newer "$o" -print -quit)" ]] || $CC $CFLAGS -c "$1" -o "$o"' _ {}
mapfile -t lib_objs < <(printf '%s\n' "${objs[@]}" | grep -v '/obj/src/main\.o$')
suites=()
for dir in test/unit/*/; do
  name=$(basename "$dir")
  mapfile -t suite_objs < <(find "test/unit/$name" -name '*.c' | sort | sed "s|^\(.*\)\.c\$|$OUT/unit/\1.o|")
  ((${#suite_objs[@]})) || continue
  $CC -fsanitize=address,undefined -o "$OUT/unit-$name" "$BSSL_LIB/libssl.so" "$BSSL_LIB/libcrypto.so" \
    "${suite_objs[@]}" "${lib_objs[@]}" -Wl,-rpath,"$BSSL_LIB" -luv -ljansson -ljwt-gnutls \
    -lsqlite3 -lyaml -lcriterion -lpthread -lm 2> >(grep -v 'may conflict with libcrypto' >&2)
  suites+=("$OUT/unit-$name")
done

reports=$(mktemp -d /tmp/egw-asan.XXXXXX)
export ASAN_OPTIONS="detect_leaks=1:quarantine_size_mb=4:thread_local_quarantine_size_kb=64:log_path=$reports/asan:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$PWD/scripts/asan.supp:print_suppressions=0"
rc=0
# One job: Criterion's parallel runner leaks a few of its own blocks per worker, and a
# suppression of libcriterion would hide every leak (it is on every test's stack).
unit_out=$(mktemp -d /tmp/egw-unit-asan.XXXXXX)
for suite in "${suites[@]}"; do
  name=$(basename "$suite")
  if ! scripts/run-unit-suite.sh "$suite" --jobs 1 >"$unit_out/$name" 2>&1; then
    echo "ci-memcheck: $name failed:" >&2
    tail -30 "$unit_out/$name" >&2
    rc=1
  fi
  grep -h "Synthesis" "$unit_out/$name" | sed "s|^|ci-memcheck: $name: |" >&2 || true
done
rm -rf "$unit_out"
unit_end=$(date +%s)
echo "ci-memcheck: unit suites under ASan+UBSan took $((unit_end - built)) s" >&2
EDGEGW_BIN="$PWD/$OUT/edgegw" EDGEGW_ASAN=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  -k "not memcheck" "${@:-test/e2e}" || rc=$?
end=$(date +%s)
if compgen -G "$reports/*" >/dev/null; then
  echo "ci-memcheck: sanitizer reports:" >&2
  for f in "$reports"/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  rc=1
fi
rm -rf "$reports"
echo "ci-memcheck: e2e under ASan+UBSan took $((end - unit_end)) s, exit $rc" >&2

echo "ci-memcheck: total $(($(date +%s) - start)) s, exit $rc" >&2
exit $rc
