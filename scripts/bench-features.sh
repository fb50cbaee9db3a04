#!/usr/bin/env bash
# Feature engine vs naive recomputation vs NumPy (vectorised batch) on the same
# events; NumPy also cross-checks every value. ROUNDS rounds, the Rust bench
# and NumPy in turn; medians and ranges over rounds go into docs/benchmarks.md.
# Usage: scripts/bench-features.sh [ROUNDS] [extra tickline-feature-bench flags]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
shift || true
scripts/setup-python.sh
cargo build --release -q -p feature-bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  ./target/release/tickline-feature-bench --data ../shared/data --dump "$dir" "$@"
  cp "$dir/rust.json" "$dir/rust.$r.json"
  .venv/bin/python scripts/features_numpy.py measure "$dir" "$dir/numpy.$r.json"
done
.venv/bin/python scripts/features_numpy.py report "$dir" "$rounds" "$dir/table.md"
{
  echo "\`scripts/bench-features.sh $rounds\`: $rounds rounds, \`tickline-feature-bench\` (engine: median of 7"
  echo 'passes; naive: one pass over the first 20,000 events) and `scripts/features_numpy.py` (warmed up,'
  echo 'median of 5 passes; and of 21 calls on the first 100 events, its fixed cost per call) in turn,'
  echo 'same events. Cells: median (min-max) over rounds.'
  echo
  cat "$dir/table.md"
} > "$dir/section.md"
cat "$dir/section.md"
python3 scripts/splice-doc.py docs/benchmarks.md feature-bench "$dir/section.md"
echo "results written to docs/benchmarks.md" >&2
