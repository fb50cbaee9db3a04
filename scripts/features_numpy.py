#!/usr/bin/env python3
"""The feature set in NumPy, vectorised over a whole recording (batch, not
online): the peer in the feature benchmark, and an independent cross-check of
the Rust engine (every value must agree to float32 precision).

Reads DIR/<input>.books (raw BookEvents, as the queue carries them),
DIR/<input>.features (the engine's f32 output) and DIR/rust.json (the Rust
timings); writes a Markdown table. Exits non-zero on any disagreement."""
import json
import sys
import time

import numpy as np

# BookEvent, #[repr(C)], 408 bytes (crates/tickline-schema).
BOOK = np.dtype([
    ("seq", "<u8"), ("exchange_ns", "<u8"), ("receive_ns", "<u8"), ("stamps", "<u8", (4,)),
    ("flags", "<u8"),
    ("instrument_id", "<u4"), ("kind", "u1"), ("depth", "u1"), ("trade_side", "i1"), ("_r", "u1"),
    ("trade_price", "<i8"), ("trade_qty", "<i8"),
    ("bids", "<i8", (10, 2)), ("asks", "<i8", (10, 2)),
])
assert BOOK.itemsize == 408
NAMES = ["spread_bps", "spread_ticks", "obi_1", "obi_5", "microprice_dev_bps", "ofi_1_sum10",
         "ofi_1_sum100", "ofi_5_sum100", "ret_10_bps", "ret_100_bps", "ret_1s_bps", "rv_100_bps",
         "rv_1s_bps", "trade_imb_100", "trade_imb_1s", "log1p_secs_since_trade"]
TICK = 1e6          # 0.01 in fixed point (1e-8 units)
K = 5               # levels of the multi-level features
WINDOW = 10**9      # 1 s of exchange time
MIN_VOLUME = 0.5
TRADE = 2


def rolling(x, w):
    """Sum of the last w values (fewer at the start), via cumulative sums."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    j = np.arange(1, len(x) + 1)
    return cs[j] - cs[np.maximum(j - w, 0)]


def one_instrument(e):
    n = len(e)
    v = np.full((n, 16), np.nan)
    b, a = e["bids"].astype(float), e["asks"].astype(float)
    depth = e["depth"].astype(int)
    bp, bq, ap, aq = b[:, 0, 0], b[:, 0, 1], a[:, 0, 0], a[:, 0, 1]
    two = (depth > 0) & (bq > 0) & (aq > 0)
    mid = np.where(two, (bp + ap) / 2, np.nan)
    lv = np.arange(10)[None, :]
    v[:, 0] = (ap - bp) / mid * 1e4
    v[:, 1] = np.where(two, (ap - bp) / TICK, np.nan)
    for col, k in ((2, 1), (3, K)):
        inside = lv < np.minimum(k, depth)[:, None]
        sb, sa = (b[:, :, 1] * inside).sum(1), (a[:, :, 1] * inside).sum(1)
        v[:, col] = np.where(sb + sa > 0, (sb - sa) / (sb + sa), np.nan)
    v[:, 4] = ((bp * aq + ap * bq) / (bq + aq) - mid) / mid * 1e4

    # Order flow imbalance per level (Cont, Kukanov, Stoikov), empty bid = price 0, empty ask = +inf.
    def level_flow(m):
        pb = np.where(b[:, m, 1] > 0, b[:, m, 0], 0.0)
        qb = np.where(b[:, m, 1] > 0, b[:, m, 1], 0.0)
        pa = np.where(a[:, m, 1] > 0, a[:, m, 0], np.inf)
        qa = np.where(a[:, m, 1] > 0, a[:, m, 1], 0.0)
        pb0, qb0, pa0, qa0 = (np.concatenate([[x[0]], x[:-1]]) for x in (pb, qb, pa, qa))
        return (np.where(pb >= pb0, qb, 0) - np.where(pb <= pb0, qb0, 0)
                - np.where(pa <= pa0, qa, 0) + np.where(pa >= pa0, qa0, 0))

    def ofi(k):
        k = min(k, int(depth.min()))
        den = sum(b[:, m, 1] + a[:, m, 1] for m in range(k))
        num = sum(level_flow(m) for m in range(k))
        x = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
        x[0] = 0.0
        return x

    o1, o5 = ofi(1), ofi(K)
    v[:, 5], v[:, 6], v[:, 7] = rolling(o1, 10), rolling(o1, 100), rolling(o5, 100)

    # Mid carried forward; log return since the last event with a mid.
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(~np.isnan(mid), idx, -1))
    carried = np.where(last >= 0, mid[np.maximum(last, 0)], np.nan)
    before = np.concatenate([[-1], last[:-1]])
    r = np.where(~np.isnan(mid) & (before >= 0), np.log(mid / mid[np.maximum(before, 0)]), 0.0)
    for col, k in ((8, 10), (9, 100)):
        v[k:, col] = np.log(carried[k:] / carried[:-k]) * 1e4
    v[:, 11] = np.sqrt(np.maximum(rolling(r * r, 100), 0)) * 1e4
    trade = (e["kind"] == TRADE) & (e["trade_qty"] > 0)
    vol = np.where(trade, e["trade_qty"].astype(float), 0.0)
    signed = vol * np.sign(e["trade_side"])
    s100, q100 = rolling(signed, 100), rolling(vol, 100)
    v[:, 13] = np.where(q100 >= MIN_VOLUME, s100 / np.where(q100 > 0, q100, 1), np.nan)

    # The last second of (non-decreasing) exchange time.
    clock = np.maximum.accumulate(e["exchange_ns"].astype(np.int64))
    first = np.where(clock >= WINDOW, np.searchsorted(clock, clock - WINDOW, side="right"), 0)
    cum = lambda x: np.concatenate([[0.0], np.cumsum(x)])
    win = lambda x: cum(x)[idx + 1] - cum(x)[first]
    has_start = first > 0
    v[has_start, 10] = np.log(carried[has_start] / carried[first[has_start] - 1]) * 1e4
    v[:, 12] = np.sqrt(np.maximum(win(r * r), 0)) * 1e4
    s1, q1 = win(signed), win(vol)
    v[:, 14] = np.where(q1 >= MIN_VOLUME, s1 / np.where(q1 > 0, q1, 1), np.nan)
    lt = np.maximum.accumulate(np.where(trade, idx, -1))
    v[:, 15] = np.where(lt >= 0, np.log1p((clock - clock[np.maximum(lt, 0)]) / 1e9), np.nan)
    return v


def features(ev):
    out = np.empty((len(ev), 16))
    for inst in np.unique(ev["instrument_id"]):
        sel = np.nonzero(ev["instrument_id"] == inst)[0]
        out[sel] = one_instrument(ev[sel])
    out[~np.isfinite(out)] = 0.0  # the declared default
    return out


def measure(directory, out):
    """Times NumPy on each input (and on its first 100 events, for the
    fixed cost of a call) and checks every value against the engine's."""
    rust = json.load(open(f"{directory}/rust.json"))
    rows, failed = [], False
    for r in rust:
        name = r["input"]
        ev = np.fromfile(f"{directory}/{name}.books", dtype=BOOK)
        theirs = np.fromfile(f"{directory}/{name}.features", dtype=np.float32).reshape(-1, 16)
        with np.errstate(all="ignore"):
            features(ev)  # warm-up, as the engine's passes are warmed up
            ns = median_time(lambda: features(ev), 5) * 1e9 / len(ev)
            small = ev[:100]
            features(small)
            small_us = median_time(lambda: features(small), 21) * 1e6
            ours = features(ev)
        diff = np.abs(ours.astype(np.float32) - theirs)
        tol = 1e-5 * np.maximum(np.abs(theirs), 1.0)
        bad = diff > tol
        if bad.any():
            failed = True
            k = np.argwhere(bad)[0]
            print(f"{name}: {bad.sum()} values disagree; first at event {k[0]} "
                  f"{NAMES[k[1]]}: numpy {ours[k[0], k[1]]} vs rust {theirs[k[0], k[1]]}", file=sys.stderr)
        print(f"{name:<14} numpy {ns:8.1f} ns/event, {ns * len(ev) / 1e3:9.1f} us/call; "
              f"100 events: {small_us:7.1f} us/call; agreement {100 * (1 - bad.mean()):.4f}%", file=sys.stderr)
        rows.append({"input": name, "events": len(ev), "numpy_ns": ns, "numpy_us_100": small_us,
                     "differing": int(bad.sum())})
    json.dump(rows, open(out, "w"))
    return 1 if failed else 0


def median_time(f, passes):
    times = []
    for _ in range(passes):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return sorted(times)[passes // 2]


def report(directory, rounds, markdown):
    """Median (min-max) over rounds of each figure; ratios from the medians."""
    def spread(v):
        v = sorted(v)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, v[0], v[-1]

    def cell(x, digits=1):
        return f"{x[0]:.{digits}f} ({x[1]:.{digits}f}-{x[2]:.{digits}f})"

    rust = [json.load(open(f"{directory}/rust.{r}.json")) for r in range(1, rounds + 1)]
    numpy = [json.load(open(f"{directory}/numpy.{r}.json")) for r in range(1, rounds + 1)]
    with open(markdown, "w") as f:
        f.write("| input | events | engine ns/event | naive ns/event | NumPy ns/event | NumPy us/call, whole input"
                " | NumPy us/call, 100 events | naive / engine | NumPy / engine | values differing |\n")
        f.write("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
        for i, r0 in enumerate(rust[0]):
            eng = spread([r[i]["engine_ns"] for r in rust])
            nai = spread([r[i]["naive_ns"] for r in rust])
            npy = spread([n[i]["numpy_ns"] for n in numpy])
            call = spread([n[i]["numpy_ns"] * n[i]["events"] / 1e3 for n in numpy])
            small = spread([n[i]["numpy_us_100"] for n in numpy])
            bad = max(n[i]["differing"] for n in numpy)
            f.write(f"| {r0['input']} | {r0['events']} | {cell(eng)} | {cell(nai)} (first {r0['naive_events']})"
                    f" | {cell(npy)} | {cell(call, 0)} | {cell(small)} | {nai[0] / eng[0]:.0f}x"
                    f" | {npy[0] / eng[0]:.2f}x | {bad} |\n")


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        sys.exit(measure(sys.argv[2], sys.argv[3]))
    report(sys.argv[2], int(sys.argv[3]), sys.argv[4])
