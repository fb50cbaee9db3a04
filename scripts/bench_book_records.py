#!/usr/bin/env python3
"""What the feed's level records (--book-records) cost the decision path on
real data: config/sim-binance.toml (the Binance USD-M capture on the venue
simulator) replayed at a multiple of its own pace, with the records and
without them, interleaved (ABAB...) --repeat times. Prints, per case, the
median and range of the router's tick-to-decision p50 / p99 / p99.9, the
simulator's service time per message (p50, mean) and the messages on its
queue, with this machine's hand-off floors beside them.

    cargo build --release -q && python3 scripts/bench_book_records.py --speed 5 --repeat 3
"""
import argparse
import json
import os
import subprocess
import sys

from bench_pipeline import KEYS, REL, ROOT, floors, med

CONFIG = os.path.join(ROOT, "config", "sim-binance.toml")


def config(tag, speed, records, run_dir):
    text = open(CONFIG).read()
    assert '"--pace", "max"' in text and ', "--book-records"' in text
    text = text.replace('"--pace", "max"', f'"--pace", "realtime:{speed}"')
    if not records:
        text = text.replace(', "--book-records"', "")
    text = text.replace('name = "sim-binance"', f'name = "bench-records-{tag}"')
    text = text.replace('run_dir = "runs/sim-binance"', f'run_dir = "{run_dir}"')
    path = run_dir + ".toml"
    with open(path, "w") as f:
        f.write(text)
    return path


def run(tag, speed, records, tmp):
    run_dir = os.path.join(tmp, tag)
    cfg = config(tag, speed, records, run_dir)
    sup = os.path.join(REL, "tickline-supervisor")
    subprocess.run([sup, "run", "--config", cfg], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = json.load(open(os.path.join(run_dir, "summary.json")))
    t2d = s["stages"]["order-router"]["latency_ns"]["tick_to_decision"]
    sim = s["stages"]["venue-sim"]["stage_summary"]
    svc = sim["latency_ns"]["service"]
    return dict(t2d={k: t2d[k] for k in KEYS}, service_p50=svc["p50"], service_mean=svc["mean"],
                messages=sim["messages_in"], decisions=t2d["count"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=float, default=5, help="times the capture's own pace")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmp", default=os.path.join(ROOT, "target", "bench-book-records"))
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    fl = floors()
    cases = {"with records": True, "without": False}
    res = {c: [] for c in cases}
    for k in range(a.repeat):
        for c, records in cases.items():
            tag = f"{'records' if records else 'none'}-{k}"
            res[c].append(run(tag, a.speed, records, a.tmp))
            print(f"# {c} #{k + 1}: {json.dumps(res[c][-1])}", file=sys.stderr)
    print(f"config/sim-binance.toml at realtime:{a.speed:g}, {a.repeat} interleaved repeats; "
          "median (range), µs")
    print("floors (`tickline-queue-bench floors`, round trips, p50 / p99 µs): " + "; ".join(
        f"{f['floor']} {f['round_trip_p50_ns'] / 1e3:.2f} / {f['round_trip_p99_ns'] / 1e3:.2f}"
        for f in fl if "round_trip_p50_ns" in f))
    print("| case | decisions | tick-to-decision p50 | p99 | p99.9 | venue messages | "
          "venue service p50 | mean |")
    print("|---|---|---|---|---|---|---|---|")
    for c, rs in res.items():
        t = lambda key: med([r["t2d"][key] for r in rs])
        row = [c, str(rs[0]["decisions"]), t("p50"), t("p99"), t("p99.9"), str(rs[0]["messages"]),
               med([r["service_p50"] for r in rs]), med([r["service_mean"] for r in rs])]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
