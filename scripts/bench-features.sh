#!/usr/bin/env bash
# Feature engine vs naive recomputation vs NumPy (vectorised batch) on the same
# events in one run; NumPy also cross-checks every value. Writes docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
scripts/setup-python.sh
cargo build --release -p feature-bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
./target/release/tickline-feature-bench --data ../shared/data --dump "$dir" "$@"
.venv/bin/python scripts/features_numpy.py "$dir" "$dir/table.md"
{
  echo '`scripts/bench-features.sh`: `tickline-feature-bench` (engine: median of 7 passes; naive: one pass over'
  echo 'the first 20,000 events) and `scripts/features_numpy.py` (median of 5 passes), same events.'
  echo
  cat "$dir/table.md"
} > "$dir/section.md"
python3 scripts/splice-doc.py docs/benchmarks.md feature-bench "$dir/section.md"
echo "results written to docs/benchmarks.md" >&2
