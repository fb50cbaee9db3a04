#!/usr/bin/env python3
"""An independent count of the orders ahead of each of our fills on a
Databento MBO file, to check the venue simulator's `fifo` queue model.

It decodes the file with Databento's own decoder (databento-dbn), keeps
every price level as a list of order ids in time order (our orders are put
in those lists when they arrive), and fills our orders by the rules that
docs/architecture.md gives for the simulator, written again here from the
rules, not from its code:

- an order arrives `entry` after it was sent, after every record whose
  exchange time is at or before its arrival (market data first on ties);
- on a crossed book it is refused; otherwise it takes the opposite levels it
  crosses, best first; a rest that still crosses expires; else it joins the
  back of its level, and every order in that level's list is ahead of it;
- Add appends; Cancel reduces (the order keeps its place); Modify keeps the
  place when the price is the same and the size does not grow, else it goes
  to the back of its (new) level; Clear empties the instrument's book;
- a Fill of an order at its resting price, behind ours at our price or
  at a price worse than ours, fills ours by up to its size (the aggressor
  met ours first); a Fill away from the resting price is the aggressor's
  own (an order modified across the spread) and fills nothing of ours;
- a Trade through our price fills all of ours; after each record flagged
  F_LAST, an order the opposite best has reached fills whole.

Compares every fill with the simulator's reports CSV (time, price, qty,
maker/taker, quantity and orders ahead at join) and prints one JSON line.

    check_venue_fifo.py --dbn FILE --orders ORDERS.csv --reports REPORTS.csv \
        --entry-us 1000 [--diffs FILE]
"""
import argparse
import csv
import json
import sys
from collections import defaultdict

from dbn_reference import F_LAST, action_of, records
from dbn_reference import side_of as side_letter

SCALE = 10**9  # DBN prices are 1e-9


def side_of(r):
    """1 bid, -1 ask, 0 none (as our orders' sides)."""
    return {"B": 1, "A": -1}.get(side_letter(r), 0)


class Ours:
    def __init__(self, row, arrival):
        self.id = int(row["client_order_id"])
        self.inst = int(row["instrument_id"])
        self.side = int(row["side"])
        self.price = round(float(row["price"]) * SCALE)
        self.leaves = round(float(row["qty"]))
        self.arrival = arrival
        self.ahead = (0, 0)


class Market:
    """One instrument's book: others' orders, the level lists, their totals."""

    def __init__(self):
        self.orders = {}  # order id -> [side, price, size]
        self.queues = defaultdict(list)  # (side, price) -> ids in time order
        self.totals = {1: defaultdict(int), -1: defaultdict(int)}  # side -> price -> size

    def total(self, side, price, delta):
        t = self.totals[side]
        t[price] += delta
        if t[price] == 0:
            del t[price]

    def add(self, oid, side, price, size):
        self.orders[oid] = [side, price, size]
        self.queues[(side, price)].append(oid)
        self.total(side, price, size)

    def remove(self, oid):
        side, price, size = self.orders.pop(oid)
        self.queues[(side, price)].remove(oid)
        self.total(side, price, -size)

    def cancel(self, oid, size):
        o = self.orders.get(oid)
        if o is None:
            return
        if size >= o[2]:
            self.remove(oid)
        else:
            o[2] -= size
            self.total(o[0], o[1], -size)

    def modify(self, oid, price, size):
        o = self.orders.get(oid)
        if o is None:
            return
        if price == o[1] and 0 < size <= o[2]:
            self.total(o[0], o[1], size - o[2])
            o[2] = size
            return
        side = o[0]
        self.remove(oid)
        if size > 0:
            self.add(oid, side, price, size)

    def clear(self):
        for key in self.queues:
            self.queues[key] = [i for i in self.queues[key] if isinstance(i, tuple)]
        self.orders.clear()
        self.totals = {1: defaultdict(int), -1: defaultdict(int)}

    def best(self, side):
        t = self.totals[side]
        if not t:
            return None
        return max(t) if side == 1 else min(t)

    def levels(self, side):
        t = self.totals[side]
        return [(p, t[p]) for p in sorted(t, reverse=(side == 1))]


def crosses(side, price, level):
    return price >= level if side == 1 else price <= level


class Check:
    def __init__(self, orders):
        self.pending = sorted(orders, key=lambda o: (o.arrival, o.id))
        self.resting = []
        self.fills = []  # (id, t, price, qty, liquidity, ahead qty, ahead orders)
        self.outcomes = defaultdict(int)
        self.books = defaultdict(Market)
        self.ids = {}  # Databento instrument id -> ours, by first appearance
        self.dirty = defaultdict(bool)  # the book changed since the last F_LAST

    def fill(self, o, t, price, qty, liq):
        o.leaves -= qty
        ahead = o.ahead if liq == "maker" else (0, 0)
        self.fills.append((o.id, t, price, qty, liq) + ahead)

    def arrive(self, o):
        book = self.books[o.inst]
        bid, ask = book.best(1), book.best(-1)
        if bid is None and ask is None:
            self.outcomes["unknown_instrument"] += 1
            return
        if bid is not None and ask is not None and bid >= ask:
            self.outcomes["book_crossed"] += 1
            return
        for price, qty in book.levels(-o.side):
            if o.leaves == 0 or not crosses(o.side, o.price, price):
                break
            self.fill(o, o.arrival, price, min(qty, o.leaves), "taker")
        if o.leaves == 0:
            return
        opp = book.best(-o.side)
        if opp is not None and crosses(o.side, o.price, opp):
            self.outcomes["expired"] += 1
            return
        q = book.queues[(o.side, o.price)]
        ahead = [i for i in q if not isinstance(i, tuple)]
        o.ahead = (sum(book.orders[i][2] for i in ahead), len(ahead))
        assert o.ahead[0] == book.totals[o.side].get(o.price, 0)
        q.append(("us", o.id))
        self.resting.append(o)

    def arrive_before(self, t):
        while self.pending and self.pending[0].arrival < t:
            self.arrive(self.pending.pop(0))

    def behind_us(self, o, book, oid):
        side, price, _ = book.orders[oid]
        if side != o.side:
            return False
        if price == o.price:
            q = book.queues[(side, price)]
            return q.index(oid) > q.index(("us", o.id))
        return price < o.price if o.side == 1 else price > o.price

    def on_fill(self, inst, r, t):
        book = self.books[inst]
        if r.order_id not in book.orders or book.orders[r.order_id][1] != r.price:
            return
        for o in self.resting:
            if o.inst == inst and o.leaves > 0 and self.behind_us(o, book, r.order_id):
                self.fill(o, t, o.price, min(r.size, o.leaves), "maker")

    def on_trade(self, inst, r, t):
        aggressor = side_of(r)
        for o in self.resting:
            if o.inst != inst or o.leaves == 0 or aggressor in (0, o.side):
                continue
            through = o.price > r.price if o.side == 1 else o.price < r.price
            if through:
                self.fill(o, t, o.price, o.leaves, "maker")

    def reached(self, inst, t):
        book = self.books[inst]
        for o in self.resting:
            opp = book.best(-o.side)
            if o.inst == inst and o.leaves > 0 and opp is not None and crosses(o.side, o.price, opp):
                self.fill(o, t, o.price, o.leaves, "maker")

    def record(self, r):
        """One record, as the feed hands it to the simulator: orders that
        arrive before a record the simulator sees go in first; the book
        checks of a book event (F_LAST after a change) and of a trade."""
        inst = self.ids.setdefault(r.instrument_id, len(self.ids))
        t, act = r.ts_event, action_of(r)
        if act not in "ACMRFT":
            return
        self.arrive_before(t)
        book = self.books[inst]
        if act == "A":
            book.add(r.order_id, side_of(r), r.price, r.size)
        elif act == "C":
            book.cancel(r.order_id, r.size)
        elif act == "M":
            book.modify(r.order_id, r.price, r.size)
        elif act == "R":
            book.clear()
        elif act == "F":
            self.on_fill(inst, r, t)
        elif act == "T":
            self.on_trade(inst, r, t)
        last = int(r.flags) & F_LAST
        if act in "ACMR":
            self.dirty[inst] = True
        if act == "T" or (last and self.dirty[inst]):
            self.reached(inst, t)
        if last:
            self.dirty[inst] = False
        self.drop_done()

    def drop_done(self):
        done = [o for o in self.resting if o.leaves == 0]
        for o in done:
            self.resting.remove(o)
            for q in self.books[o.inst].queues.values():
                if ("us", o.id) in q:
                    q.remove(("us", o.id))


def ours(path, entry_ns):
    with open(path) as f:
        return [Ours(row, int(row["sent_ns"]) + entry_ns) for row in csv.DictReader(f)]


def venue_fills(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "fill"]
    return [(int(r["client_order_id"]), int(r["exchange_ns"]), round(float(r["price"]) * SCALE),
             round(float(r["qty"])), r["liquidity"], round(float(r["queue_ahead"])),
             int(r["orders_ahead"])) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dbn", required=True)
    ap.add_argument("--orders", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--entry-us", type=float, required=True)
    ap.add_argument("--diffs")
    a = ap.parse_args()
    check = Check(ours(a.orders, round(a.entry_us * 1000)))
    for r in records(a.dbn):
        check.record(r)
    check.arrive_before(float("inf"))
    mine = [f[:4] + (f[4],) + (round(f[5]), f[6]) for f in check.fills]
    venue = venue_fills(a.reports)
    equal = sum(1 for x, y in zip(mine, venue) if x == y)
    diffs = [{"count": x, "venue": y} for x, y in zip(mine, venue) if x != y]
    maker = [f for f in mine if f[4] == "maker"]
    out = {
        "fills_counted": len(mine), "fills_venue": len(venue), "equal": equal,
        "maker_fills": len(maker),
        "mean_orders_ahead_at_join": sum(f[6] for f in maker) / max(1, len(maker)),
        "mean_qty_ahead_at_join": sum(f[5] for f in maker) / max(1, len(maker)),
        "refused_or_expired": dict(check.outcomes),
        "first_diff": diffs[0] if diffs else None,
    }
    if a.diffs:
        with open(a.diffs, "w") as f:
            json.dump(diffs, f, indent=1)
    print(json.dumps(out))
    return 0 if equal == len(mine) == len(venue) else 1


if __name__ == "__main__":
    sys.exit(main())
