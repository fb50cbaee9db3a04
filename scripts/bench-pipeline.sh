#!/usr/bin/env bash
# Whole-pipeline benchmark: tick-to-decision and tick-to-order p50..max in four
# scenarios (paced 10k/s Poisson, the natural synthetic rate with bursts, a
# step from calm to 10x, maximum rate), per-hop budget, this machine's
# hand-off floors, and the Python peer of the seed's design in the same run.
#   scripts/bench-pipeline.sh                       # default config vs the Python peer
#   scripts/bench-pipeline.sh --repeat 3 --config config/pipeline.toml --config config/pipeline-shared.toml --python
# Extra arguments go to scripts/bench_pipeline.py (--help there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh >/dev/null
cargo build --release -q
if [ $# -eq 0 ]; then
  set -- --config config/pipeline.toml --python
fi
exec .venv/bin/python scripts/bench_pipeline.py "$@"
