#!/usr/bin/env bash
# Creates .venv with ONNX Runtime 1.31 (the inference stage loads its
# libonnxruntime.so from there) and the packages tests and benchmarks use.
# Usage: scripts/setup-python.sh [--train]   (--train adds scikit-learn and skl2onnx)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
req=scripts/requirements-runtime.txt
[ "${1:-}" = "--train" ] && req=scripts/requirements-train.txt
.venv/bin/pip install -q --disable-pip-version-check -r "$req"
lib=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
echo "ONNX Runtime: $lib" >&2
