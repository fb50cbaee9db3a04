#!/usr/bin/env python3
"""An independent reading of a Databento MBO file, to check the `dbn:` source.

Decodes with Databento's own Python package (databento-dbn, over zstandard),
keeps its own order books (a dict of orders and a dict of levels per side,
per instrument) and prints, in the source's event rule, one line per event:

    <kind> <databento instrument id> <ts_event> <bids> <asks>

kind: Q (the book after a record flagged F_LAST that changed it) or T (a
trade); bids and asks: the top 10 levels, `price_1e-9:size` joined by `,`.
The first line is JSON: records per "<instrument id>:<action>".

    scripts/dbn_reference.py FILE.mbo.dbn.zst > reference.txt
"""
import json
import sys
from collections import defaultdict

import databento_dbn
import zstandard

F_LAST = 1 << 7
TOP = 10


class Book:
    def __init__(self):
        self.orders = {}  # order id -> (side, price, size)
        self.levels = {"B": defaultdict(int), "A": defaultdict(int)}

    def level(self, side, price, delta):
        lv = self.levels[side]
        lv[price] += delta
        if lv[price] == 0:
            del lv[price]

    def add(self, oid, side, price, size):
        self.orders[oid] = (side, price, size)
        self.level(side, price, size)

    def cancel(self, oid, size):
        side, price, left = self.orders[oid]
        self.level(side, price, -size)
        if left == size:
            del self.orders[oid]
        else:
            self.orders[oid] = (side, price, left - size)

    def modify(self, oid, price, size):
        side, old_price, old_size = self.orders.pop(oid)
        self.level(side, old_price, -old_size)
        self.add(oid, side, price, size)

    def best(self, side):
        """The best price of side "B" or "A", or None."""
        lv = self.levels[side]
        if not lv:
            return None
        return max(lv) if side == "B" else min(lv)

    def top(self, side):
        prices = sorted(self.levels[side], reverse=(side == "B"))[:TOP]
        return ",".join(f"{p}:{self.levels[side][p]}" for p in prices) or "-"


def records(path):
    """Every MBO record of a DBN file (plain or zstd), by Databento's decoder."""
    with open(path, "rb") as f:
        zst = path.endswith(".zst")
        raw = zstandard.ZstdDecompressor().stream_reader(f).read() if zst else f.read()
    dec = databento_dbn.DBNDecoder()
    dec.write(raw)
    return [r for r in dec.decode() if isinstance(r, databento_dbn.MBOMsg)]


def action_of(r):
    """The record's action as its DBN letter (A, C, M, R, T, F, N)."""
    action = str(r.action)
    action = action.split(".")[-1] if "." in action else action
    return {"ADD": "A", "CANCEL": "C", "MODIFY": "M", "CLEAR": "R", "TRADE": "T",
            "FILL": "F", "NONE": "N"}.get(action.upper(), action)


def side_of(r):
    """The record's side as its DBN letter (B, A, N)."""
    side = str(r.side).split(".")[-1].upper()
    return {"BID": "B", "ASK": "A"}.get(side, side)


def main(path):
    books = defaultdict(Book)
    dirty = defaultdict(bool)
    counts = defaultdict(int)
    out = []
    for r in records(path):
        inst, act, side = r.instrument_id, action_of(r), side_of(r)
        counts[f"{inst}:{act}"] += 1
        book = books[inst]
        if act == "A":
            book.add(r.order_id, side, r.price, r.size)
        elif act == "C":
            book.cancel(r.order_id, r.size)
        elif act == "M":
            book.modify(r.order_id, r.price, r.size)
        elif act == "R":
            books[inst] = book = Book()
        if act in "ACMR":
            dirty[inst] = True
        last = int(r.flags) & F_LAST
        line = f"{inst} {r.ts_event} {book.top('B')} {book.top('A')}"
        if act == "T":
            out.append("T " + line)
            if last:
                dirty[inst] = False
        elif last and dirty[inst]:
            dirty[inst] = False
            out.append("Q " + line)
    print(json.dumps(counts, sort_keys=True))
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
