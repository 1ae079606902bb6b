#!/usr/bin/env bash
# Builds every libFuzzer target (each *_fuzzer.cc is the target of the same
# name in its package, see tools/fuzzing.bzl) with clang under
# --config=fuzz, then runs each for SECONDS (default 20) on a copy of its
# seed corpus (<package>/testdata/<name>_corpus), so that what it adds does
# not land in the repository. Fails when a fuzzer fails, naming the input
# that crashed it (kept in its work directory).
#
#   tools/run-fuzzers.sh [SECONDS] [FUZZER_TARGET...]
#
# The fuzz build has its own output base (a compiler switch rebuilds
# everything) and creates no bazel-* links, so gcc builds keep theirs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

seconds=${1:-20}
shift || true
output_base=${ZIGGY_FUZZ_OUTPUT_BASE:-$HOME/.cache/ziggy-fuzz-output}
bazel=(./bazelw --output_base="$output_base")

targets=("$@")
if ((${#targets[@]} == 0)); then
  # find does not follow the bazel-* links.
  while IFS= read -r src; do
    src=${src#./}
    targets+=("//$(dirname "$src"):$(basename "$src" .cc)")
  done < <(find . -name '*_fuzzer.cc' | sort)
fi

"${bazel[@]}" build --config=fuzz --symlink_prefix=/ "${targets[@]}" || exit 1
bin=$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null) || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/ziggy-fuzz.XXXXXX")
failed=0
for target in "${targets[@]}"; do
  package=${target#//}
  package=${package%%:*}
  name=${target##*:}
  dir="$work/$name"
  mkdir -p "$dir/corpus"
  cp "$package/testdata/${name}_corpus/"* "$dir/corpus/"
  if "$bin/$package/$name" -max_total_time="$seconds" -timeout=10 \
       -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1; then
    echo "fuzz $target: ok, $(grep -ao 'Done [0-9]* runs' "$dir/log" | tail -1)"
  else
    failed=1
    tail -n 40 "$dir/log"
    for input in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
      [[ -e "$input" ]] && echo "fuzz $target: FAILED on input $input"
    done
    echo "fuzz $target: FAILED (log: $dir/log)"
  fi
done
((failed)) || rm -rf "$work"
exit "$failed"
