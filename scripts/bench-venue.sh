#!/usr/bin/env bash
# What the venue simulator costs the decision path: config/sim-binance.toml
# (the venue simulator beside the pipeline, the feed's level records to it)
# against the same without the level records (sim-top: the venue sees the
# top 10 levels) and against the pipeline with the paper exchange and no
# simulator, the Binance USD-M capture replayed at 10x its own pace, ROUNDS
# interleaved rounds (sim, sim-top, paper, sim, ...). Prints per run tick
# to decision (p50, p99, p99.9), and for the simulator its service time per
# message (p50, mean, p99) and per book event (all its messages' time over
# the book events: records included): the goal is at most 1 us per event
# and nothing added to tick to decision.
# Usage: scripts/bench-venue.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cargo build --release -q -p supervisor -p feed-handler -p feature -p inference \
  -p order-router -p venue-sim
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed -e 's|^name = "sim-binance"|name = "bench-venue"|' \
    -e "s|^run_dir = \"runs/sim-binance\"|run_dir = \"$dir/run\"|" \
    -e 's|"--pace", "max"|"--pace", "realtime:10"|' config/sim-binance.toml > "$dir/sim.toml"
grep -q 'realtime:10' "$dir/sim.toml"
sed -e 's|, "--book-records"||' "$dir/sim.toml" > "$dir/sim-top.toml"
! grep -q 'book-records' "$dir/sim-top.toml"
# The same without the simulator: no fan-out, the paper exchange (1 ms), no fifth stage.
python3 - "$dir/sim-top.toml" > "$dir/paper.toml" <<'PY'
import sys
s = open(sys.argv[1]).read()
for a, b in [(', "--also-out", "queue:{queue:venue-book}"', ''),
             ('"--venue", "sim:{queue:reports}"', '"--latency-ms", "1"'),
             ('output = "orders"\n', '')]:
    assert a in s, a
    s = s.replace(a, b)
s = s[:s.index("# Beside the decision path")]
print(s)
PY
for r in $(seq "$rounds"); do
  for mode in sim sim-top paper; do
    echo "round $r of $rounds: $mode" >&2
    ./target/release/tickline-supervisor run --fresh --config "$dir/$mode.toml" >/dev/null 2>&1
    cp "$dir/run/summary.json" "$dir/$mode.$r.json"
  done
done
python3 - "$dir" "$rounds" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])
us = lambda ns: f"{ns / 1000:.1f}"
for r in range(1, rounds + 1):
    for mode in ("sim", "sim-top", "paper"):
        s = json.load(open(f"{d}/{mode}.{r}.json"))["stages"]
        t = s["order-router"]["latency_ns"]["tick_to_decision"]
        line = f"round {r} {mode:7}: tick to decision p50 {us(t['p50'])} us, p99 {us(t['p99'])} us, p99.9 {us(t['p99.9'])} us over {t['count']}"
        if mode != "paper":
            v = s["venue-sim"]["latency_ns"]["service"]
            events = s["venue-sim"]["stage_summary"]["venue"]["book_events"]
            line += (f"; venue service per message p50 {v['p50']} ns, mean {v['mean']:.0f} ns, p99 {v['p99']} ns over {v['count']}"
                     f"; per book event mean {v['mean'] * v['count'] / max(events, 1):.0f} ns over {events}")
        print(line)
PY
