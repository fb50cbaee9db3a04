#!/usr/bin/env python3
"""Whole-pipeline latency benchmark: tick-to-decision and tick-to-order of the
running Rust pipeline (and, with --python, of the Python peer of the seed's
design, scripts/python_pipeline.py) in four scenarios, with a per-hop budget
and this machine's hand-off floors printed beside the results.

Scenarios (synthetic market, two instruments, the committed model):
  paced    steady Poisson 10k events/s for --paced-s seconds (default 120)
  natural  the synthetic market's own rate: calm 50k/s with 10x bursts
  step     10k/s for 20 s, then 100k/s (a step from calm to 10x)
  max      as fast as the pipeline takes events (events/s through all stages)

Every case is run --repeat times, the configs (and the Python peer)
interleaved within each repeat (ABAB...), and reported as the median with
its range. Stages are warmed up before the source starts (the supervisor's
readiness gate), so no separate warm-up is cut from the numbers.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
KEYS = ["p50", "p90", "p99", "p99.9", "max"]


def scenario_source(name, paced_s):
    """(synthetic spec, pace) of a scenario."""
    if name == "paced":
        return f"synthetic:42:{10_000 * paced_s}:2:10000:1", "realtime"
    if name == "natural":
        return "synthetic:42:2000000:2", "realtime"
    if name == "step":
        return "synthetic:42:400000:2:10000:10:200000", "realtime"
    if name == "max":
        return "synthetic:42:2000000:2", "max"
    raise SystemExit(f"unknown scenario {name}")


def write_config(base, spec, pace, run_dir, tag):
    text = open(base).read()
    text, n = re.subn(r'"--source", "[^"]*", "--pace", "[^"]*"',
                      f'"--source", "{spec}", "--pace", "{pace}"', text)
    if n != 1:
        raise SystemExit(f"{base}: no feed-handler `--source ..., --pace ...` arguments to replace")
    text = re.sub(r'^name = "[^"]*"', f'name = "{tag}"', text, count=1, flags=re.M)
    text = re.sub(r'^run_dir = "[^"]*"', f'run_dir = "{run_dir}"', text, count=1, flags=re.M)
    path = os.path.join(run_dir + ".toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_rust(base, spec, pace, tmp, tag):
    run_dir = os.path.join(tmp, tag)
    cfg = write_config(base, spec, pace, run_dir, tag)
    out = subprocess.run([os.path.join(REL, "tickline-supervisor"), "run", "--fresh", "--json", "--config", cfg],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{base} failed:\n{out.stderr[-3000:]}")
    s = json.loads(out.stdout.strip().splitlines()[-1])
    st = s["stages"]
    lat = lambda stage, m: st[stage]["latency_ns"].get(m, {})
    feed = st["feed-handler"]["stage_summary"]
    hops = [("feature", "queue_wait"), ("feature", "service"), ("inference", "queue_wait"),
            ("inference", "service"), ("order-router", "queue_wait"), ("order-router", "service")]
    return {
        "decision": lat("order-router", "tick_to_decision"),
        "order": lat("order-router", "end_to_end"),
        "hops": {f"{a}.{m}": lat(a, m).get("mean", 0) for a, m in hops},
        "max_queue_wait": max(lat(a, "queue_wait").get("max", 0) for a in ("feature", "inference", "order-router")),
        "events": feed["events"],
        # Through all four stages: the router's first input to its last,
        # the same span as the Python peer's first decision to its last.
        "events_per_s": st["order-router"]["stage_summary"]["messages_in"]
        / max(st["order-router"]["stage_summary"]["active_s"], 1e-9),
        "decisions": st["order-router"]["stage_summary"]["predictions"],
        "restarts": sum(v["restarts"] for v in st.values()),
        # A venue simulator beside the pipeline: its service per market event.
        "venue": lat("venue-sim", "service") if "venue-sim" in st else None,
    }


def run_python(spec, pace, tmp, tag):
    out = subprocess.run([os.path.join(ROOT, ".venv", "bin", "python"),
                          os.path.join(ROOT, "scripts", "python_pipeline.py"),
                          "--source", spec, "--pace", pace, "--dir", os.path.join(tmp, tag)],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"python peer failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def floors():
    out = subprocess.run([os.path.join(REL, "tickline-queue-bench"), "floors"], capture_output=True, text=True, check=True)
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    m = statistics.median(xs)
    return f"{m / 1e3:.1f} ({min(xs) / 1e3:.1f}–{max(xs) / 1e3:.1f})" if len(xs) > 1 else f"{m / 1e3:.1f}"


def floor_line(fl, res, cases):
    """How far p50 is above what the machine allows along the default
    placement: two same-CPU hand-offs at the sched_yield floor and one
    polled cross-core hop (half round trips), plus the stages' own service."""
    rtt = {f["wait"] + str(f["cpus"]): f["round_trip_p50_ns"] for f in fl if "wait" in f}
    hand = 2 * rtt.get("yield:0[0, 0]", 0) / 2 + rtt.get("spin[0, 1]", 0) / 2
    gaps = [f for f in fl if "gaps_over_1ms_per_s" in f]
    out = [f"Floor along the path: hand-offs {hand / 1e3:.2f} µs (2 same-CPU yields + 1 polled cross-core, "
           f"p50 half round trips)"]
    for case in cases:
        rs = res[case]
        if not rs[0].get("hops"):
            continue
        service = statistics.median(sum(v for k, v in r["hops"].items() if k.endswith("service")) for r in rs)
        p50 = statistics.median(r["decision"].get("p50", 0) for r in rs)
        out.append(f"{case}: + service {service / 1e3:.2f} µs (means) = {(hand + service) / 1e3:.2f} µs; "
                   f"p50 is {(p50 - hand - service) / 1e3:.2f} µs above")
    if gaps:
        g = max(gaps, key=lambda f: f["gaps_over_1ms_per_s"])
        out.append(f"tail floor with every CPU busy: {g['gaps_over_1ms_per_s']}/s gaps over 1 ms on CPU "
                   f"{g['cpus'][0]}, longest {g['max_gap_ns'] / 1e6:.2f} ms")
    return "; ".join(out) + "."


def report(results, scenarios, cases, fl):
    lines = ["Floors on this machine (`tickline-queue-bench floors`, round trips, p50 / p99):", ""]
    for f in fl:
        if "wait" in f:
            lines.append(f"- {f['floor']} (`{f['wait']}`, CPUs {f['cpus']}): "
                         f"{f['round_trip_p50_ns'] / 1e3:.2f} / {f['round_trip_p99_ns'] / 1e3:.2f} µs")
        else:
            lines.append(f"- {f['floor']}, CPU {f['cpus'][0]}: {f['gaps_over_100us_per_s']}/s over 100 µs, "
                         f"{f['gaps_over_1ms_per_s']}/s over 1 ms, {f['gaps_over_4ms_per_s']}/s over 4 ms, "
                         f"longest {f['max_gap_ns'] / 1e6:.2f} ms")
    for scn in scenarios:
        lines += ["", f"**{scn}** — µs, median (range) of {len(results[scn][cases[0]])} runs", ""]
        lines.append("| case | metric | " + " | ".join(KEYS) + " | events/s |")
        lines.append("|---|---|" + "---:|" * (len(KEYS) + 1))
        for case in cases:
            rs = results[scn][case]
            eps = statistics.median(r["events_per_s"] for r in rs)
            for metric in ("decision", "order"):
                if all(not r.get(metric) for r in rs):
                    continue
                cells = [med([r[metric].get(k) for r in rs]) for k in KEYS]
                name = "tick-to-decision" if metric == "decision" else "tick-to-order"
                lines.append(f"| {case} | {name} | " + " | ".join(cells) + f" | {eps:,.0f} |")
        lines += ["", "Per-hop budget (mean µs; queue wait + service per stage), sum vs mean tick-to-decision:", ""]
        for case in cases:
            rs = results[scn][case]
            if not rs[0].get("hops"):
                continue
            hops = {k: statistics.median(r["hops"][k] for r in rs) for k in rs[0]["hops"]}
            total = sum(hops.values())
            mean = statistics.median(r["decision"].get("mean", 0) for r in rs)
            parts = ", ".join(f"{k} {v / 1e3:.2f}" for k, v in hops.items())
            mq = statistics.median(r.get("max_queue_wait", 0) for r in rs)
            lines.append(f"- {case}: {parts}; sum {total / 1e3:.2f} vs tick-to-decision mean {mean / 1e3:.2f}; "
                         f"longest queue wait {mq / 1e3:.1f} µs")
        for case in cases:
            rs = [r for r in results[scn][case] if r.get("venue")]
            if rs:
                cells = ", ".join(f"{k} {med([r['venue'].get(k) for r in rs])}" for k in ["p50", "mean", "p99"])
                lines.append(f"- {case}: venue simulator service per market event (µs): {cells}")
        lines += ["", floor_line(fl, results[scn], cases)]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", help="pipeline config(s) to compare (default config/pipeline.toml)")
    ap.add_argument("--scenarios", default="paced,natural,step,max")
    ap.add_argument("--paced-s", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--python", action="store_true", help="also run the Python peer")
    ap.add_argument("--json", help="write every run's numbers here")
    ap.add_argument("--markdown", help="write the report here")
    ap.add_argument("--from-json", help="no runs: report the numbers of an earlier --json file")
    ap.add_argument("--splice-doc", action="store_true",
                    help="put the report into docs/benchmarks.md (between the pipeline-bench markers)")
    a = ap.parse_args()
    configs = a.config or ["config/pipeline.toml"]
    scenarios = a.scenarios.split(",")
    cases = [os.path.basename(c) for c in configs] + (["python peer"] if a.python else [])
    if a.from_json:
        saved = json.load(open(a.from_json))
        fl, results = saved["floors"], saved["results"]
        scenarios = list(results)
        cases = list(results[scenarios[0]])
        a.repeat = 0
    else:
        fl = floors()
        results = {s: {c: [] for c in cases} for s in scenarios}
    with tempfile.TemporaryDirectory(prefix="tickline-bench-") as tmp:
        for rep in range(a.repeat):
            for scn in scenarios:
                spec, pace = scenario_source(scn, a.paced_s)
                for i, case in enumerate(cases):
                    tag = f"bench{rep}{scn[:2]}{i}"
                    t = time.time()
                    if case == "python peer":
                        r = run_python(spec, pace, tmp, tag)
                    else:
                        r = run_rust(configs[i], spec, pace, tmp, tag)
                    results[scn][case].append(r)
                    d = r["decision"]
                    print(f"[{rep + 1}/{a.repeat}] {scn:8} {case:22} p50 {d.get('p50', 0) / 1e3:8.1f} µs  "
                          f"p99 {d.get('p99', 0) / 1e3:8.1f}  p99.9 {d.get('p99.9', 0) / 1e3:8.1f}  "
                          f"max {d.get('max', 0) / 1e3:9.1f}  {r['events_per_s']:>10,.0f} ev/s  "
                          f"({time.time() - t:.0f} s)", file=sys.stderr)
    text = report(results, scenarios, cases, fl)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.splice_doc:
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write(f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                    f"`{' '.join(sys.argv[1:])}`.\n\n{text}\n")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "splice-doc.py"),
                        os.path.join(ROOT, "docs", "benchmarks.md"), "pipeline-bench", f.name], check=True)
        os.unlink(f.name)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"floors": fl, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
