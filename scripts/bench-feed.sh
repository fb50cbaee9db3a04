#!/usr/bin/env bash
# Feed parsing and book-building throughput on the real data, with two ITCH
# peers on the same in-memory bytes: the itchy crate (inside feed-bench) and
# itchcpp, PyPI's C++20 ITCH 5.0 parser and L3 book engine, driven by
# scripts/itchcpp/harness.cpp. Rounds alternate (feed-bench, itchcpp,
# feed-bench, ...); every case's median and range over the rounds, and
# whether itchcpp's final books equal ours, go into docs/benchmarks.md.
# Usage: scripts/bench-feed.sh [ROUNDS] [PASSES]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
passes=${2:-15}
itch=../shared/data/itch/ex20101224.ITCH_50.framed

cargo build --release -q -p feed-bench

# itchcpp ships lib64/libitch.a and its headers in the wheel. Its headers
# include <format>, which g++ 12 lacks; only price and time formatting use
# it, so scripts/itchcpp/shim stands in. Same optimisation level as our
# release build (-O3, no -march=native: cargo builds for baseline x86-64).
work=target/itchcpp
if [ ! -x "$work/harness" ]; then
  mkdir -p "$work"
  python3 -m pip download -q --no-deps itchcpp==1.6.4 -d "$work"
  unzip -q -o "$work"/itchcpp-1.6.4-*.whl -d "$work/wheel"
  g++ -O3 -std=c++20 -I scripts/itchcpp/shim -I "$work/wheel/include" \
    scripts/itchcpp/harness.cpp "$work/wheel/lib64/libitch.a" -o "$work/harness"
fi

runs=$(mktemp)
out=$(mktemp)
trap 'rm -f "$runs" "$out" "$runs".books*' EXIT
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  ./target/release/tickline-feed-bench --passes "$passes" --json \
    --dump-itch-books "$runs.books.ours" 2>/dev/null | sed "s/^/$r /" >> "$runs"
  "$work/harness" "$itch" "$passes" "$runs.books.itchcpp" | sed "s/^/$r /" >> "$runs"
done
if cmp -s "$runs.books.ours" "$runs.books.itchcpp"; then
  books="identical: $(wc -l < "$runs.books.ours") price levels, every side of every stock"
else
  books="DIFFERENT: $(diff "$runs.books.ours" "$runs.books.itchcpp" | grep -c '^[<>]') lines of diff"
fi
python3 scripts/bench_feed_report.py "$runs" "$rounds" "$passes" "$books" | tee "$out"
python3 scripts/splice-doc.py docs/benchmarks.md feed-bench "$out"
echo "results written to docs/benchmarks.md" >&2
