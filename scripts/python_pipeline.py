#!/usr/bin/env python3
"""The seed's design in Python, as a good Python engineer would write it: the
peer of the Rust pipeline in scripts/bench_pipeline.py.

Four `multiprocessing` processes (feed, feature, inference, router), pinned
like the Rust stages, joined by single-producer/single-consumer rings in
`multiprocessing.shared_memory` (fixed-size binary records, read and written
with precompiled `struct`s; waits poll with `os.sched_yield`). The feed
replays the very BookEvents the Rust feed-handler publishes (recorded with
`tickline-feed-handler --out file:`), paced by their exchange time; the
feature process computes the same 16 features per event, online, with the
same running-window arithmetic as the Rust engine (tickline-features); the
inference process runs the committed model in onnxruntime at batch 1; the
router applies the same threshold and fractional-Kelly sizing, and times
tick-to-decision from the feed's ingest stamp (CLOCK_MONOTONIC, the clock
the Rust stages use).

Prints one JSON line: tick-to-decision percentiles (ns), events/s, and
where the decisions are written (DIR/decisions.npy: seq, P(up), target lots).
`--check` also runs the Rust feature and inference stages offline on the same
events and counts predictions and decisions that differ.
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import struct
import subprocess
import sys
import time
from collections import deque
from multiprocessing import shared_memory

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
END = (1 << 64) - 1

# BookEvent, #[repr(C)], 408 bytes (crates/tickline-schema), and where each
# field lands in the tuple BOOK unpacks (trace: seq, exchange ns, receive ns,
# 4 stamps, flags).
BOOK = struct.Struct("<QQQ4QQIBBbBqq40q")
SEQ, EXCH, RECV, INGEST, INST, KIND, DEPTH, SIDE, TPRICE, TQTY = 0, 1, 2, 3, 8, 9, 10, 11, 13, 14
BID, ASK = 15, 35               # level m: price at BID + 2m, quantity at BID + 2m + 1
STAMP0 = 24                     # byte offset of stamps[Feed]
FEAT = struct.Struct("<QQI16fqq")       # seq, ingest ns, instrument, features, best bid, best ask
PRED = struct.Struct("<QQIdqq")         # seq, ingest ns, instrument, P(up), best bid, best ask
assert BOOK.size == 408

FIXED = 100_000_000
TICK = FIXED // 100
WINDOW_NS = 1_000_000_000
TIME_WINDOW_CAP = 1 << 16
MIN_VOLUME = 0.5
TRADE = 2
DEPTH_K = 5


class Ring:
    """SPSC ring of fixed-size records in shared memory: the producer owns
    `tail`, the consumer `head`, on separate cache lines. x86 keeps stores in
    order, so a slot written before its tail is whole when the tail shows it."""

    HEADER = 256

    def __init__(self, name, slot, capacity, create=False):
        self.slot, self.cap, self.mask = slot, capacity, capacity - 1
        size = self.HEADER + slot * capacity
        self.shm = shared_memory.SharedMemory(name=name, create=create, size=size)
        self.buf = self.shm.buf
        idx = np.ndarray((self.HEADER // 8,), dtype=np.int64, buffer=self.buf)
        self.idx = idx
        if create:
            idx[:] = 0
        self.local_tail = int(idx[0])
        self.local_head = int(idx[16])

    def slot_offset_for_write(self):
        t = self.local_tail
        while t - int(self.idx[16]) >= self.cap:
            os.sched_yield()
        return self.HEADER + (t & self.mask) * self.slot

    def publish(self):
        self.local_tail += 1
        self.idx[0] = self.local_tail

    def slot_offset_for_read(self):
        h = self.local_head
        while int(self.idx[0]) == h:
            os.sched_yield()
        return self.HEADER + (h & self.mask) * self.slot

    def release(self):
        self.local_head += 1
        self.idx[16] = self.local_head

    def close(self):
        self.idx = None
        self.buf = None
        self.shm.close()


def pin(cpu):
    if cpu is not None and cpu >= 0:
        os.sched_setaffinity(0, {cpu})


# ---- feed -------------------------------------------------------------------

def feed(events_path, out_name, cap, pace, cpu):
    pin(cpu)
    ring = Ring(out_name, BOOK.size, cap)
    raw = np.fromfile(events_path, dtype=np.uint8)
    n = len(raw) // BOOK.size
    data = memoryview(raw.tobytes())
    buf = ring.buf
    stamp = struct.Struct("<Q")
    exch = struct.Struct("<Q")
    first = exch.unpack_from(data, 8)[0] if n else 0
    start = time.monotonic_ns()
    for i in range(n):
        off = i * BOOK.size
        if pace is not None:
            due = start + int((exch.unpack_from(data, off + 8)[0] - first) / pace)
            now = time.monotonic_ns()
            if due - now > 200_000:
                time.sleep((due - now - 100_000) / 1e9)
            while time.monotonic_ns() < due:
                os.sched_yield()
        o = ring.slot_offset_for_write()
        buf[o:o + BOOK.size] = data[off:off + BOOK.size]
        stamp.pack_into(buf, o + STAMP0, time.monotonic_ns())
        ring.publish()
    o = ring.slot_offset_for_write()
    struct.pack_into("<Q", buf, o, END)
    ring.publish()
    ring.close()


# ---- features: the Rust engine's arithmetic, per event -----------------------

class RollingSum:
    """The Rust RollingSum<N>: running sum, recomputed exactly every N pushes,
    exactly 0 when every value held is 0."""

    __slots__ = ("n", "buf", "pos", "len", "sum", "since", "nonzero")

    def __init__(self, n):
        self.n, self.buf, self.pos, self.len = n, [0.0] * n, 0, 0
        self.sum, self.since, self.nonzero = 0.0, 0, 0

    def push(self, x):
        n = self.n
        if self.len == n:
            old = self.buf[self.pos]
            self.sum -= old
            self.nonzero -= old != 0.0
        else:
            self.len += 1
        self.buf[self.pos] = x
        self.sum += x
        self.nonzero += x != 0.0
        if self.nonzero == 0:
            self.sum = 0.0
        self.pos = (self.pos + 1) % n
        self.since += 1
        if self.since == n:
            start = (self.pos + n - self.len) % n
            s = 0.0
            for i in range(self.len):
                s += self.buf[(start + i) % n]
            self.sum = s
            self.since = 0
        return self.sum


class TimeWindow:
    """The Rust TimeWindow: entries of the last second, running sums of three
    values, and the level of the newest entry that left."""

    def __init__(self):
        self.q = deque()
        self.sums = [0.0, 0.0, 0.0]
        self.nonzero = [0, 0, 0]
        self.since = 0
        self.before = None

    def _evict(self):
        _, vals, level = self.q.popleft()
        for c in range(3):
            self.sums[c] -= vals[c]
            self.nonzero[c] -= vals[c] != 0.0
        self.before = level

    def push(self, ts, vals, level):
        if len(self.q) == TIME_WINDOW_CAP:
            self._evict()
        self.q.append((ts, vals, level))
        for c in range(3):
            self.sums[c] += vals[c]
            self.nonzero[c] += vals[c] != 0.0
        if ts >= WINDOW_NS:
            cutoff = ts - WINDOW_NS
            while self.q and self.q[0][0] <= cutoff:
                self._evict()
        self.since += 1
        if self.since >= TIME_WINDOW_CAP:
            s = [0.0, 0.0, 0.0]
            for _, vals, _ in self.q:
                for c in range(3):
                    s[c] += vals[c]
            self.sums = s
            self.since = 0
        return [0.0 if self.nonzero[c] == 0 else self.sums[c] for c in range(3)]


class Instrument:
    def __init__(self):
        self.prev = None
        self.ofi1_10, self.ofi1_100, self.ofi5_100 = RollingSum(10), RollingSum(100), RollingSum(100)
        self.mids = deque(maxlen=101)
        self.last_mid = None
        self.r2_100, self.signed_100, self.volume_100 = RollingSum(100), RollingSum(100), RollingSum(100)
        self.second = TimeWindow()
        self.last_trade_ns = None
        self.clock = 0


def side_level(p, q, bid):
    if q > 0:
        return float(p), float(q)
    return (0.0, 0.0) if bid else (math.inf, 0.0)


def ofi_norm(prev, cur, k):
    """OFI over the first k levels / their depth (Cont, Kukanov, Stoikov)."""
    k = min(k, cur[DEPTH], prev[DEPTH])
    depth = 0.0
    for m in range(k):
        depth += float(cur[BID + 2 * m + 1] + cur[ASK + 2 * m + 1])
    if depth <= 0.0:
        return 0.0
    e = 0.0
    for m in range(k):
        pb0, qb0 = side_level(prev[BID + 2 * m], prev[BID + 2 * m + 1], True)
        pb1, qb1 = side_level(cur[BID + 2 * m], cur[BID + 2 * m + 1], True)
        pa0, qa0 = side_level(prev[ASK + 2 * m], prev[ASK + 2 * m + 1], False)
        pa1, qa1 = side_level(cur[ASK + 2 * m], cur[ASK + 2 * m + 1], False)
        x = 0.0
        if pb1 >= pb0:
            x += qb1
        if pb1 <= pb0:
            x -= qb0
        if pa1 <= pa0:
            x -= qa1
        if pa1 >= pa0:
            x += qa0
        e += x
    return e / depth


def imbalance(ev, k):
    k = min(k, ev[DEPTH])
    b = 0.0
    for m in range(k):
        b += float(ev[BID + 2 * m + 1])
    a = 0.0
    for m in range(k):
        a += float(ev[ASK + 2 * m + 1])
    return (b - a) / (b + a) if b + a > 0.0 else math.nan


def compute(st, ev):
    """The 16 features of one event, undefined ones 0; and the touch."""
    v = [math.nan] * 16
    depth = ev[DEPTH]
    bp, bq, ap, aq = ev[BID], ev[BID + 1], ev[ASK], ev[ASK + 1]
    has_bid, has_ask = depth > 0 and bq > 0, depth > 0 and aq > 0
    mid = (float(bp) + float(ap)) / 2.0 if has_bid and has_ask else None
    if mid is not None:
        spread = float(ap - bp)
        v[0] = spread / mid * 1e4
        v[1] = spread / TICK
    v[2] = imbalance(ev, 1)
    v[3] = imbalance(ev, DEPTH_K)
    if mid is not None:
        fbq, faq = float(bq), float(aq)
        micro = (float(bp) * faq + float(ap) * fbq) / (fbq + faq)
        v[4] = (micro - mid) / mid * 1e4
    if st.prev is not None:
        o1, o5 = ofi_norm(st.prev, ev, 1), ofi_norm(st.prev, ev, DEPTH_K)
    else:
        o1 = o5 = 0.0
    v[5] = st.ofi1_10.push(o1)
    v[6] = st.ofi1_100.push(o1)
    v[7] = st.ofi5_100.push(o5)
    r = math.log(mid / st.last_mid) if (mid is not None and st.last_mid is not None) else 0.0
    if mid is not None:
        st.last_mid = mid
    level = st.last_mid if st.last_mid is not None else math.nan
    st.mids.append(level)
    n = len(st.mids)
    for col, k in ((8, 10), (9, 100)):
        if k < n:
            v[col] = math.log(st.mids[-1] / st.mids[-1 - k]) * 1e4
    v[11] = math.sqrt(max(st.r2_100.push(r * r), 0.0)) * 1e4
    if ev[KIND] == TRADE and ev[TQTY] > 0:
        q = float(ev[TQTY])
        signed, volume = q * ((ev[SIDE] > 0) - (ev[SIDE] < 0)), q
    else:
        signed = volume = 0.0
    s100 = st.signed_100.push(signed)
    q100 = st.volume_100.push(volume)
    if q100 >= MIN_VOLUME:
        v[13] = s100 / q100
    st.clock = max(st.clock, ev[EXCH])
    ts = st.clock
    r2_1s, signed_1s, volume_1s = st.second.push(ts, (r * r, signed, volume), level)
    if st.second.before is not None:
        v[10] = math.log(level / st.second.before) * 1e4
    v[12] = math.sqrt(max(r2_1s, 0.0)) * 1e4
    if volume_1s >= MIN_VOLUME:
        v[14] = signed_1s / volume_1s
    if volume > 0.0:
        st.last_trade_ns = ts
    if st.last_trade_ns is not None:
        v[15] = math.log1p((ts - st.last_trade_ns) / 1e9)
    st.prev = ev
    v = [x if math.isfinite(x) else 0.0 for x in v]
    return v, (bp if has_bid else 0), (ap if has_ask else 0)


def feature(in_name, out_name, cap, cpu):
    pin(cpu)
    rin, rout = Ring(in_name, BOOK.size, cap), Ring(out_name, FEAT_SLOT, cap)
    states = {}
    unpack, pack = BOOK.unpack_from, FEAT.pack_into
    bin_, bout = rin.buf, rout.buf
    while True:
        ev = unpack(bin_, rin.slot_offset_for_read())
        rin.release()
        w = rout.slot_offset_for_write()
        if ev[SEQ] == END:
            struct.pack_into("<Q", bout, w, END)
            rout.publish()
            break
        st = states.get(ev[INST])
        if st is None:
            st = states[ev[INST]] = Instrument()
        v, bid, ask = compute(st, ev)
        pack(bout, w, ev[SEQ], ev[INGEST], ev[INST], *v, bid, ask)
        rout.publish()
    rin.close()
    rout.close()


# ---- inference ----------------------------------------------------------------

def inference(in_name, out_name, cap, cpu, model):
    pin(cpu)
    # Imported in the child: its own runtime, on its own core; the session
    # options are the inference benchmark's peer's (scripts/inference_python.py).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from inference_python import session
    sess = session(model)
    x = np.zeros((1, 16), dtype=np.float32)
    run, names = sess.run, ["probabilities"]
    for _ in range(200):  # warm-up, as the Rust stage does
        run(names, {"features": x})
    rin, rout = Ring(in_name, FEAT_SLOT, cap), Ring(out_name, PRED_SLOT, cap)
    unpack, pack = FEAT.unpack_from, PRED.pack_into
    bin_, bout = rin.buf, rout.buf
    row = x[0]
    while True:
        f = unpack(bin_, rin.slot_offset_for_read())
        rin.release()
        w = rout.slot_offset_for_write()
        if f[0] == END:
            struct.pack_into("<Q", bout, w, END)
            rout.publish()
            break
        row[:] = f[3:19]
        p = float(run(names, {"features": x})[0][0, 1])
        pack(bout, w, f[0], f[1], f[2], p, f[19], f[20])
        rout.publish()
    rin.close()
    rout.close()


# ---- router -------------------------------------------------------------------

def decide(p, band, k, budget_lots):
    """Target position in lots, or None inside the no-trade band: the Rust
    router's threshold and fractional-Kelly sizing (tickline-router)."""
    edge = p - 0.5
    if not math.isfinite(edge) or abs(edge) < band:
        return None
    e = min(max(2.0 * p - 1.0, -1.0), 1.0)
    return math.trunc(k * e * budget_lots)


def router(in_name, cap, cpu, out_path, n_max, band, k, budget):
    pin(cpu)
    rin = Ring(in_name, PRED_SLOT, cap)
    unpack, bin_ = PRED.unpack_from, rin.buf
    seqs = np.zeros(n_max, dtype=np.uint64)
    probs = np.zeros(n_max, dtype=np.float64)
    targets = np.zeros(n_max, dtype=np.int64)
    lat = np.zeros(n_max, dtype=np.int64)
    n = 0
    first = last = 0
    while True:
        f = unpack(bin_, rin.slot_offset_for_read())
        rin.release()
        if f[0] == END:
            break
        t = decide(f[3], band, k, budget)
        decided = time.monotonic_ns()
        if n == 0:
            first = decided
        last = decided
        if n < n_max:
            seqs[n], probs[n], lat[n] = f[0], f[3], decided - f[1]
            targets[n] = t if t is not None else -(1 << 62)
        n += 1
    rin.close()
    n = min(n, n_max)
    np.save(out_path, np.rec.fromarrays([seqs[:n], probs[:n], targets[:n], lat[:n]],
                                        names="seq,prob_up,target_lots,tick_to_decision_ns"))
    return first, last


def percentiles(ns):
    ns = np.sort(ns)
    q = lambda p: int(ns[min(len(ns) - 1, int(p * len(ns)))])
    return {"count": int(len(ns)), "mean": float(ns.mean()), "p50": q(0.5), "p90": q(0.9),
            "p99": q(0.99), "p99.9": q(0.999), "max": int(ns[-1])}


def record_events(spec, path):
    """The book events the Rust feed-handler publishes for `spec`, raw."""
    subprocess.run([os.path.join(REL, "tickline-feed-handler"), "--source", spec, "--out", f"file:{path}"],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.getsize(path) // BOOK.size


def check(spec, tmp, decisions, band, k, budget, model):
    """Rust features and predictions for the same events, offline: how many
    of ours differ (P(up) beyond 1e-6, or the decision)."""
    feats, preds = os.path.join(tmp, "rust-features.csv"), os.path.join(tmp, "rust-predictions.csv")
    subprocess.run([os.path.join(REL, "tickline-feature"), "--in", f"source:{spec}", "--out", f"csv:{feats}",
                    "--horizon", "1"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(REL, "tickline-inference"), "--model", model, "--in", f"csv:{feats}",
                    "--out", f"csv:{preds}"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rust = np.loadtxt(preds, delimiter=",", skiprows=1, usecols=(0, 6), ndmin=2)
    rust_p = dict(zip(rust[:, 0].astype(np.uint64).tolist(), rust[:, 1].tolist()))
    ours = np.load(decisions)
    compared = p_diff = d_diff = 0
    for seq, p, t in zip(ours["seq"].tolist(), ours["prob_up"].tolist(), ours["target_lots"].tolist()):
        rp = rust_p.get(seq)
        if rp is None:
            continue
        compared += 1
        p_diff += abs(rp - p) > 1e-6
        rt = decide(rp, band, k, budget)
        d_diff += (rt if rt is not None else -(1 << 62)) != t
    return {"compared": compared, "prob_differs": p_diff, "decision_differs": d_diff}


FEAT_SLOT = 128
PRED_SLOT = 64
assert FEAT.size <= FEAT_SLOT and PRED.size <= PRED_SLOT


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="synthetic spec, as tickline-feed-handler --source")
    ap.add_argument("--pace", default="realtime", help="realtime[:SPEED] or max")
    ap.add_argument("--dir", required=True, help="working directory (events, decisions)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "tickline-v1.onnx"))
    ap.add_argument("--cpus", default="0,0,1,1", help="CPU of feed, feature, inference, router")
    ap.add_argument("--capacity", type=int, default=16384)
    ap.add_argument("--band", type=float, default=0.1)
    ap.add_argument("--kelly", type=float, default=0.5)
    ap.add_argument("--budget", type=float, default=20, help="lots at full confidence")
    ap.add_argument("--check", action="store_true", help="compare predictions and decisions with Rust's")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    pace = None if a.pace == "max" else float(a.pace.split(":")[1]) if ":" in a.pace else 1.0
    cpus = [int(c) for c in a.cpus.split(",")]
    events = os.path.join(a.dir, "events.bin")
    n = record_events(a.source, events)
    tag = f"tlpy{os.getpid()}"
    names = [f"{tag}b", f"{tag}f", f"{tag}p"]
    rings = [Ring(names[0], BOOK.size, a.capacity, True), Ring(names[1], FEAT_SLOT, a.capacity, True),
             Ring(names[2], PRED_SLOT, a.capacity, True)]
    ctx = mp.get_context("spawn")
    decisions = os.path.join(a.dir, "decisions.npy")
    try:
        procs = [
            ctx.Process(target=feature, args=(names[0], names[1], a.capacity, cpus[1])),
            ctx.Process(target=inference, args=(names[1], names[2], a.capacity, cpus[2], a.model)),
        ]
        for p in procs:
            p.start()
        with ctx.Pool(1) as pool:
            res = pool.apply_async(router, (names[2], a.capacity, cpus[3], decisions, n, a.band, a.kelly, a.budget))
            time.sleep(2.0)  # every consumer attached and warmed up before the first event
            feeder = ctx.Process(target=feed, args=(events, names[0], a.capacity, pace, cpus[0]))
            feeder.start()
            feeder.join()
            first, last = res.get()
        for p in procs:
            p.join()
    finally:
        for r in rings:
            r.close()
            r.shm.unlink()
    d = np.load(decisions)
    out = {"peer": "python", "source": a.source, "pace": a.pace, "events": n,
           "decision": percentiles(d["tick_to_decision_ns"]),
           # From the first decision to the last: not the feed process's start
           # or its loading of the events file.
           "events_per_s": n / max((last - first) / 1e9, 1e-9), "decisions": int(len(d)), "restarts": 0, "order": {}}
    if a.check:
        out["check"] = check(a.source, a.dir, decisions, a.band, a.kelly, a.budget, a.model)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
