#!/usr/bin/env bash
# Per-inference latency of the committed model from Rust (the inference stage
# in CSV mode) and from Python onnxruntime, same vectors, same run, batch 1 and
# 32, one intra-op thread each. Writes docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
cargo build --release -p feature -p inference
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
model=models/tickline-v1.onnx
./target/release/tickline-feature --in "source:binance:../shared/data/binance/usdm_btcusdt_20240808.gz" --out "csv:$dir/x.csv" --tick 0.1 >/dev/null
for b in 1 32; do
  taskset -c 1 ./target/release/tickline-inference --model "$model" --in "csv:$dir/x.csv" --max-batch $b > "$dir/rust$b.json" 2>/dev/null
done
taskset -c 1 .venv/bin/python scripts/inference_python.py "$model" "$dir/x.csv" > "$dir/python.json"
python3 - "$dir" > "$dir/section.md" <<'PY'
import json, sys
d = sys.argv[1]
py = json.load(open(f"{d}/python.json"))
print("`scripts/bench-inference.sh`: model `models/tickline-v1.onnx` (gradient-boosted trees, 150 trees of depth 3),")
print("feature rows recorded from the Binance USD-M capture, both pinned to core 1, one intra-op thread,")
print("no spinning. Latency of one `run` call in ns (batch 32: per call, and per vector).")
print()
print("| batch | runtime | runs | p50 | p90 | p99 | p99.9 | max | p50 per vector |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
ratios = []
for b in ("1", "32"):
    r = json.load(open(f"{d}/rust{b}.json"))
    rh = r["run_ns_batch1"] if b == "1" else r["run_ns_batched"]
    for name, h in (("Rust (ort 2.0.0-rc.15)", rh), ("Python onnxruntime 1.31.1", py[b])):
        print(f"| {b} | {name} | {h['count']} | {h['p50']} | {h['p90']} | {h['p99']} | {h['p99.9']} | {h['max']} | {h['p50'] // int(b)} |")
    ratios.append((b, py[b]["p50"] / rh["p50"]))
print()
for b, x in ratios:
    print(f"- batch {b}: Python p50 / Rust p50 = **{x:.2f}x**")
PY
python3 scripts/splice-doc.py docs/benchmarks.md inference-bench "$dir/section.md"
cat "$dir/section.md"
