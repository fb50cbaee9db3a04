#!/usr/bin/env bash
# Queue benchmark with both peers (iceoryx2, Unix socket) in one run; writes
# the results into docs/benchmarks.md between the queue-bench markers.
# Usage: scripts/bench-queue.sh [extra `tickline-queue bench` flags]
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

cargo build --release -p queue-tool --features iceoryx2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
./target/release/tickline-queue bench --markdown "$out" "$@"

doc=docs/benchmarks.md
begin='<!-- queue-bench:begin -->'
end='<!-- queue-bench:end -->'
python3 - "$doc" "$out" "$begin" "$end" <<'PY'
import sys
doc, out, begin, end = sys.argv[1:]
section = open(out).read().strip()
text = open(doc).read()
i, j = text.index(begin), text.index(end)
open(doc, "w").write(text[: i + len(begin)] + "\n" + section + "\n" + text[j:])
PY
echo "results written to $doc" >&2
