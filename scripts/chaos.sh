#!/usr/bin/env bash
# Chaos: a paced replay of the synthetic market through the real pipeline,
# with N random `kill -9` spread over the four stages and the supervisor at
# random moments (a killed supervisor takes its stages with it and is
# started again, as an init system would, and resumes the run), plus a few
# SIGSTOP hangs. Then the run must equal an unkilled run of the same config:
# the order journal byte for byte, the digest of every feature vector, and
# every queue carrying every event exactly once.
#
# A config with the venue simulator (config/sim.toml) runs with the router
# in lockstep (`--venue sim:QUEUE,lockstep`: reports taken at exchange
# times), the simulator is killed too, and its reports must equal the
# unkilled run's row for row. Its two queues carry watermarks and promises
# as many as the timing made, so for them only "every message taken once"
# is checked.
#
#   scripts/chaos.sh [--kills N] [--hangs H] [--events E] [--speed S] [--seed K]
#                    [--config FILE] [--bin DIR] [--hang-limit-ms MS]
#                    [--work DIR] [--name NAME]
#
# Defaults: 100 kills, 3 hangs, 1,000,000 events replayed at 0.2x their
# recorded speed (about a minute), config/pipeline.toml, binaries built
# with `cargo build --release` (--bin DIR: use those, build nothing), a
# hang must be found and replaced within 1000 ms. The test suite runs a
# short form (tests/chaos.rs: 20 kills, 2 hangs, 200,000 events) on the
# binaries it built. Runs go to --work (runs/chaos-work) as pipelines NAME
# and NAME-ref (chaos). Exit 0 only if everything matched.
set -euo pipefail

KILLS=100 HANGS=3 EVENTS=1000000 SPEED=0.2 SEED=1 BASE=config/pipeline.toml BIN= HANG_LIMIT_MS=1000 WORK=runs/chaos-work NAME=chaos
while [ $# -gt 0 ]; do
    case "$1" in
        --kills) KILLS=$2; shift 2 ;;
        --hangs) HANGS=$2; shift 2 ;;
        --events) EVENTS=$2; shift 2 ;;
        --speed) SPEED=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --config) BASE=$2; shift 2 ;;
        --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
        --hang-limit-ms) HANG_LIMIT_MS=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --name) NAME=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release
fi
rm -rf "$WORK" && mkdir -p "$WORK"
STAGES=(feed-handler feature inference order-router)
grep -q '^binary = "tickline-venue-sim"' "$BASE" && STAGES+=(venue-sim)

# A config derived from the base: its own name and run_dir, the synthetic
# market paced at PACE, and a restart policy that never gives up.
make_config() { # name pace
    sed -e "0,/^name = /s|^name = .*|name = \"$1\"|" \
        -e "s|^run_dir = .*|run_dir = \"$WORK/$1\"|" \
        -e "s|\"--source\", \"[^\"]*\", \"--pace\", \"[^\"]*\"|\"--source\", \"synthetic:$SEED:$EVENTS:2\", \"--pace\", \"$2\"|" \
        -e "s|^backoff_initial_ms = .*|backoff_initial_ms = 20|" \
        -e "s|^backoff_max_ms = .*|backoff_max_ms = 200|" \
        -e "s|^max_restarts = .*|max_restarts = 1000000|" \
        -e 's|"sim:\([^",]*\)"|"sim:\1,lockstep"|' \
        "$BASE" > "$WORK/$1.toml"
    grep -q "synthetic:$SEED:$EVENTS:2" "$WORK/$1.toml" ||
        { echo "chaos: $BASE has no feed-handler --source/--pace to replace" >&2; exit 2; }
}
make_config "$NAME-ref" max
make_config "$NAME" "realtime:$SPEED"

echo "chaos: reference run (unkilled, full speed)"
"$BIN/tickline-supervisor" run --fresh --config "$WORK/$NAME-ref.toml" \
    > "$WORK/ref.out" 2> "$WORK/ref.err" || { tail "$WORK/ref.err"; exit 1; }

SUP=
start_supervisor() {
    "$BIN/tickline-supervisor" run --config "$WORK/$NAME.toml" >> "$WORK/chaos.out" 2>> "$WORK/chaos.err" &
    SUP=$!
}
stage_pid() { # stage -> pid of its running process, if any
    pgrep -f "$BIN/tickline-$1 .*/tickline-$NAME-q-" | head -1 || true
}

RANDOM=$SEED
# Mean gap between kills: the paced replay lasts about span/SPEED seconds
# (the synthetic market spans ~11 s of exchange time per million events);
# the kills and hangs take 60% of it, so they all land mid-replay.
MEAN_MS=$(python3 -c "print(int(0.6 * 11_000 * $EVENTS / 1e6 / $SPEED / ($KILLS + $HANGS)))")
declare -A KILLED=([supervisor]=0)
for s in "${STAGES[@]}"; do KILLED[$s]=0; done
SUPERVISOR_STARTS=1 kills=0 hangs=0 ended=0
HANG_MS=()
echo "chaos: $KILLS kill -9 and $HANGS hangs over ~$(( MEAN_MS * (KILLS + HANGS) / 1000 )) s, one every ~$MEAN_MS ms on average"
"$BIN/tickline-supervisor" run --fresh --config "$WORK/$NAME.toml" > "$WORK/chaos.out" 2> "$WORK/chaos.err" &
SUP=$!
# Every EVERY-th event is a hang (SIGSTOP), the others kills.
EVERY=$(( (KILLS + HANGS) / (HANGS > 0 ? HANGS : 1) ))
n=0
while [ $kills -lt "$KILLS" ] || [ $hangs -lt "$HANGS" ]; do
    ms=$(( RANDOM % (2 * MEAN_MS + 1) ))
    sleep "$(printf '%d.%03d' $(( ms / 1000 )) $(( ms % 1000 )))"
    if ! kill -0 "$SUP" 2>/dev/null; then ended=1; break; fi
    n=$((n + 1))
    if [ $hangs -lt "$HANGS" ] && { [ $kills -ge "$KILLS" ] || [ $(( n % EVERY )) = $(( EVERY / 2 )) ]; }; then
        # Not the feed-handler: a stopped source looks like a quiet market.
        # And a stage that is warmed up: one still warming up (after a
        # restart) answers to the ready timeout (ready_timeout_s) instead.
        stage=${STAGES[$(( 1 + RANDOM % 3 ))]}
        pid=$(stage_pid "$stage")
        [ -n "$pid" ] && grep -q "(pid $pid) ready after" "$WORK/$NAME/supervisor.log" || continue
        t0=$(date +%s%N)
        kill -STOP "$pid" 2>/dev/null || continue
        # Found hung and replaced: a new process for the stage.
        while kill -0 "$SUP" 2>/dev/null; do
            new=$(stage_pid "$stage")
            [ -n "$new" ] && [ "$new" != "$pid" ] && break
            sleep 0.01
        done
        HANG_MS+=($(( ($(date +%s%N) - t0) / 1000000 )))
        echo "  hang of $stage (pid $pid): replaced after ${HANG_MS[-1]} ms"
        hangs=$((hangs + 1))
        continue
    fi
    [ $kills -lt "$KILLS" ] || continue
    target=$(( RANDOM % (${#STAGES[@]} + 1) ))
    if [ $target = ${#STAGES[@]} ]; then
        kill -9 "$SUP" 2>/dev/null || continue
        wait "$SUP" 2>/dev/null || true
        KILLED[supervisor]=$(( KILLED[supervisor] + 1 ))
        kills=$((kills + 1))
        start_supervisor
        SUPERVISOR_STARTS=$((SUPERVISOR_STARTS + 1))
    else
        stage=${STAGES[$target]}
        pid=$(stage_pid "$stage")
        [ -n "$pid" ] || continue
        kill -9 "$pid" 2>/dev/null || continue
        KILLED[$stage]=$(( KILLED[$stage] + 1 ))
        kills=$((kills + 1))
    fi
done
code=0
wait "$SUP" || code=$?

LOG=$WORK/$NAME/supervisor.log
echo "chaos: kills by process (restarts the supervisors made):"
for p in supervisor "${STAGES[@]}"; do
    if [ "$p" = supervisor ]; then
        printf "  %-13s %3d kill -9 (%d supervisor starts)\n" "$p" "${KILLED[$p]}" "$SUPERVISOR_STARTS"
    else
        starts=$(grep -c "started stage $p " "$LOG" || true)
        printf "  %-13s %3d kill -9, %3d restarts\n" "$p" "${KILLED[$p]}" $(( starts - SUPERVISOR_STARTS ))
    fi
done
[ ${#HANG_MS[@]} -gt 0 ] && echo "  hangs found and replaced after (ms): ${HANG_MS[*]}"

python3 - "$WORK/$NAME" "$code" "$ended" "$kills" "$KILLS" "$hangs" "$HANGS" "$HANG_LIMIT_MS" "${HANG_MS[@]:-}" <<'EOF'
import json, sys, tomllib
work, code, ended, kills, want_kills, hangs, want_hangs, limit = sys.argv[1:9]
hang_ms = [int(x) for x in sys.argv[9:] if x]
cfg = tomllib.load(open(f"{work}.toml", "rb"))
sim = [s for s in cfg["stage"] if s["binary"] == "tickline-venue-sim"]
# The venue's queues carry watermarks, syncs and promises, as many as the timing made.
timed = {q for s in sim for q in (s["input"], s["output"])}
ref = json.load(open(f"{work}-ref/summary.json"))
try:
    run = json.load(open(f"{work}/summary.json"))
except OSError as e:
    print(f"chaos: the killed run left no summary ({e}); see its supervisor.log")
    print("chaos: identical: NO")
    sys.exit(1)
ok = True
def check(what, good, detail=""):
    global ok
    ok &= good
    print(f"  {what}: {'yes' if good else 'NO'}{' (' + detail + ')' if detail else ''}")
print("chaos: compared with the unkilled run")
check("run finished cleanly", code == "0" and not run["failed"], f"exit {code}")
check("all kills and hangs landed mid-replay", ended == "0" and int(kills) == int(want_kills)
      and int(hangs) == int(want_hangs), f"{kills}/{want_kills} kills, {hangs}/{want_hangs} hangs")
a = open(f"{work}-ref/orders.journal", "rb").read()
b = open(f"{work}/orders.journal", "rb").read()
check("order journal identical", a == b, f"{len(a.splitlines())} vs {len(b.splitlines())} records")
fa = ref["stages"]["feature"]["stage_summary"].get("digest")
fb = run["stages"]["feature"]["stage_summary"].get("digest")
check("feature vectors identical (digest)", fa is not None and fa == fb, f"{fa} vs {fb}")
for q, r in ref["queues"].items():
    c = run["queues"].get(q, {})
    if q in timed:
        check(f"queue {q}: every message taken once", c.get("published") == c.get("committed"),
              f"published/committed {c.get('published')}/{c.get('committed')}")
        continue
    check(f"queue {q}: every event once", r == c and r["published"] == r["committed"],
          f"published/committed {c.get('published')}/{c.get('committed')}, unkilled {r['published']}")
for s in sim:
    csv = s["args"][s["args"].index("--reports-csv") + 1].replace("{run_dir}/", "")
    a, b = open(f"{work}-ref/{csv}").read(), open(f"{work}/{csv}").read()
    check(f"venue reports identical ({csv})", a == b and a.count("\n") > 1,
          f"{a.count(chr(10))} vs {b.count(chr(10))} rows")
if hang_ms:
    check(f"hangs found and replaced within {limit} ms", max(hang_ms) <= int(limit),
          f"max {max(hang_ms)} ms")
print(f"chaos: identical: {'yes' if ok else 'NO'}")
sys.exit(0 if ok else 1)
EOF
