#!/usr/bin/env bash
# Reproduces the committed model: records labelled features from the real data
# with the feature stage itself (so training and serving share every line of
# feature code), then trains and exports to ONNX.
# Usage: scripts/train.sh [HORIZON_EVENTS]   (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
horizon=${1:-50}
scripts/setup-python.sh --train
cargo build --release -p feature
data=../shared/data
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for f in usdm_btcusdt_20240808 spot_btcusdt_20240808 cm_btcusd_perp_20240808; do
  ./target/release/tickline-feature --in "source:binance:$data/binance/$f.gz" --out "csv:$out/$f.csv" --horizon "$horizon" --tick 0.1 >&2
done
./target/release/tickline-feature --in "source:lobster:$data/lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv" \
  --out "csv:$out/lobster_aapl.csv" --horizon "$horizon" >&2
.venv/bin/python scripts/train_model.py --horizon "$horizon" --out models/tickline-v1.onnx "$out"/*.csv
