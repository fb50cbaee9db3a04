#!/usr/bin/env bash
# Per-inference latency of the committed model from Rust (the inference stage
# in CSV mode) and from Python onnxruntime, same vectors, batch 1 and 32, one
# intra-op thread each, both warmed up the stage's way (200 runs at batch 1
# and at the largest batch, on zero rows). ROUNDS rounds, Rust and Python in
# turn; medians and ranges over rounds go into docs/benchmarks.md.
# Usage: scripts/bench-inference.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
scripts/setup-python.sh
cargo build --release -q -p feature -p inference
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
model=models/tickline-v1.onnx
./target/release/tickline-feature --in "source:binance:../shared/data/binance/usdm_btcusdt_20240808.gz" --out "csv:$dir/x.csv" --tick 0.1 >/dev/null
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  for b in 1 32; do
    taskset -c 1 ./target/release/tickline-inference --model "$model" --in "csv:$dir/x.csv" \
      --max-batch $b --warmup-runs 200 > "$dir/rust$b.$r.json" 2>/dev/null
  done
  taskset -c 1 .venv/bin/python scripts/inference_python.py "$model" "$dir/x.csv" > "$dir/python.$r.json"
done
python3 - "$dir" "$rounds" > "$dir/section.md" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])

def spread(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2), v[0], v[-1]

def cell(x):
    return f"{x[0]:.0f} ({x[1]:.0f}-{x[2]:.0f})"

print(f"`scripts/bench-inference.sh {rounds}`: model `models/tickline-v1.onnx` (gradient-boosted trees, 150 trees of")
print("depth 3), feature rows recorded from the Binance USD-M capture, both pinned to core 1, one intra-op thread,")
print("no spinning, both warmed up alike. Latency of one `run` call in ns (batch 32: per call, and per vector);")
print(f"cells are the median (min-max) over {rounds} rounds, Rust and Python in turn.")
print()
print("| batch | runtime | runs | p50 | p90 | p99 | p99.9 | p50 per vector |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
ratios = []
for b in ("1", "32"):
    key = "run_ns_batch1" if b == "1" else "run_ns_batched"
    rust = [json.load(open(f"{d}/rust{b}.{r}.json"))[key] for r in range(1, rounds + 1)]
    py = [json.load(open(f"{d}/python.{r}.json"))[b] for r in range(1, rounds + 1)]
    for name, hs in (("Rust (ort 2.0.0-rc.15)", rust), ("Python onnxruntime 1.31.1", py)):
        q = {p: spread([h[p] for h in hs]) for p in ("p50", "p90", "p99", "p99.9")}
        print(f"| {b} | {name} | {hs[0]['count']} | " + " | ".join(cell(q[p]) for p in q)
              + f" | {q['p50'][0] / int(b):.0f} |")
    ratios.append((b, spread([h["p50"] for h in py])[0] / spread([h["p50"] for h in rust])[0],
                   spread([h["p99.9"] for h in py])[0] / spread([h["p99.9"] for h in rust])[0]))
print()
for b, x, y in ratios:
    print(f"- batch {b}, medians over rounds: Python p50 / Rust p50 = **{x:.2f}x**; p99.9: **{y:.2f}x**")
PY
python3 scripts/splice-doc.py docs/benchmarks.md inference-bench "$dir/section.md"
cat "$dir/section.md"
