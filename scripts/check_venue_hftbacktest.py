"""Replays the order stream a router journaled through hftbacktest (PyPI
`hftbacktest` 2.x) over the same market data, converted by hftbacktest's
own converter, and compares every fill with our venue simulator's:
exchange time (within 1 us), price, quantity, maker/taker.

Set up as hftbacktest's docs set up a Binance futures backtest:
`binancefutures.convert` on the collector's capture, a linear asset,
`partial_fill_exchange` (our venue walks levels and fills by the lot),
constant order latency, the queue model under test, trading-value fees.
`--exchange no_partial` takes `no_partial_fill_exchange` instead, for an
order stream of single lots (where the two fill alike): hftbacktest 2.4.4's
`partial_fill_exchange` stops with InvalidOrderStatus when a fill is
exactly an order's leaves (its issues #301 and #312).
With `--queue fifo` on a Databento MBO file, as its Level-3 example does:
`databento.convert` for the symbol, `l3_fifo_queue_model` with
`no_partial_fill_exchange` (hftbacktest refuses partial fills on L3), so
the order stream compared is one of single lots.

Usage (scripts/check-venue-hftbacktest.sh runs it):
  python check_venue_hftbacktest.py --orders ORDERS.csv --reports REPORTS.csv \
      --queue risk_averse|prob:power:N|fifo [--exchange partial|no_partial] \
      --entry-us E --response-us R \
      --tick 0.1 --lot 0.001 --maker-bps 2 --taker-bps 5 \
      --capture FILE.gz|FILE.mbo.dbn.zst [--symbol ESH4] --cache DIR [--diffs FILE]
Prints one JSON line: counts, matched share, and the first differences.
"""

import argparse
import csv
import json
import os
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
from hftbacktest import (CANCELED, EXPIRED, FILLED, GTC, LIMIT, BacktestAsset,
                         HashMapMarketDepthBacktest)
from hftbacktest.data.utils import binancefutures, databento
from hftbacktest.order import IOC
from numba import njit

NS_PER_US = 1_000


def convert(capture, symbol, cache):
    """hftbacktest's own conversion of the capture (cached)."""
    os.makedirs(cache, exist_ok=True)
    out = os.path.join(cache, os.path.basename(capture) + ".npz")
    if os.path.exists(out):
        return out
    if capture.endswith(".dbn.zst"):
        databento.convert(capture, symbol, output_filename=out)
    else:
        binancefutures.convert(capture, output_filename=out, combined_stream=True)
    return out


def without_aggressor_fills(data):
    """The converted L3 data less each Fill event at a price other than its
    order's resting price: that order took liquidity (it was modified
    across the spread), and its own Fill says nothing of the queue it
    rested in. Returns the new file and how many events went."""
    out = data.replace(".npz", ".passive-fills.npz")
    ev = np.load(data)["data"]
    resting, keep = {}, np.ones(len(ev), dtype=bool)
    for i, e in enumerate(ev):
        kind = int(e["ev"]) & 0xFF
        if kind in (10, 12):  # ADD_ORDER_EVENT, MODIFY_ORDER_EVENT
            resting[int(e["order_id"])] = float(e["px"])
        elif kind == 11:  # CANCEL_ORDER_EVENT
            resting.pop(int(e["order_id"]), None)
        elif kind == 13 and resting.get(int(e["order_id"]), e["px"]) != e["px"]:
            keep[i] = False  # FILL_EVENT away from its resting price
    np.savez_compressed(out, data=ev[keep])
    return out, int((~keep).sum())


def asset(data, a):
    x = (BacktestAsset()
         .data([data])
         .linear_asset(1.0)
         .constant_order_latency(a.entry_us * NS_PER_US, a.response_us * NS_PER_US)
         .trading_value_fee_model(a.maker_bps / 1e4, a.taker_bps / 1e4)
         .tick_size(a.tick)
         .lot_size(a.lot))
    if a.queue == "fifo":
        return x.l3_fifo_queue_model().no_partial_fill_exchange()
    x = x.partial_fill_exchange() if a.exchange == "partial" else x.no_partial_fill_exchange()
    if a.queue == "risk_averse":
        return x.risk_adverse_queue_model()
    kind, fn, n = a.queue.split(":")
    assert kind == "prob" and fn == "power", a.queue
    return x.power_prob_queue_model(float(n))


def read_orders(path):
    with open(path) as f:
        return [dict(id=int(r["client_order_id"]), t=int(r["sent_ns"]), side=int(r["side"]),
                     px=float(r["price"]), qty=float(r["qty"]), tif=int(r["tif"]))
                for r in csv.DictReader(f)]


@njit
def scan(hbt, ids, k, leaves, lot, out, out_px, n_out):
    """Records every change of an open order's leaves since the last look."""
    orders = hbt.orders(0)
    for i in range(k):
        if leaves[i] < lot / 2:
            continue
        o = orders.get(ids[i])
        if o is None:
            continue
        left = o.leaves_qty
        if left < leaves[i] - lot / 2 and n_out < out.shape[0]:
            out[n_out, 0] = ids[i]
            out[n_out, 1] = o.exch_timestamp
            out[n_out, 2] = round((leaves[i] - left) / lot)
            out[n_out, 3] = 1 if o.arr[0].maker else 0
            out_px[n_out] = o.exec_price
            n_out += 1
            leaves[i] = left
        if o.status == FILLED or o.status == CANCELED or o.status == EXPIRED:
            leaves[i] = -1.0
    return n_out


@njit
def replay(hbt, ids, ts, sides, pxs, qtys, tifs, lot, t_end, out, out_px):
    """The orders submitted at their send times; every change of an open
    order's leaves recorded in `out` (id, exch time, lots, maker) and
    `out_px` (price),
    looked at after each feed event and order response, as a strategy of
    hftbacktest's examples does, until `t_end` (with orders resting, the
    backtest would run on without data). Returns the rows written, and
    hftbacktest's error code (0: none) with the time it stopped at."""
    n_out = 0
    hbt.elapse(0)  # the clock starts at the first event
    leaves = np.full(len(ids), -1.0)
    for k in range(len(ids)):
        while hbt.current_timestamp < ts[k]:
            r = hbt.wait_next_feed(True, ts[k] - hbt.current_timestamp)
            n_out = scan(hbt, ids, k, leaves, lot, out, out_px, n_out)
            if r == 1:
                return n_out, 0, hbt.current_timestamp
            if r >= 10:
                return n_out, r, hbt.current_timestamp
        if sides[k] == 1:
            hbt.submit_buy_order(0, ids[k], pxs[k], qtys[k], tifs[k], LIMIT, False)
        else:
            hbt.submit_sell_order(0, ids[k], pxs[k], qtys[k], tifs[k], LIMIT, False)
        leaves[k] = qtys[k]
    while hbt.current_timestamp < t_end:
        r = hbt.wait_next_feed(True, t_end - hbt.current_timestamp)
        n_out = scan(hbt, ids, len(ids), leaves, lot, out, out_px, n_out)
        if r == 1:
            break
        if r >= 10:
            return n_out, r, hbt.current_timestamp
    return n_out, 0, hbt.current_timestamp


def run_hftbacktest(data, orders, a):
    hbt = HashMapMarketDepthBacktest([asset(data, a)])
    col = lambda key, dt: np.array([o[key] for o in orders], dtype=dt)
    tifs = np.array([IOC if o["tif"] == 2 else GTC for o in orders], dtype=np.uint8)
    # At most one row per lot of each order.
    rows = sum(round(o["qty"] / a.lot) for o in orders) + 1
    out, out_px = np.zeros((rows, 4), dtype=np.int64), np.zeros(rows)
    # The last event's local time, and the responses to what it filled.
    ev = np.load(data)["data"]
    t_end = int(max(ev["local_ts"].max(), ev["exch_ts"].max())) + 2 * a.response_us * NS_PER_US
    n, err, t_stop = replay(hbt, col("id", np.uint64), col("t", np.int64), col("side", np.int64),
               col("px", np.float64), col("qty", np.float64), tifs, a.lot, t_end, out, out_px)
    hbt.close()
    fills = [dict(id=int(r[0]), t=int(r[1]), px=float(px), qty=int(r[2]), maker=bool(r[3]))
             for r, px in zip(out[:n], out_px[:n])]
    return fills, int(err), int(t_stop)


def our_fills(path, lot):
    """Our fills, summed by (order, exchange time) as hftbacktest reports them."""
    by = defaultdict(lambda: dict(qty=0, px=None, maker=None))
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["kind"] != "fill":
                continue
            k = (int(r["client_order_id"]), int(r["exchange_ns"]))
            by[k]["qty"] += round(float(r["qty"]) / lot)
            by[k]["px"] = float(r["price"])
            by[k]["maker"] = r["liquidity"] == "maker"
    return [dict(id=k[0], t=k[1], **v) for k, v in sorted(by.items())]


def as_databento_convert(t):
    """An exchange time as hftbacktest's databento.convert gives it: through
    a Python datetime (microseconds) and float seconds, which moves it by up
    to about 1.2 us (1703546429904135945 becomes 1703546429904134912)."""
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=t // 1000)
    return int(dt.timestamp() * 1_000_000_000)


def compare(ours, theirs, tick):
    def same(x, y):
        return (abs(x["t"] - y["t"]) <= NS_PER_US and abs(x["px"] - y["px"]) < tick / 2
                and x["qty"] == y["qty"] and x["maker"] == y["maker"])
    left = list(theirs)
    matched, only_ours = 0, []
    for x in ours:
        k = next((i for i, y in enumerate(left) if y["id"] == x["id"] and same(x, y)), None)
        if k is None:
            only_ours.append(x)
        else:
            matched += 1
            left.pop(k)
    return matched, only_ours, left


def classify(only_ours, only_theirs, reports):
    """The differences by order: filled by both at other times (hftbacktest
    earlier or later, the range in ms), by one only, or refused by us (by
    reason) and filled by hftbacktest."""
    with open(reports) as f:
        refused = {int(r["client_order_id"]): r["reason"]
                   for r in csv.DictReader(f) if r["kind"] == "rejected"}
    ours, theirs = defaultdict(list), defaultdict(list)
    for x in only_ours:
        ours[x["id"]].append(x["t"])
    for y in only_theirs:
        theirs[y["id"]].append(y["t"])
    kinds, delays = defaultdict(int), defaultdict(list)
    for i in sorted(set(ours) | set(theirs)):
        if i in refused:
            kinds["refused_by_us_" + refused[i]] += 1
        elif ours[i] and theirs[i]:
            dt = (theirs[i][0] - ours[i][0]) / 1e6
            k = "hftbacktest_earlier" if dt < 0 else "hftbacktest_later"
            kinds[k] += 1
            delays[k].append(abs(dt))
        else:
            kinds["ours_only" if ours[i] else "hftbacktest_only"] += 1
    ranges = {k + "_ms": [round(min(v), 3), round(max(v), 3)] for k, v in delays.items()}
    return dict(kinds, **ranges)


def main():
    p = argparse.ArgumentParser()
    for name in ["orders", "reports", "queue", "capture", "cache"]:
        p.add_argument("--" + name, required=True)
    for name in ["entry-us", "response-us"]:
        p.add_argument("--" + name, type=int, required=True)
    for name in ["tick", "lot", "maker-bps", "taker-bps"]:
        p.add_argument("--" + name, type=float, required=True)
    p.add_argument("--diffs")
    p.add_argument("--symbol", help="the instrument of a Databento file")
    p.add_argument("--without-aggressor-fills", action="store_true",
                   help="L3: drop the Fill events of orders that took liquidity first")
    p.add_argument("--exchange", choices=["partial", "no_partial"], default="partial",
                   help="L2: hftbacktest's exchange model (no_partial: single lots only)")
    a = p.parse_args()
    orders = read_orders(a.orders)
    if a.queue == "fifo" or a.exchange == "no_partial":
        # On single lots, filling by the lot is filling whole.
        assert all(o["qty"] == a.lot for o in orders), "no_partial_fill_exchange fills whole orders"
    data, dropped = convert(a.capture, a.symbol, a.cache), 0
    if a.without_aggressor_fills:
        data, dropped = without_aggressor_fills(data)
    theirs, err, t_stop = run_hftbacktest(data, orders, a)
    ours = our_fills(a.reports, a.lot)
    rounding = 0
    if a.capture.endswith(".dbn.zst"):
        # Maker fills happen at market events: compared at the times
        # hftbacktest's converter gives them (a taker's is its arrival).
        for x in (x for x in ours if x["maker"]):
            t = as_databento_convert(x["t"])
            rounding = max(rounding, abs(t - x["t"]))
            x["t"] = t
    if err:
        # hftbacktest stopped with an error (its code; 14: InvalidOrderStatus):
        # only what happened before it stopped can be compared.
        ours = [x for x in ours if x["t"] < t_stop - a.response_us * NS_PER_US]
        theirs = [x for x in theirs if x["t"] < t_stop - a.response_us * NS_PER_US]
    matched, only_ours, only_theirs = compare(ours, theirs, a.tick)
    if a.diffs:
        with open(a.diffs, "w") as f:
            json.dump(dict(only_ours=only_ours, only_hftbacktest=only_theirs), f, indent=1)
    exchange = "no_partial" if a.queue == "fifo" else a.exchange
    print(json.dumps(dict(queue=a.queue, exchange=exchange, orders=len(orders),
                          hftbacktest_error=err, hftbacktest_stopped_at=t_stop, our_fills=len(ours),
                          hftbacktest_fills=len(theirs), matched=matched,
                          converter_time_rounding_max_ns=rounding,
                          aggressor_fills_dropped=dropped,
                          matched_share=matched / max(len(ours), len(theirs), 1),
                          differences_by_order=classify(only_ours, only_theirs, a.reports),
                          only_ours=only_ours[:5], only_hftbacktest=only_theirs[:5])))


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
