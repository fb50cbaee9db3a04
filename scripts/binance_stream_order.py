"""What the venue-simulator docs say of the Binance capture, printed from it.

  python3 scripts/binance_stream_order.py lateness CAPTURE.gz
      depth and trade messages whose exchange time (T) is before one
      received earlier, and by how much at most (ms)
  python3 scripts/binance_stream_order.py level CAPTURE.gz a|b PRICE FROM_MS TO_MS
      each depth update's quantity at PRICE on the ask (a) or bid (b) side,
      with T in [FROM_MS, TO_MS], and how many levels below it the update adds
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
    for d in messages(path):
        if d.get("e") != "depthUpdate" or not lo <= d["T"] <= hi:
            continue
        at = [q for p, q in d[side] if float(p) == price]
        inside = [p for p, q in d[side] if float(q) > 0
                  and (float(p) < price if side == "a" else float(p) > price)]
        if at:
            print(f"T {d['T']}: {at[0]} at {price}; {len(inside)} levels nearer the touch in this update")


if __name__ == "__main__":
    if sys.argv[1] == "lateness":
        lateness(sys.argv[2])
    else:
        level(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
