#!/usr/bin/env bash
# Regenerates docs/dashboard.png, the README's picture of `ziggyview
# --serve`: starts a ziggyd on free loopback ports, the dashboard following
# it live, feeds ten minutes' worth of realistic events (tools/
# dashboard_feed.cc: web requests with some 404s and 500s and their SQL
# sub-events from four hosts, jobs from two workers), and has headless
# Chromium (tools/install-test-tools.sh installs it) take the screenshot.
#
#   tools/dashboard-screenshot.sh [OUT.png]   (default docs/dashboard.png)
set -euo pipefail

cd "$(dirname "$0")/.."
out=${1:-docs/dashboard.png}
./bazelw build //collector:ziggyd //viewer:ziggyview //tools:dashboard_feed
bin=$(./bazelw info bazel-bin 2>/dev/null)

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
control=127.0.0.1:$(free_port)
collect=127.0.0.1:$(free_port)

"$bin/collector/ziggyd" --control="$control" --collect="$collect" --relay= \
  --log-path="$tmp/logs" 2>"$tmp/ziggyd.err" &
pids+=($!)
for _ in $(seq 100); do
  grep -q listening "$tmp/ziggyd.err" && break
  sleep 0.1
done

"$bin/viewer/ziggyview" --serve=127.0.0.1:0 -H "$control" \
  >"$tmp/view.out" 2>"$tmp/view.err" &
pids+=($!)
url=
for _ in $(seq 100); do
  url=$(sed -n 's/^dashboard: //p' "$tmp/view.out")
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || { cat "$tmp/view.err" >&2; exit 1; }

"$bin/tools/dashboard_feed" "$collect" 20000 600
sleep 1

mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$tmp/chromium" --window-size=1400,1000 \
  --virtual-time-budget=8000 --screenshot="$PWD/$out" "${url}#detail" \
  2>"$tmp/chromium.err" || { cat "$tmp/chromium.err" >&2; exit 1; }
echo "wrote $out ($(stat -c %s "$out") bytes) from $url"
