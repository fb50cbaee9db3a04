#!/usr/bin/env bash
# The feed benchmark of another revision beside this checkout's, interleaved
# (old, new, old, new, ...) on the same machine in one run, since this VM's
# speed drifts from hour to hour. Prints each case's median and range.
# Usage: scripts/ab-feed-bench.sh REV [ROUNDS] [CASE-REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/ab-feed-bench.sh REV [ROUNDS] [CASE-REGEX]}
rounds=${2:-7}
cases=${3:-.}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/tree" "$rev" >/dev/null
(cd "$work/tree" && CARGO_TARGET_DIR="$work/target" cargo build --release -q -p feed-bench)
cargo build --release -q -p feed-bench
old="$work/target/release/tickline-feed-bench"
new=target/release/tickline-feed-bench
for r in $(seq "$rounds"); do
  for side in old new; do
    bin=$old; [ "$side" = new ] && bin=$new
    "$bin" --passes 5 --data ../shared/data 2>&1 | grep -E "$cases" | grep "MB/s" | sed "s/^/$side|/"
  done
done | python3 -c '
import sys, statistics as st, collections
runs = collections.defaultdict(list)
for line in sys.stdin:
    side, rest = line.split("|", 1)
    case = rest.split("  ")[0].strip()
    runs[(case, side)].append(float(rest.split()[-2]))
print(f"# {sys.argv[1]} (old) vs this checkout (new), {sys.argv[2]} interleaved rounds, input MB/s")
for case in dict.fromkeys(c for c, _ in runs):
    cells = []
    for side in ("old", "new"):
        x = runs[(case, side)]
        cells.append(f"{side} {st.median(x):7.1f} ({min(x):.1f}-{max(x):.1f})")
    ratio = st.median(runs[(case, "new")]) / st.median(runs[(case, "old")])
    print(f"{case:46} " + "  ".join(cells) + f"  new/old {ratio:.2f}x")
' "$rev" "$rounds"
