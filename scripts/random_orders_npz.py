#!/usr/bin/env python3
"""Random order streams over market data as hftbacktest converted it (its
.npz of events, e.g. a Binance capture after `binancefutures.convert`), to
test the venue simulator against hftbacktest on many more orders than a
pipeline run sends: day orders of 1 lot up to --max-qty, at the touch or up
to 3 ticks behind it (sometimes 1 tick through it), sent at the times of
random depth events once both sides have a level. The book is built from
the file's own depth events, not by our feed. Writes tickline-venue-replay's
--orders-in format.

    random_orders_npz.py --npz FILE --instrument 1 --tick 0.1 --lot 0.001 \
        --n 1500 --seed 7 --max-qty 1 > orders.csv
"""
import argparse
import sys

import numpy as np
from hftbacktest import (BUY_EVENT, DEPTH_CLEAR_EVENT, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT,
                         EXCH_EVENT, SELL_EVENT)
from random_orders import emit


def touches(path):
    """(exchange time, best bid, best ask) after each depth event that the
    exchange sees, with both sides quoted."""
    ev = np.load(path)["data"]
    book = {BUY_EVENT: {}, SELL_EVENT: {}}
    for e in ev:
        flags = int(e["ev"])
        kind, side = flags & 0xFF, flags & (BUY_EVENT | SELL_EVENT)
        if not flags & EXCH_EVENT or side not in book:
            continue
        levels = book[side]
        if kind == DEPTH_CLEAR_EVENT:
            levels.clear()
        elif kind in (DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT):
            px, qty = float(e["px"]), float(e["qty"])
            if qty > 0:
                levels[px] = qty
            else:
                levels.pop(px, None)
        else:
            continue
        bids, asks = book[BUY_EVENT], book[SELL_EVENT]
        if bids and asks:
            yield int(e["exch_ts"]), max(bids), min(asks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--npz", required=True)
    ap.add_argument("--instrument", type=int, required=True)
    ap.add_argument("--tick", type=float, required=True)
    ap.add_argument("--lot", type=float, required=True)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-qty", type=int, default=5, help="lots per order at most")
    a = ap.parse_args()

    def row(k, t, side, bid, ask, behind, lots):
        ticks = round((bid if side == 1 else ask) / a.tick) - side * behind
        return f"{k},{t},{a.instrument},{side},{ticks * a.tick:.8f},{lots * a.lot:.8f},1"

    emit([t for t in touches(a.npz) if t[1] < t[2]], a.n, a.seed, a.max_qty, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
