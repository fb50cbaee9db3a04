#!/usr/bin/env bash
# FIX chaos: config/fix.toml (the synthetic market paced, orders over FIX to
# the QuickFIX venue) with N random `kill -9` of the order-router, whose FIX
# session thread dies with it, and of the supervisor, which takes its stages
# with it and is started again (as an init system would). The venue runs
# throughout. At the end the venue must have seen every journaled order
# exactly once (no duplicate ClOrdID, none missing) and hold the positions
# the journal holds.
#
#   scripts/fix-chaos.sh [--kills N] [--events E] [--speed S] [--seed K] [--bin DIR] [--work DIR]
#
# Defaults: 100 kills, 1,000,000 events at 0.5x their recorded speed (about
# 20 s), binaries from `cargo build --release`. Exit 0 only if both sides agree.
set -euo pipefail

KILLS=100 EVENTS=1000000 SPEED=0.5 SEED=1 BIN= WORK=runs/fix-chaos
while [ $# -gt 0 ]; do
    case "$1" in
        --kills) KILLS=$2; shift 2 ;;
        --events) EVENTS=$2; shift 2 ;;
        --speed) SPEED=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release
fi
scripts/setup-fix.sh
rm -rf "$WORK" && mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NAME=fixchaos

sed -e "0,/^name = /s|^name = .*|name = \"$NAME\"|" \
    -e "s|^run_dir = .*|run_dir = \"$WORK/run\"|" \
    -e "s|\"--source\", \"[^\"]*\", \"--pace\", \"[^\"]*\"|\"--source\", \"synthetic:$SEED:$EVENTS:2\", \"--pace\", \"realtime:$SPEED\"|" \
    -e "s|fix:127.0.0.1:9878|fix:127.0.0.1:$PORT|" \
    -e "s|\"--max-rate\", \"[0-9]*\"|\"--max-rate\", \"100000\"|" \
    -e "s|^backoff_initial_ms = .*|backoff_initial_ms = 20|" \
    -e "s|^backoff_max_ms = .*|backoff_max_ms = 200|" \
    -e "s|^max_restarts = .*|max_restarts = 1000000|" \
    config/fix.toml > "$WORK/fix.toml"
grep -q "fix:127.0.0.1:$PORT" "$WORK/fix.toml" || { echo "fix-chaos: config/fix.toml has no venue to point at" >&2; exit 2; }

target/fix/venue --port "$PORT" --dir "$WORK/venue" --price 0=100,1=110 > "$WORK/venue.out" 2> "$WORK/venue.err" &
VENUE=$!
trap 'kill $VENUE 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done

SUP=
start_supervisor() {
    "$BIN/tickline-supervisor" run --config "$WORK/fix.toml" >> "$WORK/sup.out" 2>> "$WORK/sup.err" &
    SUP=$!
}
router_pid() { pgrep -f "$BIN/tickline-order-router .*/tickline-$NAME-q-" | head -1 || true; }
orders() { grep -c '^O|' "$WORK/run/orders.journal" 2>/dev/null || echo 0; }

RANDOM=$SEED
# The paced replay lasts about 11 s per million events / SPEED; kills take 70% of it.
MEAN_MS=$(python3 -c "print(int(0.7 * 11_000 * $EVENTS / 1e6 / $SPEED / $KILLS))")
echo "fix-chaos: $KILLS kill -9 over ~$(( MEAN_MS * KILLS / 1000 )) s, venue on port $PORT"
"$BIN/tickline-supervisor" run --fresh --config "$WORK/fix.toml" > "$WORK/sup.out" 2> "$WORK/sup.err" &
SUP=$!
while [ "$(orders)" = 0 ]; do sleep 0.05; kill -0 "$SUP" 2>/dev/null || break; done
kills=0 router_kills=0 supervisor_kills=0
while [ $kills -lt "$KILLS" ] && kill -0 "$SUP" 2>/dev/null; do
    ms=$(( RANDOM % (2 * MEAN_MS + 1) ))
    sleep "$(printf '%d.%03d' $(( ms / 1000 )) $(( ms % 1000 )))"
    if [ $(( RANDOM % 5 )) = 0 ]; then
        kill -9 "$SUP" 2>/dev/null || continue
        wait "$SUP" 2>/dev/null || true
        supervisor_kills=$((supervisor_kills + 1))
        start_supervisor
    else
        pid=$(router_pid)
        [ -n "$pid" ] || continue
        kill -9 "$pid" 2>/dev/null || continue
        router_kills=$((router_kills + 1))
    fi
    kills=$((kills + 1))
done
wait "$SUP" || { echo "fix-chaos: the last supervisor failed" >&2; tail "$WORK/sup.err" >&2; exit 1; }
kill -TERM $VENUE
wait $VENUE || true
trap - EXIT

python3 - "$WORK" "$kills" "$router_kills" "$supervisor_kills" <<'PY'
import json, sys
work, kills, rk, sk = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
venue = json.loads(open(f"{work}/venue.out").read().strip().splitlines()[-1])
router = json.load(open(f"{work}/run/summary.json"))["stages"]["order-router"]["stage_summary"]
journal = sum(1 for l in open(f"{work}/run/orders.journal") if l.startswith("O|"))
ours = {k: float(v) for k, v in router["positions"].items() if float(v) != 0}
theirs = {k: float(v) for k, v in venue["positions"].items() if float(v) != 0}
print(f"fix-chaos: {kills} kills ({rk} of the order-router, {sk} of the supervisor)")
print(f"  orders journaled {journal}, at the venue {venue['orders']}, duplicate ClOrdIDs at the venue {venue['duplicates']}")
resent = sum(l.count("sent again with PossResend") for l in open(f"{work}/run/order-router.err"))
print(f"  order status requests answered by the venue (restart reconciles) {venue['status_requests']}; "
      f"orders the venue never had, sent again with PossResend: {resent}")
print(f"  fills: venue {venue['fills']}; positions: journal {ours}, venue {theirs}")
ok = journal == venue["orders"] and venue["duplicates"] == 0 and ours == theirs
print(f"  every order exactly once, positions equal: {'yes' if ok else 'NO'}")
sys.exit(0 if ok else 1)
PY
