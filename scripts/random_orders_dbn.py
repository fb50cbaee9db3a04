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

from dbn_reference import F_LAST, Book, action_of, records, side_of


def touches(path):
    """(ts_event, best bid, best ask) after each F_LAST record, prices 1e-9
    (scripts/dbn_reference.py's book)."""
    book = Book()
    for r in records(path):
        act = action_of(r)
        if act == "A":
            book.add(r.order_id, side_of(r), r.price, r.size)
        elif act == "C" and r.order_id in book.orders:
            book.cancel(r.order_id, r.size)
        elif act == "M" and r.order_id in book.orders:
            book.modify(r.order_id, r.price, r.size)
        elif act == "R":
            book = Book()
        bid, ask = book.best("B"), book.best("A")
        if int(r.flags) & F_LAST and bid is not None and ask is not None:
            yield r.ts_event, bid, ask


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
