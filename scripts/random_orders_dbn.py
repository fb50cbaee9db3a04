#!/usr/bin/env python3
"""Random order streams over a Databento MBO file, to test the venue
simulator against scripts/check_venue_fifo.py on many more orders than a
pipeline run sends: day orders of 1-5 lots (--max-qty), at the touch or up to 3 ticks
behind it (sometimes 1 tick through it), sent at random times after the
book is first uncrossed. Writes tickline-venue-replay's --orders-in format.

    random_orders_dbn.py --dbn FILE --tick 0.25 --n 400 --seed 1 > orders.csv
"""
import argparse
import random
import sys

import databento_dbn
import zstandard

F_LAST = 1 << 7


def touches(path):
    """(ts_event, best bid, best ask) after each F_LAST record, prices 1e-9."""
    raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb")).read()
    dec = databento_dbn.DBNDecoder()
    dec.write(raw)
    orders, levels = {}, {1: {}, -1: {}}

    def level(side, px, d):
        lv = levels[side]
        lv[px] = lv.get(px, 0) + d
        if lv[px] == 0:
            del lv[px]

    for r in dec.decode():
        if not isinstance(r, databento_dbn.MBOMsg):
            continue
        a = str(r.action).split(".")[-1].upper()
        a = {"A": "ADD", "C": "CANCEL", "M": "MODIFY", "R": "CLEAR"}.get(a, a)
        side = {"BID": 1, "B": 1, "ASK": -1, "A": -1}.get(str(r.side).split(".")[-1].upper(), 0)
        if a == "ADD":
            orders[r.order_id] = (side, r.price, r.size)
            level(side, r.price, r.size)
        elif a in ("CANCEL", "MODIFY") and r.order_id in orders:
            s, px, sz = orders.pop(r.order_id)
            level(s, px, -sz)
            left = sz - r.size if a == "CANCEL" else r.size
            newpx = px if a == "CANCEL" else r.price
            if left > 0:
                orders[r.order_id] = (s, newpx, left)
                level(s, newpx, left)
        elif a == "CLEAR":
            orders, levels = {}, {1: {}, -1: {}}
        if int(r.flags) & F_LAST and levels[1] and levels[-1]:
            yield r.ts_event, max(levels[1]), min(levels[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dbn", required=True)
    ap.add_argument("--tick", type=float, required=True)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-qty", type=int, default=5, help="lots per order at most")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tops = list(touches(a.dbn))
    picks = sorted(rng.sample(range(len(tops)), min(a.n, len(tops))))
    tick = round(a.tick * 1e9)
    print("client_order_id,sent_ns,instrument_id,side,price,qty,tif")
    last = 0
    for k, i in enumerate(picks, 1):
        t, bid, ask = tops[i]
        t = max(t, last)  # send times never go back
        last = t
        side = rng.choice((1, -1))
        behind = rng.choice((-1, 0, 0, 1, 2, 3))  # -1: one tick through
        px = bid - behind * tick if side == 1 else ask + behind * tick
        print(f"{k},{t},0,{side},{px / 1e9:g},{rng.randint(1, a.max_qty)},1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
