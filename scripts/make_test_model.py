#!/usr/bin/env python3
"""A tiny ONNX model for tests: probabilities = sigmoid(features @ W), with
the input width, output name, weight and metadata chosen on the command line
(to build models that fit the feature set, and ones that must be refused)."""
import argparse

import onnx
from onnx import TensorProto, helper

ap = argparse.ArgumentParser()
ap.add_argument("--cols", type=int, default=16)
ap.add_argument("--output", default="probabilities")
ap.add_argument("--weight", type=float, default=0.01, help="every weight (nan makes NaN outputs)")
ap.add_argument("--meta", action="append", default=[], help="key=value metadata")
ap.add_argument("out")
a = ap.parse_args()
x = helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, a.cols])
y = helper.make_tensor_value_info(a.output, TensorProto.FLOAT, [None, 2])
w = helper.make_tensor("w", TensorProto.FLOAT, [a.cols, 2], [a.weight] * (a.cols * 2))
g = helper.make_graph(
    [helper.make_node("MatMul", ["features", "w"], ["z"]), helper.make_node("Sigmoid", ["z"], [a.output])],
    "test", [x], [y], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
for kv in a.meta:
    k, v = kv.split("=", 1)
    m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
onnx.save(m, a.out)
