#!/usr/bin/env bash
# pipeline_benchmark's harness keeps working: every row runs (a few
# thousand events each) without an error and reports events/s, its ratio to
# the ceiling and CPU per event. Not a timing test: no figure is checked.
# rsyslog's row is left out: rsyslog is optional, not a test dependency.
set -euo pipefail
out="$TEST_TMPDIR/pipeline.json"
ZIGGY_BENCH_EVENTS=4500 benchmarks/pipeline_benchmark \
  --benchmark_filter='BM_(Raw|Client|Seed|Relay|JetStream|Ingest)' \
  --benchmark_format=json >"$out"
fail() {
  echo "$1" >&2
  cat "$out" >&2
  exit 1
}
if grep -q '"error_occurred": true' "$out"; then
  fail "a row failed (error_message above)"
fi
for row in BM_RawPushPull BM_ClientToZiggyd/0 BM_ClientToZiggyd/1 \
  BM_SeedToZiggyd/1 BM_SeedToZiggyd/225 BM_RelayToZiggyd/1 \
  BM_RelayToZiggyd/225 BM_JetStreamToZiggyd/225/1 BM_JetStreamToZiggyd/225/2 \
  BM_IngestWhileCompressing/1 BM_IngestWhileCompressing/225; do
  grep -q "\"name\": \"$row/" "$out" || fail "no row $row"
done
[[ $(grep -c '"items_per_second"' "$out") == 11 ]] || fail "rows without events/s"
[[ $(grep -c '"x_raw"' "$out") == 10 ]] || fail "rows (after the ceiling) without x_raw"
[[ $(grep -c '"recv_cpu_ns"' "$out") == 11 ]] || fail "rows without CPU"
[[ $(grep -c '"cpu_ns_nats"' "$out") == 2 ]] || fail "JetStream rows without nats-server's CPU"
[[ $(grep -c '"x_idle"' "$out") == 2 ]] || fail "compressing rows without x_idle"
[[ $(grep -c '"compress_mb_s"' "$out") == 2 ]] ||
  fail "compressing rows without compress_mb_s"
