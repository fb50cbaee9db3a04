#!/usr/bin/env bash
# Fuzz every parser for SECONDS each (default 120) with cargo-fuzz on stable
# (`--sanitizer none`: coverage-guided, no ASan; Rust's own checks still
# catch panics, overflows in debug-assertion builds and out-of-bounds).
# Corpora are seeded from slices of ../shared/data and kept under fuzz/corpus
# (ignored by git). Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(itch lobster binance moldudp64)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

data=../shared/data
seed() { mkdir -p "fuzz/corpus/$1"; }
seed itch; head -c 4096 "$data/itch/ex20101224.ITCH_50.framed" > fuzz/corpus/itch/framed
head -c 4096 "$data/itch/ex20101224.TEST_ITCH_50" > fuzz/corpus/itch/zero_prefix
seed lobster
{ head -n 20 "$data"/lobster/*message_10.csv; printf '\xff'; head -n 20 "$data"/lobster/*orderbook_10.csv; } > fuzz/corpus/lobster/aapl
seed binance
for f in usdm_btcusdt spot_btcusdt cm_btcusd_perp; do
  zcat "$data/binance/${f}_20240808.gz" | head -n 60 | head -c 16384 > "fuzz/corpus/binance/$f" || true
done
seed moldudp64
# One packet: 20-byte header (session, seq 1, count 2) and two ITCH delete messages.
printf '\x00\x35TICKLINE  \x00\x00\x00\x00\x00\x00\x00\x01\x00\x02\x00\x13D\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x07\x00\x13D\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x08' > fuzz/corpus/moldudp64/packet

for t in "${targets[@]}"; do
  echo "== fuzzing $t for ${secs}s" >&2
  cargo fuzz run -s none "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added|SUMMARY|==[0-9]+== ERROR|thread .* panicked|Done [0-9]+ runs)' || true
  if ls "fuzz/artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "$t: CRASH artifacts in fuzz/artifacts/$t" >&2
    exit 1
  fi
done
