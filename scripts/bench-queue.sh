#!/usr/bin/env bash
# Queue benchmark with both peers (iceoryx2, Unix socket) in one run; writes
# the results into docs/benchmarks.md between the queue-bench markers.
# Usage: scripts/bench-queue.sh [extra `tickline-queue-bench run` flags]
set -euo pipefail
cd "$(dirname "$0")/.."

# iceoryx2 generates bindings with bindgen, which needs libclang.
if ! ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so'; then
  echo "installing libclang-dev (bindgen needs it for iceoryx2)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq libclang-dev >/dev/null
  else
    echo "libclang missing: run 'sudo apt-get install libclang-dev' first" >&2
    exit 1
  fi
fi

cargo build --release -p queue-bench --features iceoryx2

# iceoryx2's own benchmark as an anchor, when its source is at hand
# (ICEORYX2_SRC: a checkout of github.com/eclipse-iceoryx/iceoryx2; crates.io
# does not ship its benchmarks).
anchor=()
if [ -n "${ICEORYX2_SRC:-}" ]; then
  (cd "$ICEORYX2_SRC" && cargo build --release -q -p benchmark-publish-subscribe)
  anchor=(--iceoryx2-benchmark "$ICEORYX2_SRC/target/release/benchmark-publish-subscribe")
else
  echo "ICEORYX2_SRC not set: iceoryx2's own benchmark is not run as an anchor" >&2
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
./target/release/tickline-queue-bench run --markdown "$out" "${anchor[@]}" "$@"

python3 scripts/splice-doc.py docs/benchmarks.md queue-bench "$out"
echo "results written to docs/benchmarks.md" >&2
