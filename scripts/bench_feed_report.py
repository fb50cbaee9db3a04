"""Aggregates scripts/bench-feed.sh's rounds: per case, the median and
range over rounds of each round's median pass; ratios from the medians."""
import json
import statistics
import sys
from collections import defaultdict

runs, rounds, passes, books = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ns = defaultdict(list)
meta = {}
for line in open(runs):
    _, text = line.split(" ", 1)
    c = json.loads(text)
    ns[c["case"]].append(c["ns"])
    meta[c["case"]] = (c["messages"], c["bytes"])


def per_msg(case):
    n = meta[case][0]
    v = sorted(t / n for t in ns[case])
    return statistics.median(v), v[0], v[-1]


print(f"`scripts/bench-feed.sh {rounds} {passes}`: {rounds} rounds, feed-bench and the itchcpp "
      f"harness in turn; each round reports a case's median of {passes} passes (inputs in "
      "memory); cells are the median (min-max) over rounds.\n")
print("| case | input messages | ns/message | M messages/s | input MB/s |")
print("|---|---:|---:|---:|---:|")
for case in ns:
    m, lo, hi = per_msg(case)
    n, b = meta[case]
    mb = f"{b / (m * n) * 1e3:.1f}" if b else "-"
    print(f"| {case} | {n} | {m:.1f} ({lo:.1f}-{hi:.1f}) | {1e3 / m:.2f} | {mb} |")
print()


def ratio(slow, fast, what):
    if slow in ns and fast in ns:
        print(f"- {what}: {slow} / {fast}, ns per message = **{per_msg(slow)[0] / per_msg(fast)[0]:.2f}x**")


ratio("ITCH parse only: itchy 0.3", "ITCH parse only: tickline",
      "Parse only, tickline decoding just the fields its book needs (unequal work)")
ratio("ITCH parse only: itchy 0.3", "ITCH parse only, equal work: tickline",
      "Parse only, equal work (tickline also decodes and UTF-8-checks what itchy does)")
# itchcpp copies every field into a std::variant (no UTF-8 checks) and calls
# a std::function per message: in work, between our two parse-only rows.
ratio("ITCH parse only: itchcpp", "ITCH parse only: tickline",
      "Parse only against itchcpp, tickline's fields only")
ratio("ITCH parse only: itchcpp", "ITCH parse only, equal work: tickline",
      "Parse only against itchcpp, tickline decoding itchy's fields too")
ratio("ITCH parse + L3 book: itchcpp", "ITCH parse + L3 book: tickline",
      "Parse and L3 book against itchcpp")
print(f"- Final books after the ITCH sample, itchcpp against tickline: {books}.")
