#!/usr/bin/env bash
# Our venue simulator against hftbacktest (PyPI 2.x) on the same Binance
# USD-M capture and the same order stream, fill by fill, for each L2 queue
# model: config/sim-binance.toml runs the pipeline (risk_averse, and again
# with prob:power:3); tickline-venue-replay writes the orders the router
# journaled; scripts/check_venue_hftbacktest.py replays them through
# hftbacktest (its own converter, partial-fill exchange, the same latency,
# queue model and fees) and compares every fill: exchange time within 1 us,
# price, quantity, maker/taker. Prints one JSON line per model.
# Usage: scripts/check-venue-hftbacktest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/hftbacktest-venv
[ -x $venv/bin/python ] || python3 -m venv $venv
$venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-hftbacktest.txt
cargo build --release -q -p supervisor -p feed-handler -p feature -p inference \
  -p order-router -p venue-sim -p venue-replay
capture=../shared/data/binance/usdm_btcusdt_20240808.gz
for model in risk_averse prob:power:3; do
  tag=${model//:/-}
  run=target/venue-check/$tag
  mkdir -p target/venue-check
  sed -e "s|^name = \"sim-binance\"|name = \"check-$tag\"|" \
      -e "s|^run_dir = \"runs/sim-binance\"|run_dir = \"$run\"|" \
      -e "s|\"--queue-model\", \"risk_averse\"|\"--queue-model\", \"$model\"|" \
      config/sim-binance.toml > target/venue-check/$tag.toml
  grep -q "\"--queue-model\", \"$model\"" target/venue-check/$tag.toml
  ./target/release/tickline-supervisor run --config target/venue-check/$tag.toml > $run.log 2>&1
  ./target/release/tickline-venue-replay --source "binance:$capture" --instrument-ids BTCUSDT=1 \
    --journal $run/orders.journal --queue-model $model --latency constant:1000:1000 \
    --tick 0.1 --lot 0.001 --maker-fee-bps 2 --taker-fee-bps 5 --reorder-ms 100 \
    --out $run/replayed.csv --orders-csv $run/orders.csv > /dev/null
  cmp -s $run/replayed.csv $run/venue-reports.csv || echo "$model: the live venue and its replay differ" >&2
  $venv/bin/python scripts/check_venue_hftbacktest.py --orders $run/orders.csv \
    --reports $run/venue-reports.csv --queue $model --capture $capture --cache target/hftbacktest \
    --entry-us 1000 --response-us 1000 --tick 0.1 --lot 0.001 --maker-bps 2 --taker-bps 5 \
    --diffs $run/diffs.json
done
