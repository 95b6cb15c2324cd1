#!/usr/bin/env bash
# Runs one Criterion suite and fails when it tested nothing: a suite whose tests the
# linker dropped reports "Tested: 0" and exits 0, which must never count as a pass.
set -uo pipefail
suite=$1
shift
out=$(mktemp)
"$suite" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
tested=$(sed -n 's/.*Synthesis: Tested: \([0-9]*\).*/\1/p' "$out" | tail -1)
rm -f "$out"
if [[ -z $tested || $tested -eq 0 ]]; then
  echo "run-unit-suite: $(basename "$suite") ran no test" >&2
  exit 1
fi
exit "$rc"
