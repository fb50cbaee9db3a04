#!/usr/bin/env bash
# Whole-pipeline benchmark: tick-to-order latency (feed ingest -> order to the
# gateway) and events/s, at a paced (real-time) and at maximum replay rate,
# with blocking and with spinning waits. Same synthetic market and model
# for every run. Usage: scripts/bench-pipeline.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-300000}
cargo build --release -q
out=$(mktemp -d)
printf "| pace | wait | events/s (feed) | tick-to-order p50 | p90 | p99 | p99.9 | max | orders |\n|---|---|---|---|---|---|---|---|---|\n"
for pace in realtime max; do
  for wait in block:200:20 spin; do
    cfg=$out/p.toml
    sed -e "s/synthetic:42:300000:2\", \"--pace\", \"max\"/synthetic:42:$EVENTS:2\", \"--pace\", \"$pace\"/" \
        -e "s/wait = \"block:200:20\"/wait = \"$wait\"/" \
        -e "s/^name = \"default\"/name = \"bench\"/" -e "s|runs/default|$out/run|" config/pipeline.toml > "$cfg"
    ./target/release/tickline-supervisor run --config "$cfg" 2>/dev/null > "$out/s.json"
    python3 - "$out/s.json" "$pace" "$wait" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
st = d["stages"]
e = st["order-router"]["latency_ns"].get("end_to_end", {})
us = lambda k: f"{e[k]/1e3:.1f} µs" if k in e else "-"
eps = st["feed-handler"]["stage_summary"]["events_per_s"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {eps:,.0f} | {us('p50')} | {us('p90')} | {us('p99')} | {us('p99.9')} | {us('max')} | {e.get('count', 0)} |")
PY
  done
done
rm -rf "$out"
