#!/usr/bin/env bash
# Our venue simulator against hftbacktest (PyPI 2.x) on the same Binance
# USD-M capture and the same order stream, fill by fill, for each L2 queue
# model: config/sim-binance.toml runs the pipeline (risk_averse, and again
# with prob:power:3; each with orders of up to 5 lots and of single lots);
# tickline-venue-replay writes the orders the router journaled;
# scripts/check_venue_hftbacktest.py replays them through hftbacktest (its
# own converter, exchange model, the same latency, queue model and fees)
# and compares every fill: exchange time within 1 us,
# price, quantity, maker/taker. Prints one JSON line per model; then the
# same for L3 FIFO on Databento ESH4 (below), with an independent count.
# Usage: scripts/check-venue-hftbacktest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/hftbacktest-venv
[ -x $venv/bin/python ] || python3 -m venv $venv
$venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-hftbacktest.txt
# .venv: ONNX Runtime for the pipeline, Databento's decoder for the count.
scripts/setup-python.sh > /dev/null
cargo build --release -q -p supervisor -p feed-handler -p feature -p inference \
  -p order-router -p venue-sim -p venue-replay
capture=../shared/data/binance/usdm_btcusdt_20240808.gz
l2() {  # MODEL MAX_ORDER EXCHANGE: the pipeline on the simulator, its orders through hftbacktest
  local model=$1 max=$2 exchange=$3
  local tag=${model//:/-}-$exchange run
  run=target/venue-check/$tag
  mkdir -p target/venue-check
  sed -e "s|^name = \"sim-binance\"|name = \"check-$tag\"|" \
      -e "s|^run_dir = \"runs/sim-binance\"|run_dir = \"$run\"|" \
      -e "s|\"--queue-model\", \"risk_averse\"|\"--queue-model\", \"$model\"|" \
      -e "s|\"--max-order\", \"5\"|\"--max-order\", \"$max\"|" \
      config/sim-binance.toml > target/venue-check/$tag.toml
  grep -q "\"--queue-model\", \"$model\"" target/venue-check/$tag.toml
  grep -q "\"--max-order\", \"$max\"" target/venue-check/$tag.toml
  ./target/release/tickline-supervisor run --config target/venue-check/$tag.toml > $run.log 2>&1
  ./target/release/tickline-venue-replay --source "binance:$capture" --instrument-ids BTCUSDT=1 \
    --journal $run/orders.journal --queue-model $model --latency constant:1000:1000 \
    --tick 0.1 --lot 0.001 --maker-fee-bps 2 --taker-fee-bps 5 --reorder-ms 100 \
    --out $run/replayed.csv --orders-csv $run/orders.csv > /dev/null
  cmp -s $run/replayed.csv $run/venue-reports.csv || echo "$tag: the live venue and its replay differ" >&2
  $venv/bin/python scripts/check_venue_hftbacktest.py --orders $run/orders.csv \
    --reports $run/venue-reports.csv --queue $model --exchange $exchange --capture $capture \
    --cache target/hftbacktest --entry-us 1000 --response-us 1000 --tick 0.1 --lot 0.001 \
    --maker-bps 2 --taker-bps 5 --diffs $run/diffs.json
}
# As configured (orders of up to 5 lots) through partial_fill_exchange;
# then single lots through no_partial_fill_exchange, which runs the whole
# capture (partial_fill_exchange stops at a fill of exactly an order's
# leaves: docs/benchmarks.md).
for model in risk_averse prob:power:3; do
  l2 $model 5 partial
  l2 $model 1 no_partial
done
# A seeded random stream of 1,500 single lots (more fills than the router's
# stream gets), made from hftbacktest's conversion of the capture.
rand=target/venue-check/l2-random
mkdir -p $rand
$venv/bin/python scripts/random_orders_npz.py --npz target/hftbacktest/$(basename $capture).npz \
  --instrument 1 --tick 0.1 --lot 0.001 --n 1500 --seed 7 --max-qty 1 > $rand/orders.csv
# Then the same with the venue seeing only the 10 levels a book event
# carries (--top-levels-only), as it did before the feed's level records.
for view in full top; do
  for model in risk_averse prob:power:3; do
    tag=${model//:/-}-$view
    ./target/release/tickline-venue-replay --source "binance:$capture" --instrument-ids BTCUSDT=1 \
      --orders-in $rand/orders.csv --queue-model $model --latency constant:1000:1000 \
      --tick 0.1 --lot 0.001 --maker-fee-bps 2 --taker-fee-bps 5 --reorder-ms 100 \
      $([ $view = top ] && echo --top-levels-only) --out $rand/$tag.csv > /dev/null
    echo -n "$view levels: "
    $venv/bin/python scripts/check_venue_hftbacktest.py --orders $rand/orders.csv \
      --reports $rand/$tag.csv --queue $model --exchange no_partial --capture $capture \
      --cache target/hftbacktest --entry-us 1000 --response-us 1000 --tick 0.1 --lot 0.001 \
      --maker-bps 2 --taker-bps 5 --diffs $rand/$tag-diffs.json
  done
done

# L3: Databento's ESH4 MBO file through hftbacktest's own converter and its
# L3 FIFO model. hftbacktest fills L3 orders whole (no partial fills), so
# the router sends single lots here (--max-order 1). scripts/check_venue_fifo.py
# counts the orders ahead of each fill independently as well.
dbn=../shared/data/databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst
run=target/venue-check/fifo
sed -e 's|^name = "sim-esh4"|name = "check-fifo"|' \
    -e "s|^run_dir = \"runs/sim-esh4\"|run_dir = \"$run\"|" \
    -e 's|"--max-order", "5"|"--max-order", "1"|' \
    config/sim-esh4.toml > target/venue-check/fifo.toml
grep -q '"--max-order", "1"' target/venue-check/fifo.toml
./target/release/tickline-supervisor run --config target/venue-check/fifo.toml > $run.log 2>&1
./target/release/tickline-venue-replay --source "dbn:$dbn" --journal $run/orders.journal \
  --queue-model fifo --latency constant:1000:1000 --tick 0.25 --lot 1 \
  --maker-fee-bps 0.05 --taker-fee-bps 0.05 --out $run/replayed.csv --orders-csv $run/orders.csv > /dev/null
cmp -s $run/replayed.csv $run/venue-reports.csv || echo "fifo: the live venue and its replay differ" >&2
l3() {  # DIR [--without-aggressor-fills]: DIR's orders through hftbacktest's L3
  $venv/bin/python scripts/check_venue_hftbacktest.py --orders $1/orders.csv \
    --reports $1/venue-reports.csv --queue fifo --capture $dbn --symbol ESH4 --cache target/hftbacktest \
    --entry-us 1000 --response-us 1000 --tick 0.25 --lot 1 --maker-bps 0.05 --taker-bps 0.05 \
    --diffs $1/diffs${2:+-passive}.json ${2:-}
}
# As converted, and without the Fill records of orders that took liquidity
# (hftbacktest fills the queue ahead of them; docs/benchmarks.md).
l3 $run
l3 $run --without-aggressor-fills
.venv/bin/python scripts/check_venue_fifo.py --dbn $dbn --orders $run/orders.csv \
  --reports $run/venue-reports.csv --entry-us 1000 --diffs $run/fifo-diffs.json

# The same through hftbacktest for a seeded random stream of 1,500 single
# lots (more fills than the router's stream gets), and the count again.
rand=target/venue-check/fifo-random
mkdir -p $rand
.venv/bin/python scripts/random_orders_dbn.py --dbn $dbn --tick 0.25 --n 1500 --seed 7 --max-qty 1 \
  > $rand/orders.csv
./target/release/tickline-venue-replay --source "dbn:$dbn" --orders-in $rand/orders.csv \
  --queue-model fifo --latency constant:1000:1000 --tick 0.25 --lot 1 \
  --maker-fee-bps 0.05 --taker-fee-bps 0.05 --out $rand/venue-reports.csv > /dev/null
l3 $rand
l3 $rand --without-aggressor-fills
.venv/bin/python scripts/check_venue_fifo.py --dbn $dbn --orders $rand/orders.csv \
  --reports $rand/venue-reports.csv --entry-us 1000 --diffs $rand/fifo-diffs.json
