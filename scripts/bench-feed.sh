#!/usr/bin/env bash
# Feed parsing and book-building throughput on the real data, with the itchy
# crate parsing the same ITCH file in the same run; writes docs/benchmarks.md.
# Usage: scripts/bench-feed.sh [extra feed-bench flags]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p feed-bench
out=$(mktemp)
trap 'rm -f "$out"' EXIT
./target/release/tickline-feed-bench --data ../shared/data --markdown "$out" "$@"
python3 scripts/splice-doc.py docs/benchmarks.md feed-bench "$out"
echo "results written to docs/benchmarks.md" >&2
