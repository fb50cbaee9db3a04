#!/usr/bin/env bash
# Checks the causes the supervisor gives against the kernel's own record:
# runs the default config (EVENTS events, paced) with --trace-causes while
# `perf record` traces every context switch on CPU 0 (the feed-handler's
# and the feature stage's; CPU 1's polling pair yields to each other
# millions of times, gigabytes of trace), then, for each recorded decision
# over MIN_US whose slowest hop's stage was on CPU 0, finds from the trace
# which threads were current there during that hop, and prints them
# beside the cause given. Needs perf and root (or perf_event_paranoid <= -1).
# Usage: scripts/check-causes-perf.sh [EVENTS] [MIN_US]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/default-config.sh
events=${1:-600000}
min_us=${2:-1000}
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
default_config_with check-causes "$dir/run" "$events" > "$dir/c.toml"
perf record -q -C 0 -k CLOCK_MONOTONIC -e sched:sched_switch -o "$dir/perf.data" -- \
    ./target/release/tickline-supervisor run --fresh --config "$dir/c.toml" --trace-causes >/dev/null 2>&1
perf script -i "$dir/perf.data" -F cpu,time,trace 2>/dev/null > "$dir/switches.txt"
python3 - "$dir" "$min_us" <<'PY'
import bisect, collections, json, sys
d, min_ns = sys.argv[1], int(sys.argv[2]) * 1000
cpus = collections.defaultdict(list)  # cpu -> [(t_ns, prev comm, next comm)]
for line in open(f"{d}/switches.txt"):
    head, _, rest = line.partition("prev_comm=")
    if not rest:
        continue
    cpu, t = head.split()[:2]
    prev = rest.split(" prev_pid=", 1)[0]
    nxt = rest.split("next_comm=", 1)[1].split(" next_pid=", 1)[0]
    cpus[int(cpu.strip("[]"))].append((int(round(float(t.rstrip(":")) * 1e9)), prev, nxt))
times = {c: [e[0] for e in v] for c, v in cpus.items()}

def current(cpu, a, b):
    """ns each thread was current on cpu within [a, b]."""
    ev, ts = cpus[cpu], times[cpu]
    i = bisect.bisect_right(ts, a) - 1
    if i < 0:
        return None
    cur, t, acc = ev[i][2], a, collections.Counter()
    for j in range(i + 1, len(ev)):
        if ev[j][0] >= b:
            break
        acc[cur] += ev[j][0] - t
        t, cur = ev[j][0], ev[j][2]
    acc[cur] += b - t
    return acc

def cpu_of(comm, a):
    """The CPU where thread `comm` was last switched in or out before a."""
    best = None
    for c, ev in cpus.items():
        i = bisect.bisect_right(times[c], a) - 1
        while i >= 0 and comm not in (ev[i][1], ev[i][2]):
            i -= 1
        if i >= 0 and (best is None or ev[i][0] > best[1]):
            best = (c, ev[i][0])
    return best and best[0]

comm = {"feature": "tickline-featur", "inference": "tickline-infere", "order-router": "tickline-order-"}
# Parsed without a regex: the trace is millions of lines.
ours = set(comm.values()) | {"tickline-feed-h", "tickline-superv", "latency-logs", "causes"}
pairs, held, n = collections.Counter(), collections.Counter(), 0
first = min(v[0][0] for v in cpus.values())
for line in open(f"{d}/run/slowest.jsonl"):
    for x in json.loads(line)["slowest"]:
        a = x["attribution"]
        if x["total_ns"] < min_ns or a["stage"] not in comm:
            continue
        h = x["hops_ns"][a["hop"]]
        hop = ["feature", "inference", "router_queue", "router"].index(a["hop"])
        start = x["stamps"][hop] if hop < 3 else x["read_ns"]
        if start < first:
            continue
        cpu = cpu_of(comm[a["stage"]], start)
        acc = cpu is not None and current(cpu, start, start + h)
        if not acc:
            continue
        n += 1
        # Who held the CPU most, other than the stage itself.
        others = [(k, v) for k, v in acc.most_common() if k != comm[a["stage"]]]
        top = others[0][0] if others else "(the stage itself)"
        who = f"{top} ({'ours' if top in ours else 'not ours'})"
        pairs[(a["cause"], who)] += 1
        for k, v in others:
            held[k] += v
print(f"{n} decisions over {min_ns // 1000} us; the cause given beside the thread the kernel's trace shows current")
print("on the slow hop's CPU for most of the hop (the stage itself left out):")
for (cause, who), k in pairs.most_common(12):
    print(f"  {k:>5}  {cause:<11} {who}")
print("time each thread held those CPUs during those hops (ms):")
for k, v in held.most_common(8):
    print(f"  {v / 1e6:>8.1f}  {k}{'' if k in ours else '  (not ours)'}")
PY
