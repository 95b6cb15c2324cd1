#!/usr/bin/env bash
# Installs everything edgegw needs to build, run and test, on Debian 12, as root.
# Idempotent: a second run installs nothing and exits 0. Only Debian's packages and
# PyPI are used; nothing else is downloaded.
set -euo pipefail

ZIG_VERSION=0.14.1 # pinned: build.zig follows this version's API
TOOLS_DIR=/opt/edgegw-tools

DEBIAN_PACKAGES=(
  build-essential pkg-config git
  libuv1-dev node-llhttp android-libboringssl-dev android-boringssl
  libjwt-gnutls-dev libjansson-dev libsqlite3-dev libyaml-dev libcriterion-dev
  openssl curl valgrind clang-format
  clang libclang-rt-14-dev
  python3 python3-venv python3-pytest python3-pytest-timeout python3-yaml python3-requests python3-jwt python3-cryptography python3-jsonschema
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/edgegw-install-deps.log 2>&1 || { cat /tmp/edgegw-install-deps.log >&2; exit 1; }
fi

# Zig comes from PyPI into a private venv (Debian's python refuses system-wide pip).
if [[ "$("$TOOLS_DIR/venv/bin/python3" -m ziglang version 2>/dev/null || true)" != "$ZIG_VERSION" ]]; then
  echo "install-deps: installing zig $ZIG_VERSION from PyPI" >&2
  /usr/bin/python3 -m venv "$TOOLS_DIR/venv"
  "$TOOLS_DIR/venv/bin/python3" -m pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" >&2
fi
zig_bin=$("$TOOLS_DIR/venv/bin/python3" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
ln -sf "$zig_bin" /usr/local/bin/zig
