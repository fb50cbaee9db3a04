#!/usr/bin/env bash
# Maximum rate through all four stages: config/replay-max.toml (the default
# placement, the synthetic market unpaced) RUNS times; events/s counted as
# the router's events over its active time (first input handled to last),
# per run, then the median and range.
# Usage: scripts/bench-max-rate.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
cargo build --release -q
rates=()
for r in $(seq "$runs"); do
  ./target/release/tickline-supervisor run --fresh --config config/replay-max.toml >/dev/null 2>&1
  rates+=("$(python3 -c "import json; s = json.load(open('runs/replay-max/summary.json'))['stages']['order-router']['stage_summary']; print(round(s['messages_in'] / s['active_s']))")")
done
python3 - "${rates[@]}" <<'PY'
import statistics, sys
v = sorted(int(x) for x in sys.argv[1:])
print(f"`scripts/bench-max-rate.sh {len(v)}`: events/s through all four stages, per run: {', '.join(f'{x:,}' for x in v)}")
print(f"median {statistics.median(v):,.0f} (range {v[0]:,}-{v[-1]:,})")
PY
