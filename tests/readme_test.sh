#!/usr/bin/env bash
# The README's usage example must be client/example.cc verbatim (which the
# build compiles), so the example in the README always compiles.
set -euo pipefail
readme=README.md
example=client/example.cc
snippet=$(awk '/^```cpp example$/{on=1; next} /^```$/{on=0} on' "$readme")
if [[ -z "$snippet" ]]; then
  echo "README.md has no \`\`\`cpp example block" >&2
  exit 1
fi
if ! diff <(printf '%s\n' "$snippet") "$example"; then
  echo "README.md's example differs from $example (diff above)" >&2
  exit 1
fi

# The README's NATS cluster configuration must be docs/nats-server.conf
# verbatim (which tests/nats_server.h starts three servers from).
conf=docs/nats-server.conf
snippet=$(awk '/^```conf nats-server$/{on=1; next} /^```$/{on=0} on' "$readme")
if [[ -z "$snippet" ]]; then
  echo "README.md has no \`\`\`conf nats-server block" >&2
  exit 1
fi
if ! diff <(printf '%s\n' "$snippet") "$conf"; then
  echo "README.md's NATS configuration differs from $conf (diff above)" >&2
  exit 1
fi
