#!/usr/bin/env bash
# Order-to-ack round trips on loopback against the QuickFIX venue
# (scripts/fix/venue.cpp): tickline's FixGateway (tickline-fix-bench) and
# QuickFIX's own C++ initiator (scripts/fix/quickfix_initiator.cpp) sending
# the same orders, one in flight at a time, ROUNDS rounds in turn; beside
# them the floor, a TCP round trip between two threads on loopback. Medians
# and ranges over rounds go into docs/benchmarks.md.
# Usage: scripts/bench-fix.sh [ROUNDS] [ORDERS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
orders=${2:-10000}
scripts/setup-fix.sh
cargo build --release -q -p fix-bench
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/fix/venue --port "$port" --dir "$work/venue" --targets TICKLINE,QFINIT > "$work/venue.out" 2> "$work/venue.err" &
venue=$!
trap 'kill $venue 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  # A fresh store and a logon that resets sequence numbers: new ClOrdIDs each round.
  ./target/release/tickline-fix-bench --venue "127.0.0.1:$port,reset=Y" --orders "$orders" \
    --store "$work/store" | tail -1 > "$work/ours.$r.json"
  target/fix/quickfix_initiator --port "$port" --dir "$work/qf" --orders "$orders" > "$work/qf.$r.json"
done
python3 - "$work" "$rounds" "$orders" > "$work/section.md" <<'PY'
import json, sys
d, rounds, orders = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def spread(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2), v[0], v[-1]

def cell(x):
    return f"{x[0] / 1e3:.1f} ({x[1] / 1e3:.1f}-{x[2] / 1e3:.1f})"

ours = [json.load(open(f"{d}/ours.{r}.json")) for r in range(1, rounds + 1)]
qf = [json.load(open(f"{d}/qf.{r}.json")) for r in range(1, rounds + 1)]
rows = [("tickline FixGateway (session thread, router side drains a ring)", [o["ack_ns"] for o in ours]),
        ("QuickFIX 1.15.1 C++ initiator (sendToTarget, ack seen in fromApp)", qf),
        ("floor: TCP round trip, 200 bytes, two threads, loopback", [o["tcp_floor_ns"] for o in ours])]
print(f"`scripts/bench-fix.sh {rounds} {orders}`: {orders} orders per side and round (after a tenth as many")
print("for warm-up), one in flight at a time: an IOC buy of 1 at 1, which the venue (a QuickFIX C++ acceptor,")
print("scripts/fix/venue.cpp) cancels at once. Timed from handing the order to the FIX engine to the")
print(f"application seeing its first ExecutionReport. {rounds} rounds, ours and QuickFIX's in turn, against")
print("the same venue process; cells are the median (min-max) over rounds, in µs.")
print()
print("| side | p50 | p90 | p99 | p99.9 |")
print("|---|---:|---:|---:|---:|")
med = {}
for name, hs in rows:
    q = {p: spread([h[p] for h in hs]) for p in ("p50", "p90", "p99", "p99.9")}
    med[name] = q
    print(f"| {name} | " + " | ".join(cell(q[p]) for p in q) + " |")
print()
a, b = med[rows[0][0]], med[rows[1][0]]
print(f"- QuickFIX p50 / tickline p50 = **{b['p50'][0] / a['p50'][0]:.2f}x** (the goal was 3x); "
      f"p99.9: tickline {a['p99.9'][0] / 1e3:.1f} µs, QuickFIX {b['p99.9'][0] / 1e3:.1f} µs (goal: under 1 ms).")
PY
cat "$work/section.md"
python3 scripts/splice-doc.py docs/benchmarks.md fix-bench "$work/section.md"
echo "results written to docs/benchmarks.md" >&2
