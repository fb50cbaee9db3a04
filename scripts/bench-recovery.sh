#!/usr/bin/env bash
# MoldUDP64 gap recovery on loopback: tickline-itch-replay sends the ITCH
# sample with 1% of packets lost, 1% duplicated and 1% reordered, and
# answers retransmission requests; a feed-handler (output to null, so it
# keeps up) recovers every gap through it. RUNS runs with different seeds;
# per run, the time from a gap's first sight to its last message applied
# (p50, p99, max over the run's gaps), then over all runs.
# Writes the result into docs/benchmarks.md.
# Usage: scripts/bench-recovery.sh [RUNS] [PACKETS_PER_S]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
rate=${2:-20000}
cargo build --release -q -p feed-handler -p itch-replay
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
file=../shared/data/itch/ex20101224.ITCH_50.framed
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for r in $(seq "$runs"); do
  feed=$(port); server=$(port)
  ./target/release/tickline-feed-handler --source "moldudp64:127.0.0.1:$feed,request=127.0.0.1:$server" \
    > "$work/feed.$r.json" 2> "$work/feed.$r.err" &
  pid=$!
  sleep 0.3
  ./target/release/tickline-itch-replay "$file" --to "127.0.0.1:$feed" --request-server "127.0.0.1:$server" \
    --loss 0.01 --duplicate 0.01 --reorder 0.01 --seed "$r" --packets-per-s "$rate" --linger-ms 500 > /dev/null
  wait "$pid"
done
python3 - "$work" "$runs" "$rate" > "$work/section.md" <<'PY'
import json, sys
work, runs, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = []
for r in range(1, runs + 1):
    d = json.loads(open(f"{work}/feed.{r}.json").read().strip().splitlines()[-1])
    rows.append((d["events"], d["errors"], d["checks"]))
print(f"`scripts/bench-recovery.sh {runs} {rate}`: the ITCH sample (11,883 events) at {rate} packets/s on loopback, "
      "1% of packets lost, 1% duplicated, 1% reordered; every gap recovered through the request server. "
      "Time from a gap's first sight to its last message applied, µs.\n")
print("| run | events | gaps | recovered | p50 | p99 | max |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for i, (ev, err, c) in enumerate(rows, 1):
    print(f"| {i} | {ev} | {c['gaps']} | {c['gaps_recovered']} | {c['recovery_p50_ns'] / 1e3:.0f} | "
          f"{c['recovery_p99_ns'] / 1e3:.0f} | {c['recovery_max_ns'] / 1e3:.0f} |")
gaps = sum(c["gaps"] for _, _, c in rows)
rec = sum(c["gaps_recovered"] for _, _, c in rows)
worst = max(c["recovery_max_ns"] for _, _, c in rows) / 1e3
bad = [i for i, (ev, err, c) in enumerate(rows, 1) if ev != 11883 or err]
print(f"\n{rec} of {gaps} gaps recovered over {runs} runs; the longest took {worst:.0f} µs"
      f"{'; runs with missing events or errors: ' + str(bad) if bad else '; every run published all 11,883 events, no error'}.")
PY
cat "$work/section.md"
python3 scripts/splice-doc.py docs/benchmarks.md recovery-bench "$work/section.md"
