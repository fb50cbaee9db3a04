#!/usr/bin/env python3
"""Small ONNX models for tests, with the input width, output name, metadata
and kind chosen on the command line (to build models that fit the feature
set, and ones that must be refused):

  --kind matmul  probabilities = sigmoid(features @ W) (plain ONNX ops)
  --kind lr      Scaler + LinearClassifier, as skl2onnx writes a
                 standardised logistic regression
  --kind trees   a seeded TreeEnsembleClassifier (binary, LOGISTIC, one
                 class id and one base value, as skl2onnx writes gradient
                 boosting), with --mode, --post, --two-class-ids and
                 --missing-tracks to vary what the native engine must match
                 or refuse"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper

ap = argparse.ArgumentParser()
ap.add_argument("--kind", choices=["matmul", "lr", "trees"], default="matmul")
ap.add_argument("--cols", type=int, default=16)
ap.add_argument("--output", default="probabilities")
ap.add_argument("--weight", type=float, default=0.01, help="matmul: every weight (nan makes NaN outputs)")
ap.add_argument("--meta", action="append", default=[], help="key=value metadata")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--trees", type=int, default=40)
ap.add_argument("--depth", type=int, default=4)
ap.add_argument("--mode", default="BRANCH_LEQ", help="trees: every inner node's mode")
ap.add_argument("--post", default="LOGISTIC", help="trees: post_transform")
ap.add_argument("--two-class-ids", action="store_true",
                help="trees: leaves vote for both classes, with two base values")
ap.add_argument("--missing-tracks", action="store_true", help="trees: one node tracks missing values")
ap.add_argument("out")
a = ap.parse_args()
rng = np.random.default_rng(a.seed)
x = helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, a.cols])
y = helper.make_tensor_value_info(a.output, TensorProto.FLOAT, [None, 2])
ml = "ai.onnx.ml"


def matmul():
    w = helper.make_tensor("w", TensorProto.FLOAT, [a.cols, 2], [a.weight] * (a.cols * 2))
    nodes = [helper.make_node("MatMul", ["features", "w"], ["z"]), helper.make_node("Sigmoid", ["z"], [a.output])]
    return nodes, [w]


def lr():
    coef = rng.normal(size=a.cols).astype(np.float32)
    b = float(rng.normal())
    return [
        helper.make_node("Scaler", ["features"], ["scaled"], domain=ml,
                         offset=rng.normal(size=a.cols).tolist(), scale=rng.uniform(0.2, 3, size=a.cols).tolist()),
        helper.make_node("LinearClassifier", ["scaled"], ["label", a.output], domain=ml,
                         classlabels_ints=[0, 1], coefficients=np.concatenate([-coef, coef]).tolist(),
                         intercepts=[-b, b], multi_class=0, post_transform="LOGISTIC"),
    ], []


def trees():
    att = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                           "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                           "class_treeids", "class_nodeids", "class_ids", "class_weights"]}
    for t in range(a.trees):
        # A random binary tree, some branches stopping early; ids in depth-first order.
        counter = [0]

        def grow(depth):
            me = counter[0]
            counter[0] += 1
            leaf = depth == a.depth or (depth > 1 and rng.random() < 0.25)
            att["nodes_treeids"].append(t)
            att["nodes_nodeids"].append(me)
            att["nodes_missing_value_tracks_true"].append(0)
            k = len(att["nodes_treeids"]) - 1
            if leaf:
                for col, key in ((0, "nodes_featureids"), (0.0, "nodes_values"), ("LEAF", "nodes_modes"),
                                 (0, "nodes_truenodeids"), (0, "nodes_falsenodeids")):
                    att[key].append(col)
                classes = [0, 1] if a.two_class_ids else [0]
                for c in classes:
                    att["class_treeids"].append(t)
                    att["class_nodeids"].append(me)
                    att["class_ids"].append(c)
                    att["class_weights"].append(float(rng.normal(scale=0.2)))
                return me
            f = int(rng.integers(a.cols))
            att["nodes_featureids"].append(f)
            # Thresholds on a coarse grid, so generated vectors land on them exactly.
            att["nodes_values"].append(float(np.float32(rng.integers(-20, 20) / 8)))
            att["nodes_modes"].append(a.mode)
            att["nodes_truenodeids"].append(0)
            att["nodes_falsenodeids"].append(0)
            att["nodes_truenodeids"][k] = grow(depth + 1)
            att["nodes_falsenodeids"][k] = grow(depth + 1)
            return me

        grow(0)
    if a.missing_tracks:
        att["nodes_missing_value_tracks_true"][0] = 1
    base = [0.1, -0.2] if a.two_class_ids else [-0.3]
    node = helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "raw"], domain=ml,
                            classlabels_int64s=[0, 1], base_values=base, post_transform=a.post, **att)
    return [node, helper.make_node("Identity", ["raw"], [a.output])], []


nodes, inits = {"matmul": matmul, "lr": lr, "trees": trees}[a.kind]()
g = helper.make_graph(nodes, "test", [x], [y], inits)
if a.kind != "matmul":
    g.output.insert(0, helper.make_tensor_value_info("label", TensorProto.INT64, [None]))
opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(ml, 1)] if a.kind != "matmul" else [])
m = helper.make_model(g, opset_imports=opsets)
m.ir_version = 8
for kv in a.meta:
    k, v = kv.split("=", 1)
    m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
onnx.save(m, a.out)
