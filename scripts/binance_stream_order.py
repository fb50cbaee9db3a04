"""What the venue-simulator docs say of the Binance capture, printed from it.

  python3 scripts/binance_stream_order.py lateness CAPTURE.gz
      depth and trade messages whose exchange time (T) is before one
      received earlier, and by how much at most (ms)
  python3 scripts/binance_stream_order.py level CAPTURE.gz a|b PRICE FROM_MS TO_MS
      each depth update's quantity at PRICE on the ask (a) or bid (b) side,
      with T in [FROM_MS, TO_MS], and the level's place in the full book
      (snapshot plus diffs): whether the 10 levels a side the venue sees
      hold it
"""
import gzip
import json
import sys


def messages(path):
    for line in gzip.open(path, "rt"):
        _, js = line.split(" ", 1)
        try:
            d = json.loads(js)
        except json.JSONDecodeError:
            continue
        yield d.get("data", d)


def lateness(path):
    latest, late = 0, []
    for d in messages(path):
        if d.get("e") not in ("depthUpdate", "trade"):
            continue
        if d["T"] < latest:
            late.append(latest - d["T"])
        latest = max(latest, d["T"])
    print(f"{len(late)} messages behind one received earlier; at most {max(late, default=0)} ms")


def level(path, side, price, lo, hi):
    """Each change of the level, and its place in the full book (snapshot
    plus diffs): the venue sees only the top 10 a side."""
    book, snap_id, shown = {"a": {}, "b": {}}, None, None
    for d in messages(path):
        if "lastUpdateId" in d:
            snap_id = d["lastUpdateId"]
            for s in "ab":
                key = "asks" if s == "a" else "bids"
                book[s] = {float(p): float(q) for p, q in d[key] if float(q) > 0}
            continue
        if d.get("e") != "depthUpdate" or snap_id is None or d["u"] < snap_id:
            continue
        for s in "ab":
            for p, q in d[s]:
                if float(q) > 0:
                    book[s][float(p)] = float(q)
                else:
                    book[s].pop(float(p), None)
        if not lo <= d["T"] <= hi:
            continue
        at = [q for p, q in d[side] if float(p) == price]
        nearer = sum(1 for p in book[side] if (p < price if side == "a" else p > price))
        in_view = price in book[side] and nearer < 10
        if at or in_view != shown:
            qty = book[side].get(price, 0.0)
            view = "in the top 10" if in_view else "outside the top 10"
            print(f"T {d['T']}: {qty:.3f} at {price}, level {nearer + 1} of the book ({view})")
            shown = in_view


if __name__ == "__main__":
    if sys.argv[1] == "lateness":
        lateness(sys.argv[2])
    else:
        level(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
