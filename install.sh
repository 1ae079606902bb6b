#!/usr/bin/env bash
# Installs Ziggy's binaries into a directory on the PATH:
#   ./bazelw run -c opt //:install                 # to /usr/local/bin
#   ./bazelw run -c opt //:install -- ~/bin        # elsewhere
set -euo pipefail
dest=${1:-/usr/local/bin}
if [[ "$dest" != /* && -n "${BUILD_WORKING_DIRECTORY:-}" ]]; then
  dest="$BUILD_WORKING_DIRECTORY/$dest"
fi
# Under `bazel run` (and in tests) the working directory is the runfiles tree.
binaries=(collector/ziggyd forwarder/ziggy-forwarder ctl/ziggyctl viewer/ziggyview)
mkdir -p "$dest"
for binary in "${binaries[@]}"; do
  if [[ ! -x "$binary" ]]; then
    echo "install: $binary not found; run this through ./bazelw run //:install" >&2
    exit 1
  fi
  install -m 0755 "$binary" "$dest/"
  echo "installed $dest/$(basename "$binary")"
done
