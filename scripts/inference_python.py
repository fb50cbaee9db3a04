#!/usr/bin/env python3
"""Python onnxruntime on the same model and feature rows as the Rust stage:
per-run latency percentiles (ns) at batch 1 and batch 32, one intra-op thread,
graph optimisation on, as JSON. The peer in scripts/bench-inference.sh."""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session(model):
    """The model as the Rust stage runs it: one intra-op thread, no spinning,
    every graph optimisation; shared by the pipeline peer."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def main(model, csv):
    x = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)[:, 3:19].astype(np.float32)
    s = session(model)
    out = {}
    for batch in (1, 32):
        chunks = [np.ascontiguousarray(x[i:i + batch]) for i in range(0, len(x) - batch + 1, batch)]
        # Warm-up as the inference stage does it (Model::warm_up, 200 runs):
        # on zero rows, at batch 1 and at the largest batch, by turns.
        zeros1, zeros = np.zeros((1, 16), np.float32), np.zeros((batch, 16), np.float32)
        for _ in range(200):
            s.run(["probabilities"], {"features": zeros1})
            s.run(["probabilities"], {"features": zeros})
        ns = np.empty(len(chunks), dtype=np.int64)
        for i, c in enumerate(chunks):
            t = time.perf_counter_ns()
            s.run(["probabilities"], {"features": c})
            ns[i] = time.perf_counter_ns() - t
        q = lambda p: int(np.percentile(ns, p))
        out[str(batch)] = {"count": len(ns), "p50": q(50), "p90": q(90), "p99": q(99), "p99.9": q(99.9), "max": int(ns.max())}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
