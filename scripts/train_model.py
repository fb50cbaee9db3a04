#!/usr/bin/env python3
"""Train the up-move classifier from features recorded by the feature stage.

Each CSV (one per recording) holds the 16 features of feature set v1 and the
mid's change over the next HORIZON events. Rows whose mid does not move carry
no direction and are dropped: the model estimates P(up | the mid moves).
Split by time inside each recording (first 70% train, last 30% test), with
HORIZON rows purged at the boundary so no label looks into the test period.
Trains logistic regression (standardised) and gradient-boosted trees, prints
out-of-sample accuracy, AUC and a calibration table, and exports the better
one by AUC to ONNX with the feature set's identity in the model metadata."""
import argparse
import json
import sys

import numpy as np
import onnx
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURE_SET_VERSION = 1
N_FEATURES = 16
SEED = 7


def load(path, horizon, train_share):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    names = header[3:3 + N_FEATURES]
    x = data[:, 3:3 + N_FEATURES].astype(np.float32)
    change = data[:, header.index("future_mid_change_ticks")]
    cut = int(len(x) * train_share)
    train = np.arange(len(x)) < cut - horizon  # purge labels that reach into the test period
    test = np.arange(len(x)) >= cut
    moved = change != 0
    y = (change > 0).astype(np.int64)
    return names, (x[train & moved], y[train & moved]), (x[test & moved], y[test & moved])


def calibration(p, y, bins=10):
    rows = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p >= lo) & (p < hi if hi < 1 else p <= hi)
        if sel.any():
            rows.append((lo, hi, int(sel.sum()), float(p[sel].mean()), float(y[sel].mean())))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--horizon", type=int, default=50)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model-version", type=int, default=1)
    ap.add_argument("--train-share", type=float, default=0.7)
    a = ap.parse_args()

    names, xs, ys, xt, yt = None, [], [], [], []
    for path in a.csv:
        n, (x1, y1), (x2, y2) = load(path, a.horizon, a.train_share)
        names = names or n
        assert n == names, f"{path}: different feature set"
        print(f"{path}: train {len(x1)} test {len(x2)} (moves only)", file=sys.stderr)
        xs.append(x1); ys.append(y1); xt.append(x2); yt.append(y2)
    x_train, y_train = np.concatenate(xs), np.concatenate(ys)
    x_test, y_test = np.concatenate(xt), np.concatenate(yt)
    print(f"train {len(x_train)} rows ({y_train.mean():.3f} up), test {len(x_test)} ({y_test.mean():.3f} up)")

    models = {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.1)),
        "gradient_boosted_trees": GradientBoostingClassifier(
            n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=SEED),
    }
    results = {}
    for name, model in models.items():
        model.fit(x_train, y_train)
        p = model.predict_proba(x_test)[:, 1]
        results[name] = {
            "accuracy": float(accuracy_score(y_test, p > 0.5)),
            "auc": float(roc_auc_score(y_test, p)),
            "calibration": calibration(p, y_test),
        }
        print(f"\n{name}: out-of-sample accuracy {results[name]['accuracy']:.4f}, AUC {results[name]['auc']:.4f}")
        print("  predicted bin      n   mean p   observed up")
        for lo, hi, cnt, mp, obs in results[name]["calibration"]:
            print(f"  [{lo:.1f}, {hi:.1f})  {cnt:6d}   {mp:.3f}    {obs:.3f}")
    best = max(results, key=lambda k: results[k]["auc"])
    model = models[best]
    onx = to_onnx(model, x_train[:1], options={id(model): {"zipmap": False}} if best == "gradient_boosted_trees"
                  else {id(model.steps[-1][1]): {"zipmap": False}}, target_opset=17)
    # Inputs and outputs under stable names the Rust side checks.
    onx.graph.input[0].name = rename(onx, onx.graph.input[0].name, "features")
    meta = {
        "feature_set_version": str(FEATURE_SET_VERSION),
        "n_features": str(N_FEATURES),
        "feature_names": ",".join(names),
        "model_version": str(a.model_version),
        "horizon_events": str(a.horizon),
        "model_kind": best,
        "test_auc": f"{results[best]['auc']:.4f}",
        "test_accuracy": f"{results[best]['accuracy']:.4f}",
    }
    for k, v in meta.items():
        onx.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(onx)
    onnx.save(onx, a.out)
    with open(a.out.rsplit(".", 1)[0] + ".json", "w") as f:
        json.dump({"chosen": best, "metadata": meta, "results": results,
                   "train_rows": len(x_train), "test_rows": len(x_test), "inputs": a.csv}, f, indent=1)
    print(f"\nexported {best} to {a.out}")


def rename(model, old, new):
    for node in model.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
    return new


if __name__ == "__main__":
    main()
