#!/usr/bin/env python3
"""Random order streams over a Databento MBO file, to test the venue
simulator against scripts/check_venue_fifo.py on many more orders than a
pipeline run sends: day orders of 1-5 lots (--max-qty), at the touch or up to 3 ticks
behind it (sometimes 1 tick through it), sent at random times after the
book is first uncrossed. Writes tickline-venue-replay's --orders-in format.

    random_orders_dbn.py --dbn FILE --tick 0.25 --n 400 --seed 1 > orders.csv
"""
import argparse
import sys

from dbn_reference import F_LAST, Book, action_of, records, side_of
from random_orders import emit


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
    tick = round(a.tick * 1e9)

    def row(k, t, side, bid, ask, behind, lots):
        px = bid - behind * tick if side == 1 else ask + behind * tick
        return f"{k},{t},0,{side},{px / 1e9:g},{lots},1"

    emit(list(touches(a.dbn)), a.n, a.seed, a.max_qty, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
