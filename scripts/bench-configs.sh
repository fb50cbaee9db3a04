#!/usr/bin/env bash
# Pipeline configs against each other on the default paced market (each
# config's feed-handler source and pace are replaced by config/pipeline.toml's): each
# config once per round, in turn (ABAB...), ROUNDS rounds; tick to decision
# and each stage's queue wait from each run's summary.json, median
# (min-max) over rounds, in µs. Each round also runs the floor: the same
# work on the same paced events in one thread of one process
# (tickline-pipeline-floor, pinned to CPU 1); the difference is what the
# process boundaries and hand-offs cost. Used to choose the default
# placement and wait strategy (docs/benchmarks.md, "Hand-offs re-planned").
# Usage: scripts/bench-configs.sh ROUNDS CONFIG...
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1
shift
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source=$(grep -o '"--source", "[^"]*", "--pace", "[^"]*"' config/pipeline.toml)
k=0
for cfg in "$@"; do
  k=$((k + 1))
  sed -e "0,/^name = \"[^\"]*\"/s//name = \"bench-c$k\"/" -e "s|^run_dir = \"[^\"]*\"|run_dir = \"$dir/run-$k\"|" \
      -e "s|\"--source\", \"[^\"]*\", \"--pace\", \"[^\"]*\"|$source|" "$cfg" > "$dir/c$k.toml"
done
for r in $(seq "$rounds"); do
  for i in $(seq "$k"); do
    echo "round $r of $rounds: ${!i}" >&2
    ./target/release/tickline-supervisor run --fresh --config "$dir/c$i.toml" >/dev/null 2>&1
    cp "$dir/run-$i/summary.json" "$dir/c$i.$r.json"
  done
  echo "round $r of $rounds: one thread" >&2
  src=$(echo "$source" | sed 's/"--source", "\([^"]*\)".*/\1/')
  taskset -c 1 ./target/release/tickline-pipeline-floor --source "$src" > "$dir/floor.$r.json" 2>/dev/null
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
    if i == 1:
        first = {p: spread([h[p] for h in t])[0] for p in ("p50", "p99")}
f = [json.load(open(f"{d}/floor.{r}.json"))["tick_to_decision_ns"] for r in range(1, rounds + 1)]
print("| one thread, one process (`tickline-pipeline-floor`) | " + " | ".join(cell([h[p] for h in f]) for p in ("p50", "p99", "p99.9", "max")) + " | - |")
print()
fl = {p: spread([h[p] for h in f])[0] for p in ("p50", "p99")}
print(f"- Process isolation (four processes, three hand-offs) costs `{cfgs[0]}` {(first['p50'] - fl['p50']) / 1e3:.1f} µs at p50 "
      f"and {(first['p99'] - fl['p99']) / 1e3:.1f} µs at p99 over the one-thread floor, medians over rounds.")
PY
