#!/usr/bin/env bash
# Another revision's build beside this checkout's, interleaved (old, new,
# old, new, ...) in one run, since this VM's speed drifts from hour to hour:
# - feed: parse + book, ns per message (tickline-feed-bench);
# - feature: the engine, ns per event (tickline-feature-bench);
# - inference: one model run at batch 1 in the inference stage, p50 ns
#   (the committed model on 20,000 synthetic feature vectors, --engine auto);
# - pipeline: the README's first command (config/pipeline.toml, paced),
#   tick to decision p50 / p99 / p99.9;
# and whether both builds' pipelines wrote byte-identical order journals.
# Prints each case's median and range over the rounds.
#
# Usage: scripts/ab-bench.sh REV [ROUNDS]
#   OLD_BIN=DIR uses the old build's binaries from DIR instead of building REV.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/ab-bench.sh REV [ROUNDS]}
rounds=${2:-5}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
if [ -z "${OLD_BIN:-}" ]; then
  git worktree add --detach "$work/tree" "$rev" >/dev/null
  (cd "$work/tree" && CARGO_TARGET_DIR="$work/target" cargo build --release -q)
  OLD_BIN="$work/target/release"
fi
cargo build --release -q
NEW_BIN=$PWD/target/release
data=../shared/data

# Feature vectors for the inference case, made once by the new build.
"$NEW_BIN/tickline-feature" --in source:synthetic:7:20000:2 --out "csv:$work/features.csv" >/dev/null

# A copy of the default config per side: its own segments and run folder.
for side in old new; do
  sed -e "0,/^name = /s/^name = \"[a-z-]*\"/name = \"ab-$side-$$\"/" \
      -e "s#runs/default#$work/run-$side#" config/pipeline.toml > "$work/$side.toml"
done

case_lines() { # side bin
  local side=$1 bin=$2
  "$bin/tickline-feed-bench" --data "$data" --passes 3 --json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    if d["messages"]: print("feed: %s|ns/msg|%.1f" % (d["case"], d["ns"] / d["messages"]))'
  "$bin/tickline-feature-bench" --data "$data" --passes 3 --naive-events 1000 2>&1 \
    | awk '/ns\/event/ { print "feature: " $1 "|ns/event|" $5 }'
  "$bin/tickline-inference" --model models/tickline-v1.onnx --engine auto --max-batch 1 \
      --in "csv:$work/features.csv" --out null 2>/dev/null \
    | python3 -c 'import json,sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
print("inference: %s run, batch 1 p50|ns|%s" % (d["engine"], d["run_ns_batch1"]["p50"]))'
  rm -rf "$work/run-$side"
  "$bin/tickline-supervisor" run --fresh --config "$work/$side.toml" >/dev/null 2>&1
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
t = [s["latency_ns"]["tick_to_decision"] for s in d["stages"].values() if s["latency_ns"].get("tick_to_decision")][0]
for q in ("p50", "p99", "p99.9"):
    print(f"pipeline: tick to decision {q}|us|{t[q] / 1000:.1f}")' "$work/run-$side/summary.json"
}

for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  for side in old new; do
    bin=$OLD_BIN; [ "$side" = new ] && bin=$NEW_BIN
    case_lines "$side" "$bin" | sed "s/^/$side|/"
  done
  if cmp -s "$work/run-old/orders.journal" "$work/run-new/orders.journal"; then
    echo "journal|identical"
  else
    echo "journal|DIFFERENT"
  fi
done | python3 -c '
import sys, statistics as st, collections
runs, units, journals = collections.defaultdict(list), {}, []
for line in sys.stdin:
    parts = line.rstrip("\n").split("|")
    if parts[0] == "journal":
        journals.append(parts[1]); continue
    side, case, unit, value = parts
    runs[(case, side)].append(float(value)); units[case] = unit
print(f"# {sys.argv[1]} (old) vs this checkout (new), {sys.argv[2]} interleaved rounds; median (min-max), lower is better")
for case in dict.fromkeys(c for c, _ in runs):
    cells = []
    for side in ("old", "new"):
        x = runs[(case, side)]
        cells.append(f"{side} {st.median(x):9.1f} ({min(x):.1f}-{max(x):.1f})")
    ratio = st.median(runs[(case, "new")]) / st.median(runs[(case, "old")])
    print(f"{case:58} {units[case]:8} " + "  ".join(cells) + f"  new/old {ratio:.2f}x")
print("order journals of the default run, old vs new: " + ", ".join(journals))
' "$rev" "$rounds"
