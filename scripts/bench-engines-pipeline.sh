#!/usr/bin/env bash
# The default pipeline (config/pipeline.toml, paced) with the inference stage
# on the native tree engine and on ONNX Runtime, in turn (ABAB...), ROUNDS
# rounds: tick to decision and the inference stage's service time, from
# each run's summary.json; median (min-max) over rounds. The section goes
# into docs/benchmarks.md.
# Usage: scripts/bench-engines-pipeline.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
scripts/setup-python.sh
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for engine in trees ort; do
  sed -e "s|\"--engine\", \"auto\"|\"--engine\", \"$engine\"|" \
      -e "s|^name = \"default\"|name = \"bench-$engine\"|" \
      -e "s|runs/default|$dir/run-$engine|" config/pipeline.toml > "$dir/$engine.toml"
done
for r in $(seq "$rounds"); do
  for engine in trees ort; do
    echo "round $r of $rounds: $engine" >&2
    ./target/release/tickline-supervisor run --fresh --config "$dir/$engine.toml" >/dev/null 2>&1
    cp "$dir/run-$engine/summary.json" "$dir/$engine.$r.json"
  done
done
python3 - "$dir" "$rounds" > "$dir/section.md" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def spread(v):
    v = sorted(v); n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2), v[0], v[-1]
cell = lambda v: "{:.1f} ({:.1f}-{:.1f})".format(*(x / 1e3 for x in spread(v)))
print(f"`scripts/bench-engines-pipeline.sh {rounds}`: `config/pipeline.toml` (synthetic market paced at 10k events/s")
print(f"with bursts, 250,000 events), `--engine trees` and `--engine ort` in turn, {rounds} rounds; µs, median (min-max).")
print()
print("| engine | tick to decision p50 | p99 | p99.9 | max | inference service p50 | inference service p99 |")
print("|---|---:|---:|---:|---:|---:|---:|")
for e in ("trees", "ort"):
    s = [json.load(open(f"{d}/{e}.{r}.json")) for r in range(1, rounds + 1)]
    t = [x["stages"]["order-router"]["latency_ns"]["tick_to_decision"] for x in s]
    i = [x["stages"]["inference"]["latency_ns"]["service"] for x in s]
    print(f"| {e} | " + " | ".join(cell([h[p] for h in t]) for p in ("p50", "p99", "p99.9", "max"))
          + f" | {cell([h['p50'] for h in i])} | {cell([h['p99'] for h in i])} |")
PY
python3 scripts/splice-doc.py docs/benchmarks.md engines-pipeline "$dir/section.md"
cat "$dir/section.md"
