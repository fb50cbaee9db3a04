#!/usr/bin/env bash
# The causes of slow decisions on the default config run for about two
# minutes (its synthetic market, 10k events/s with bursts, 2.1M events):
# ROUNDS runs with the causes sampled every 1 ms (supervisor run
# --trace-causes), each followed by one at the default sampling (every log
# interval) to show what the 1 ms sampler costs the tail. Prints, per run,
# tick to decision and the share of recorded slow decisions over 100 µs and
# over 1 ms with a named cause, and each cause's count; then the 10 slowest
# of the last traced run (tickline-stats logs --slowest).
# Usage: scripts/bench-causes.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/default-config.sh
rounds=${1:-2}
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
default_config_with bench-causes "$dir/run" 2100000 > "$dir/c.toml"
for r in $(seq "$rounds"); do
  for mode in trace default; do
    echo "round $r of $rounds: $mode" >&2
    flag=$([ "$mode" = trace ] && echo --trace-causes || true)
    ./target/release/tickline-supervisor run --fresh --config "$dir/c.toml" $flag >/dev/null 2>&1
    cp "$dir/run/summary.json" "$dir/$mode.$r.json"
    cp "$dir/run/slowest.jsonl" "$dir/$mode.$r.jsonl"
    rm -rf "$dir/$mode.run" && cp -r "$dir/run" "$dir/$mode.run"
  done
done
python3 - "$dir" "$rounds" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])
us = lambda ns: f"{ns / 1e3:,.1f}"
print(f"{'run':<12} {'p50':>7} {'p99':>8} {'p99.9':>8} {'max':>9}  {'sample':>7} {'cpu/sample':>10}  over 100 us: named (causes)  |  over 1 ms: named (causes)")
for r in range(1, rounds + 1):
    for mode in ("trace", "default"):
        s = json.load(open(f"{d}/{mode}.{r}.json"))
        t = s["stages"]["order-router"]["latency_ns"]["tick_to_decision"]
        c = s["slow_decisions"]
        def share(k):
            x = c[k]
            if not x.get("count"):
                return "none"
            causes = ", ".join(f"{n} {v}" for n, v in sorted(x["causes"].items(), key=lambda kv: -kv[1]))
            return f"{x['named']}/{x['count']} = {100 * x['named_share']:.0f}% ({causes})"
        print(f"{mode + ' ' + str(r):<12} {us(t['p50']):>7} {us(t['p99']):>8} {us(t['p99.9']):>8} {us(t['max']):>9}  "
              f"{c['sample_ms']:>5.0f}ms {c['sample_cpu_us']:>8.1f}us  {share('over_100us')}  |  {share('over_1ms')}")
print()
print("why the unnamed ones are unnamed (traced runs; numbers replaced by N):")
import collections, re
for r in range(1, rounds + 1):
    why, stalls, top = collections.Counter(), collections.defaultdict(set), None
    for line in open(f"{d}/trace.{r}.jsonl"):
        iv = json.loads(line)
        for x in iv["slowest"]:
            a = x["attribution"]
            if top is None or x["total_ns"] > top["total_ns"]:
                top = x
            if x["total_ns"] > 100_000 and a["cause"] in ("unknown", "unavailable"):
                over = "over 1 ms" if x["total_ns"] > 1_000_000 else "100 us-1 ms"
                k = (over, a["hop"], re.sub(r"[0-9.]+", "N", a["detail"]))
                why[k] += 1
                # Decisions behind one stall share its window and evidence.
                stalls[k].add((iv["interval"], a["window_ns"], json.dumps(a["evidence"], sort_keys=True)))
    for k, n in sorted(why.items(), key=lambda kv: -kv[1])[:6]:
        over, hop, detail = k
        print(f"  trace {r}: {n:>4} decisions ({len(stalls[k]):>3} windows) {over:<11} {hop:<12} {detail}")
    a = top["attribution"]
    print(f"  trace {r}: slowest {top['total_ns'] / 1e6:.1f} ms, {a['hop']} hop {top['hops_ns'][a['hop']] / 1e6:.1f} ms: "
          f"{a['cause']} ({a['detail']}); evidence {json.dumps(a['evidence'])}")
PY
echo
echo "the 10 slowest decisions of the last traced run:"
./target/release/tickline-stats logs "$dir/trace.run" --slowest -n 10
