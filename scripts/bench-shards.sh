#!/usr/bin/env bash
# Throughput of one shard against two on this host: config/sharded.toml with
# its feed-handlers reading the synthetic market (four instruments) at full
# speed instead of the multicast feed, so each shard generates the whole
# market (as each host receives the whole feed) and keeps its half. One
# chain (--shard 0/1) against both chains (0/2 and 1/2), ROUNDS rounds in
# turn; events/s through the routers, median and range.
# Usage: scripts/bench-shards.sh [ROUNDS] [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
events=${2:-1000000}
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="synthetic:42:$events:4"
sed -e 's|^name = "sharded"|name = "shards2"|' -e "s|^run_dir = .*|run_dir = \"$work/two\"|" \
    -e "s|\"moldudp64:239.192.0.1:26400,iface=127.0.0.1\"|\"$src\", \"--pace\", \"max\"|" \
    config/sharded.toml > "$work/two.toml"
# One chain: the first shard's stages only, taking every symbol.
awk '/^# ---- shard 1 of 2/ {exit} {print}' "$work/two.toml" \
  | sed -e 's|^name = "shards2"|name = "shards1"|' -e "s|$work/two|$work/one|" -e 's|"--shard", "0/2"|"--shard", "0/1"|' \
  > "$work/one.toml"
grep -q "0/1" "$work/one.toml" && ! grep -q "feed-handler-1" "$work/one.toml" || { echo "bench-shards: could not derive the one-shard config" >&2; exit 2; }
for r in $(seq "$rounds"); do
  for n in one two; do
    ./target/release/tickline-supervisor run --fresh --json --config "$work/$n.toml" > "$work/$n.$r.json" 2> "$work/$n.$r.err" \
      || { tail "$work/$n.$r.err" >&2; exit 1; }
  done
  echo "round $r of $rounds" >&2
done
python3 - "$work" "$rounds" "$events" <<'PY'
import json, sys, statistics
work, rounds, events = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rate(path):
    s = json.load(open(path))
    routers = [v["stage_summary"] for k, v in s["stages"].items() if k.startswith("order-router")]
    decided = sum(r["predictions"] for r in routers)
    return decided / max(r["active_s"] for r in routers), decided
res = {n: [rate(f"{work}/{n}.{r}.json") for r in range(1, rounds + 1)] for n in ("one", "two")}
print(f"`scripts/bench-shards.sh {rounds} {events}`: the synthetic market, 4 instruments, {events} events per chain "
      f"generated at full speed; events/s through the routers (decisions over the longest router's active time), "
      f"median (min-max) of {rounds} rounds, one and two shards in turn.\n")
print("| shards | stages | decisions | events/s |")
print("|---:|---:|---:|---:|")
for n, stages in (("one", 4), ("two", 8)):
    v = sorted(x[0] for x in res[n])
    print(f"| {1 if n == 'one' else 2} | {stages} | {res[n][0][1]:,} | {statistics.median(v):,.0f} ({v[0]:,.0f}-{v[-1]:,.0f}) |")
one = statistics.median(x[0] for x in res["one"]); two = statistics.median(x[0] for x in res["two"])
print(f"\nTwo shards / one: **{two / one:.2f}x** on 2 cores.")
PY
