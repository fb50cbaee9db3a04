#!/usr/bin/env python3
"""Independent ITCH 5.0 writer for tests: encodes messages with `struct`
straight from Nasdaq's TotalView-ITCH 5.0 specification (big-endian, 6-byte
timestamps, 2-byte length framing) and keeps its own book, so the Rust parser
is checked against code that shares nothing with it.

Writes OUT/stream.itch and OUT/expected.json (message counts per type, book
events, final top-10 levels per stock locate)."""
import argparse, json, os, random, struct

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=1)
p.add_argument("--messages", type=int, default=20000)
p.add_argument("--out", required=True)
a = p.parse_args()
rng = random.Random(a.seed)

STOCKS = {1: b"AAPL    ", 2: b"MSFT    ", 3: b"TSLA    "}
MID = {1: 1_900_000, 2: 3_300_000, 3: 2_500_000}  # price x 1e4
out = bytearray()
counts = {}
events = 0
ts = 34_200_000_000_000  # 09:30 in ns since midnight
track = 0


def emit(kind, locate, body):
    global track
    track = (track + 1) & 0xFFFF
    msg = kind + struct.pack(">HH", locate, track) + ts.to_bytes(6, "big") + body
    out.extend(struct.pack(">H", len(msg)))
    out.extend(msg)
    counts[kind.decode()] = counts.get(kind.decode(), 0) + 1


emit(b"S", 0, b"O")
for loc, sym in STOCKS.items():
    emit(b"R", loc, struct.pack(">8sccIcc2scccccIc", sym, b"Q", b"N", 100, b"N", b"C",
                                b"  ", b"P", b"N", b"N", b"1", b"N", 0, b"N"))
    emit(b"H", loc, struct.pack(">8scc4s", sym, b"T", b" ", b"    "))

orders = {}  # ref -> [locate, side, price, shares]
next_ref = 1000


def pick():
    return rng.choice(list(orders))


def new_price(loc, side):
    k = rng.randint(1, 25) * 100
    return MID[loc] - k if side == b"B" else MID[loc] + k


for _ in range(a.messages):
    ts += rng.randint(1, 20_000)
    r = rng.random()
    if r < 0.40 or len(orders) < 30:
        loc = rng.choice(list(STOCKS))
        side = rng.choice([b"B", b"S"])
        price, shares = new_price(loc, side), rng.randint(1, 900)
        body = struct.pack(">QcI8sI", next_ref, side, shares, STOCKS[loc], price)
        if rng.random() < 0.1:
            emit(b"F", loc, body + b"MPID")
        else:
            emit(b"A", loc, body)
        orders[next_ref] = [loc, side, price, shares]
        next_ref += 1
    elif r < 0.55:
        ref = pick(); o = orders[ref]
        n = rng.randint(1, o[3])
        emit(b"E", o[0], struct.pack(">QIQ", ref, n, rng.getrandbits(40)))
        o[3] -= n
        if o[3] == 0: del orders[ref]
    elif r < 0.60:
        ref = pick(); o = orders[ref]
        n = rng.randint(1, o[3])
        emit(b"C", o[0], struct.pack(">QIQcI", ref, n, rng.getrandbits(40), rng.choice([b"Y", b"N"]), o[2]))
        o[3] -= n
        if o[3] == 0: del orders[ref]
    elif r < 0.72:
        ref = pick(); o = orders[ref]
        if o[3] < 2: continue
        n = rng.randint(1, o[3] - 1)
        emit(b"X", o[0], struct.pack(">QI", ref, n))
        o[3] -= n
    elif r < 0.85:
        ref = pick(); o = orders.pop(ref)
        emit(b"D", o[0], struct.pack(">Q", ref))
    elif r < 0.92:
        ref = pick(); o = orders.pop(ref)
        price, shares = new_price(o[0], o[1]), rng.randint(1, 900)
        emit(b"U", o[0], struct.pack(">QQII", ref, next_ref, shares, price))
        orders[next_ref] = [o[0], o[1], price, shares]
        next_ref += 1
    elif r < 0.97:
        loc = rng.choice(list(STOCKS))
        emit(b"P", loc, struct.pack(">QcI8sIQ", 0, b"B", rng.randint(1, 500), STOCKS[loc], MID[loc], rng.getrandbits(40)))
    else:
        loc = rng.choice(list(STOCKS))
        emit(b"Q", loc, struct.pack(">Q8sIQc", rng.randint(1, 10_000), STOCKS[loc], MID[loc], rng.getrandbits(40), b"C"))
    events += 1

emit(b"S", 0, b"C")

books = {}
for loc in STOCKS:
    lv = {b"B": {}, b"S": {}}
    for (l, side, price, shares) in orders.values():
        if l == loc:
            lv[side][price] = lv[side].get(price, 0) + shares
    books[str(loc)] = {
        "bids": sorted(lv[b"B"].items(), reverse=True)[:10],
        "asks": sorted(lv[b"S"].items())[:10],
    }

os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "stream.itch"), "wb").write(out)
json.dump({"counts": counts, "events": events, "books": books},
          open(os.path.join(a.out, "expected.json"), "w"))
