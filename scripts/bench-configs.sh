#!/usr/bin/env bash
# Pipeline configs against each other on the default paced market: each
# config once per round, in turn (ABAB...), ROUNDS rounds; tick to decision
# and each stage's queue wait from each run's summary.json, median
# (min-max) over rounds, in µs. Used to choose the default placement and
# wait strategy (docs/benchmarks.md, "Hand-offs re-planned").
# Usage: scripts/bench-configs.sh ROUNDS CONFIG...
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1
shift
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
k=0
for cfg in "$@"; do
  k=$((k + 1))
  sed -e "0,/^name = \"[^\"]*\"/s//name = \"bench-c$k\"/" -e "s|^run_dir = \"[^\"]*\"|run_dir = \"$dir/run-$k\"|" "$cfg" > "$dir/c$k.toml"
done
for r in $(seq "$rounds"); do
  for i in $(seq "$k"); do
    echo "round $r of $rounds: ${!i}" >&2
    ./target/release/tickline-supervisor run --fresh --config "$dir/c$i.toml" >/dev/null 2>&1
    cp "$dir/run-$i/summary.json" "$dir/c$i.$r.json"
  done
done
python3 - "$dir" "$rounds" "$@" <<'PY'
import json, sys
d, rounds, cfgs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def spread(v):
    v = sorted(v); n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2), v[0], v[-1]
cell = lambda v: "{:.1f} ({:.1f}-{:.1f})".format(*(x / 1e3 for x in spread(v)))
print(f"`scripts/bench-configs.sh {rounds} {' '.join(cfgs)}`: µs, median (min-max) over {rounds} rounds, configs in turn.")
print()
print("| config | tick to decision p50 | p99 | p99.9 | max | queue waits p99 (feature / inference / router) |")
print("|---|---:|---:|---:|---:|---|")
for i, c in enumerate(cfgs, 1):
    s = [json.load(open(f"{d}/c{i}.{r}.json")) for r in range(1, rounds + 1)]
    t = [x["stages"]["order-router"]["latency_ns"]["tick_to_decision"] for x in s]
    qw = " / ".join(cell([x["stages"][st]["latency_ns"]["queue_wait"]["p99"] for x in s])
                    for st in ("feature", "inference", "order-router"))
    print(f"| `{c}` | " + " | ".join(cell([h[p] for h in t]) for p in ("p50", "p99", "p99.9", "max")) + f" | {qw} |")
PY
