#!/usr/bin/env bash
# Installs what CI needs beyond ./bazelw's packages: clang 14 with its
# sanitizer and libFuzzer runtimes and lld, for `--config=fuzz`
# (tools/fuzzing.bzl), and promtool (Debian's prometheus) to check the
# daemons' /metrics, and Chromium (Debian's chromium) for the dashboard's
# browser test (tests/dashboard_test.cc) and tools/dashboard-screenshot.sh;
# for the package's test (packaging/deb_test.sh) shellcheck, systemd
# (systemd-analyze verify) and lintian; and zstd, the command-line tool the
# tests of compressed event files use; nats-server, the JetStream server the
# tests of the NATS upstream and source start (tests/nats_server.h), and
# openssl, which makes their TLS certificates.
# ./bazelw runs it before `test`.
# Idempotent and silent when everything is there.
set -euo pipefail

readonly PACKAGES=(clang-14 libclang-rt-14-dev lld-14 prometheus chromium
  shellcheck systemd lintian zstd nats-server openssl)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$pkg")
done
((${#missing[@]})) || exit 0

echo "install-test-tools: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null ||
    { echo "install-test-tools: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
log=/tmp/install-test-tools-apt.log
if ! { "${sudo[@]}" apt-get update -qq &&
       "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
     >"$log" 2>&1; then
  echo "install-test-tools: apt-get could not install ${missing[*]}; see $log" >&2
  exit 1
fi
