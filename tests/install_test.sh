#!/usr/bin/env bash
# //:install puts working binaries where it is told.
set -euo pipefail
dest="$TEST_TMPDIR/bin"
./install.sh "$dest"
for binary in ziggyd ziggy-forwarder ziggyctl ziggyview; do
  [[ -x "$dest/$binary" ]] || { echo "$binary not installed" >&2; exit 1; }
  "$dest/$binary" --helpshort >/dev/null 2>&1 || [[ $? -eq 1 ]]
done
# An installed ziggyctl runs and reports a dead daemon with exit 1.
if "$dest/ziggyctl" -H 127.0.0.1:1 --timeout=0.5 status 2>/dev/null; then
  echo "ziggyctl against nothing should fail" >&2
  exit 1
fi
