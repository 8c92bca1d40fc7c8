"""Static cost of an ONNX graph for one input shape: MACs, FLOPs, bytes moved, parameters, activation peak.

The graph's dynamic input dims are made concrete from the given shape, then ``onnx.shape_inference`` gives
every tensor's shape (ONNX Runtime is run once on zeros only when inference leaves a shape unknown).

What is counted, per node:

* **MACs** for Conv, ConvTranspose, ConvInteger, QLinearConv, MatMul, MatMulInteger, QLinearMatMul, Gemm.
  Conv: ``N * M * prod(out_spatial) * (C/group) * prod(kernel)``; ConvTranspose: ``N * C * prod(in_spatial) *
  (M/group) * prod(kernel)``; MatMul: ``prod(output) * K``; Gemm: ``M * N * K``. Bias additions are not MACs.
* **precision** of a MAC layer: ``int8`` for the integer ops, and for a float Conv/MatMul/Gemm whose weight is
  the output of a DequantizeLinear of an 8-bit tensor *and* whose activation is the output of a
  DequantizeLinear (the QDQ pattern ORT, TensorRT and Vitis AI fuse into one int8 kernel); else ``fp32``.
* **FLOPs** (separate from MACs) for elementwise ops, one per output element (DequantizeLinear and
  QuantizeLinear included), reductions (one per input element) and pooling (one per window element).
* **bytes** = inputs + weights + outputs at their dtype sizes. In a QDQ int8 layer the inputs, weights and
  outputs are counted at their quantized sizes (the tensors before DequantizeLinear / after QuantizeLinear),
  and the Q/DQ nodes fused into it move no bytes of their own (``role="fused"``). Nodes computed only from
  initializers (weight dequantization) are constant-folded by runtimes (``role="constant"``); pure views
  (Reshape, Flatten, Squeeze, Unsqueeze, Identity) move nothing (``role="view"``). Totals of bytes count
  ``role="compute"`` layers only; MACs and FLOPs totals count every node.
* **activation peak**: nodes run in topological order; a tensor is live from the step that produces it (graph
  inputs from the start) to its last consumer (graph outputs to the end); the peak is the largest sum of live
  tensor sizes. Initializers and constant-folded tensors are parameters, not activations.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, shape_inference

__all__ = ["LayerCost", "GraphCost", "analyze_onnx", "make_static"]

MAC_OPS = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MatMul", "MatMulInteger",
           "QLinearMatMul", "Gemm"}
INT_MAC_OPS = {"ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul"}
ELEMENTWISE_OPS = {
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Exp", "Log", "Abs", "Neg", "Relu", "LeakyRelu",
    "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Erf", "Gelu",
    "Clip", "Max", "Min", "Mean", "Sum", "Round", "Floor", "Ceil", "Sign", "Mod", "BitShift", "Cast", "Where",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Not", "Xor", "IsNaN", "IsInf",
    "DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear", "BatchNormalization", "InstanceNormalization",
    "LayerNormalization", "Mish", "ThresholdedRelu", "Celu", "Sin", "Cos", "Affine", "QLinearAdd", "QLinearMul",
    "QLinearSigmoid", "QLinearLeakyRelu",
}
REDUCE_OPS = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Softmax", "LogSoftmax", "ArgMax", "ArgMin",
              "GlobalAveragePool", "GlobalMaxPool", "LpNormalization"}
POOL_OPS = {"MaxPool", "AveragePool", "LpPool", "QLinearAveragePool"}
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape", "Size", "Constant",
            "ConstantOfShape"}
_DQ = "DequantizeLinear"
_Q = "QuantizeLinear"
_EIGHT_BIT = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}


@dataclass(frozen=True)
class LayerCost:
    """Cost of one node."""

    name: str
    op_type: str
    role: str  # "compute" | "fused" | "constant" | "view"
    precision: str  # "int8" or "fp32" for MAC layers; the output dtype name otherwise
    macs: int
    flops: int
    bytes_in: int
    bytes_weights: int
    bytes_out: int
    params: int
    output_shapes: tuple[tuple[int, ...], ...]

    @property
    def bytes_moved(self) -> int:
        """Bytes a runtime moves for this node (0 for fused, constant-folded and view nodes)."""
        if self.role != "compute":
            return 0
        return self.bytes_in + self.bytes_weights + self.bytes_out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "op_type": self.op_type, "role": self.role, "precision": self.precision,
            "macs": self.macs, "flops": self.flops, "bytes_in": self.bytes_in,
            "bytes_weights": self.bytes_weights, "bytes_out": self.bytes_out, "bytes_moved": self.bytes_moved,
            "params": self.params, "output_shapes": [list(s) for s in self.output_shapes],
        }


@dataclass(frozen=True)
class GraphCost:
    """Static cost of one graph at one input shape."""

    model: str
    input_shapes: Mapping[str, tuple[int, ...]]
    output_shapes: Mapping[str, tuple[int, ...]]
    layers: tuple[LayerCost, ...]
    params: int
    param_bytes: int
    activation_peak_bytes: int
    shape_source: str = "onnx.shape_inference"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def int8_macs(self) -> int:
        return sum(layer.macs for layer in self.layers if layer.precision == "int8")

    @property
    def fp32_macs(self) -> int:
        return self.total_macs - self.int8_macs

    @property
    def total_flops(self) -> int:
        """Non-MAC operations (elementwise, reductions, pooling)."""
        return sum(layer.flops for layer in self.layers)

    @property
    def total_bytes(self) -> int:
        return sum(layer.bytes_moved for layer in self.layers)

    @property
    def pixels(self) -> int:
        """Spatial positions of the first input (its last two dims)."""
        shape = next(iter(self.input_shapes.values()))
        return int(np.prod(shape[-2:])) if len(shape) >= 2 else int(np.prod(shape))

    @property
    def macs_per_pixel(self) -> float:
        return self.total_macs / max(self.pixels, 1)

    @property
    def first_output_shape(self) -> tuple[int, ...]:
        return next(iter(self.output_shapes.values()))

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "output_shapes": {k: list(v) for k, v in self.output_shapes.items()},
            "total_macs": self.total_macs,
            "int8_macs": self.int8_macs,
            "fp32_macs": self.fp32_macs,
            "total_flops": self.total_flops,
            "total_bytes": self.total_bytes,
            "params": self.params,
            "param_bytes": self.param_bytes,
            "activation_peak_bytes": self.activation_peak_bytes,
            "macs_per_pixel": self.macs_per_pixel,
            "layers": len(self.layers),
            "shape_source": self.shape_source,
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        d = self.summary()
        d["per_layer"] = [layer.to_dict() for layer in self.layers]
        return d


# ---------------------------------------------------------------------------------------------------------
def _itemsize(elem_type: int) -> int:
    try:
        return int(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize)
    except (KeyError, TypeError, ValueError):
        return 4


def _dtype_name(elem_type: int) -> str:
    try:
        return {"float32": "fp32", "float16": "fp16", "float64": "fp64"}.get(
            np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name,
            np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name)
    except (KeyError, TypeError, ValueError):
        return "unknown"


def _load(model_or_path: onnx.ModelProto | str | os.PathLike) -> tuple[onnx.ModelProto, str]:
    if isinstance(model_or_path, onnx.ModelProto):
        return copy.deepcopy(model_or_path), model_or_path.graph.name or "<model>"
    return onnx.load(str(model_or_path)), str(model_or_path)


def _real_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in graph.initializer}
    return [i for i in graph.input if i.name not in inits]


def make_static(model: onnx.ModelProto,
                input_shape: Sequence[int] | Mapping[str, Sequence[int]] | None) -> dict[str, tuple[int, ...]]:
    """Set the dims of the model's (non-initializer) inputs in place; return name -> shape.

    ``input_shape`` is one shape for a single-input graph, or a mapping name -> shape. Inputs not given keep
    their static dims; a dynamic batch dim becomes 1; any other dynamic dim left is a ValueError.
    Intermediate ``value_info`` and output shapes are cleared so that inference recomputes them.
    """
    inputs = _real_inputs(model.graph)
    if not inputs:
        raise ValueError("the model has no inputs")
    if input_shape is None:
        given: dict[str, tuple[int, ...]] = {}
    elif isinstance(input_shape, Mapping):
        given = {k: tuple(int(d) for d in v) for k, v in input_shape.items()}
        unknown = set(given) - {i.name for i in inputs}
        if unknown:
            raise ValueError(f"no model input named {sorted(unknown)}; inputs: {[i.name for i in inputs]}")
    else:
        given = {inputs[0].name: tuple(int(d) for d in input_shape)}
    shapes: dict[str, tuple[int, ...]] = {}
    for inp in inputs:
        dims = inp.type.tensor_type.shape.dim
        if inp.name in given:
            shape = given[inp.name]
            if len(dims) and len(dims) != len(shape):
                raise ValueError(f"input {inp.name!r} has rank {len(dims)}, got shape {shape}")
        else:
            shape = []
            for k, d in enumerate(dims):
                if d.HasField("dim_value") and d.dim_value > 0:
                    shape.append(d.dim_value)
                elif k == 0:
                    shape.append(1)
                else:
                    raise ValueError(f"input {inp.name!r} has a dynamic dim {k}; give its shape")
            shape = tuple(shape)
        if any(s <= 0 for s in shape):
            raise ValueError(f"input {inp.name!r}: dims must be positive, got {shape}")
        inp.type.tensor_type.ClearField("shape")
        for s in shape:
            inp.type.tensor_type.shape.dim.add().dim_value = int(s)
        shapes[inp.name] = tuple(shape)
    del model.graph.value_info[:]
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    return shapes


def _shape_of(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _shapes_via_ort(model: onnx.ModelProto, input_shapes: Mapping[str, tuple[int, ...]],
                    elem_types: Mapping[str, int]) -> dict[str, tuple[tuple[int, ...], int]]:
    """Fallback: run ORT once on zeros with every node output exposed; return name -> (shape, elem_type)."""
    import onnxruntime as ort

    m = copy.deepcopy(model)
    existing = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for o in node.output:
            if o and o not in existing:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                existing.add(o)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {}
    for name, shape in input_shapes.items():
        np_dtype = helper.tensor_dtype_to_np_dtype(elem_types.get(name, onnx.TensorProto.FLOAT))
        feeds[name] = np.zeros(shape, dtype=np_dtype)
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(names, feeds)
    out = {}
    for n, v in zip(names, values):
        v = np.asarray(v)
        out[n] = (tuple(v.shape), helper.np_dtype_to_tensor_dtype(v.dtype))
    return out


def _toposort(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    order: list[onnx.NodeProto] = []
    while pending:
        progressed = False
        rest = []
        for node in pending:
            if all(i in available for i in node.input):
                order.append(node)
                available.update(node.output)
                progressed = True
            else:
                rest.append(node)
        if not progressed:  # inputs from outer scopes or a cycle: keep the file's order for the rest
            order.extend(rest)
            break
        pending = rest
    return order


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def analyze_onnx(model_or_path: onnx.ModelProto | str | os.PathLike,
                 input_shape: Sequence[int] | Mapping[str, Sequence[int]] | None = None) -> GraphCost:
    """Static cost of ``model_or_path`` with its input(s) set to ``input_shape`` (e.g. ``(1, 3, 512, 512)``)."""
    model, label = _load(model_or_path)
    graph = model.graph
    input_shapes = make_static(model, input_shape)
    notes: list[str] = []
    if any(a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS
           for n in graph.node for a in n.attribute):
        notes.append("subgraphs (If/Loop/Scan bodies) are not counted")

    inferred = shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    info: dict[str, tuple[tuple[int, ...] | None, int]] = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        info[vi.name] = (_shape_of(vi), vi.type.tensor_type.elem_type)
    inits = {t.name: t for t in graph.initializer}
    for name, t in inits.items():
        info[name] = (tuple(int(d) for d in t.dims), t.data_type)
    for node in graph.node:  # Constant nodes: their value's shape
        if node.op_type == "Constant":
            val = _attr(node, "value", None)
            if isinstance(val, onnx.TensorProto):
                info[node.output[0]] = (tuple(int(d) for d in val.dims), val.data_type)

    shape_source = "onnx.shape_inference"
    missing = [o for n in graph.node for o in n.output if o and (o not in info or info[o][0] is None)]
    if missing:
        elem_types = {i.name: i.type.tensor_type.elem_type for i in _real_inputs(graph)}
        got = _shapes_via_ort(model, input_shapes, elem_types)
        for name, (shape, et) in got.items():
            if name not in info or info[name][0] is None:
                info[name] = (shape, et)
        shape_source = f"onnx.shape_inference + onnxruntime for {len(missing)} tensor(s)"

    def shape(name: str) -> tuple[int, ...]:
        s = info.get(name, (None, 0))[0]
        if s is None:
            raise ValueError(f"{label}: shape of tensor {name!r} is unknown after inference")
        return s

    def nbytes(name: str) -> int:
        if not name or name not in info or info[name][0] is None:
            return 0
        s, et = info[name]
        return int(np.prod(s, dtype=np.int64)) * _itemsize(et)

    def numel(name: str) -> int:
        return int(np.prod(shape(name), dtype=np.int64)) if name else 0

    nodes = _toposort(graph)
    producer = {o: n for n in nodes for o in n.output if o}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            if i:
                consumers.setdefault(i, []).append(n)

    # constant propagation: tensors computed only from initializers / Constant nodes
    const: set[str] = set(inits)
    for n in nodes:
        ins = [i for i in n.input if i]
        if n.op_type == "Constant" or (ins and all(i in const for i in ins)):
            const.update(o for o in n.output if o)

    def dq_source(name: str) -> str | None:
        """If ``name`` is the output of a DequantizeLinear of an 8-bit tensor, that tensor's name."""
        p = producer.get(name)
        while p is not None and p.op_type == "Identity":
            p = producer.get(p.input[0])
        if p is None or p.op_type != _DQ:
            return None
        src = p.input[0]
        return src if info.get(src, (None, 0))[1] in _EIGHT_BIT else None

    def weight_input_index(node: onnx.NodeProto) -> int:
        return 3 if node.op_type in ("QLinearConv", "QLinearMatMul") else 1

    # decide precision of MAC layers and which Q/DQ nodes fuse into them
    int8_layers: set[int] = set()
    for n in nodes:
        if n.op_type in INT_MAC_OPS:
            int8_layers.add(id(n))
        elif n.op_type in MAC_OPS and len(n.input) >= 2:
            if dq_source(n.input[1]) is not None and dq_source(n.input[0]) is not None:
                int8_layers.add(id(n))

    def is_int8(n: onnx.NodeProto) -> bool:
        return id(n) in int8_layers

    fused: set[int] = set()
    for n in nodes:
        if n.op_type == _DQ and n.output[0] not in const:
            cons = consumers.get(n.output[0], [])
            if cons and all(is_int8(c) for c in cons):
                fused.add(id(n))
        elif n.op_type == _Q:
            p = producer.get(n.input[0])
            if p is not None and is_int8(p) and len(consumers.get(n.input[0], [])) == 1:
                fused.add(id(n))

    layers: list[LayerCost] = []
    for idx, n in enumerate(nodes):
        outs = [o for o in n.output if o]
        out_shapes = tuple(info[o][0] for o in outs if o in info and info[o][0] is not None)
        macs = 0
        flops = 0
        op = n.op_type
        if op in MAC_OPS:
            macs = _count_macs(n, shape, weight_input_index(n))
        elif op in ELEMENTWISE_OPS:
            flops = sum(numel(o) for o in outs[:1])
        elif op in REDUCE_OPS:
            flops = numel(n.input[0])
        elif op in POOL_OPS:
            k = _attr(n, "kernel_shape", [1])
            flops = numel(outs[0]) * int(np.prod(k))

        # bytes: weights are constant inputs, activations the rest
        w_idx = weight_input_index(n) if op in MAC_OPS else None
        b_in = b_w = 0
        params = 0
        for k, i in enumerate(n.input):
            if not i:
                continue
            src = i
            if is_int8(n):
                src = dq_source(i) or i
            size = nbytes(src)
            if i in const or src in const:
                b_w += size
                root = src if src in inits else (i if i in inits else None)
                if root is not None:
                    params += int(np.prod(inits[root].dims, dtype=np.int64))
                elif k == w_idx:
                    params += numel(src)
            else:
                b_in += size
        b_out = 0
        for o in outs:
            cons = consumers.get(o, [])
            if is_int8(n) and len(cons) == 1 and cons[0].op_type == _Q:
                b_out += nbytes(cons[0].output[0])
            else:
                b_out += nbytes(o)

        if outs and all(o in const for o in outs):
            role = "constant"
        elif id(n) in fused:
            role = "fused"
        elif op in VIEW_OPS:
            role = "view"
        else:
            role = "compute"
        if op in MAC_OPS:
            precision = "int8" if is_int8(n) else "fp32"
        else:
            precision = _dtype_name(info[outs[0]][1]) if outs and outs[0] in info else "unknown"
        layers.append(LayerCost(
            name=n.name or f"{op}_{idx}", op_type=op, role=role, precision=precision, macs=int(macs),
            flops=int(flops), bytes_in=int(b_in), bytes_weights=int(b_w), bytes_out=int(b_out),
            params=int(params), output_shapes=out_shapes))

    params_total = sum(int(np.prod(t.dims, dtype=np.int64)) for t in inits.values())
    param_bytes = sum(nbytes(name) for name in inits)
    peak = _activation_peak(graph, nodes, const, nbytes)
    output_shapes = {o.name: shape(o.name) for o in graph.output}
    return GraphCost(model=label, input_shapes=input_shapes, output_shapes=output_shapes, layers=tuple(layers),
                     params=params_total, param_bytes=param_bytes, activation_peak_bytes=peak,
                     shape_source=shape_source, notes=tuple(notes))


def _count_macs(n: onnx.NodeProto, shape, w_idx: int) -> int:
    op = n.op_type
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        w = shape(n.input[w_idx])
        y = shape(n.output[0])
        # y: (N, M, *out); w: (M, C/group, *k)
        return int(np.prod(y, dtype=np.int64)) * int(w[1]) * int(np.prod(w[2:], dtype=np.int64))
    if op == "ConvTranspose":
        x = shape(n.input[0])
        w = shape(n.input[1])
        # x: (N, C, *in); w: (C, M/group, *k): every input element meets M/group x prod(k) weights
        return int(np.prod(x, dtype=np.int64)) * int(w[1]) * int(np.prod(w[2:], dtype=np.int64))
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        a = shape(n.input[0])
        y = shape(n.output[0])
        k = a[-1] if len(a) >= 1 else 1
        return int(np.prod(y, dtype=np.int64)) * int(k)
    if op == "Gemm":
        a = shape(n.input[0])
        y = shape(n.output[0])
        k = a[0] if int(_attr(n, "transA", 0)) else a[1]
        return int(np.prod(y, dtype=np.int64)) * int(k)
    return 0


def _activation_peak(graph: onnx.GraphProto, nodes: list[onnx.NodeProto], const: set[str], nbytes) -> int:
    """Largest sum of live activation tensor sizes over the topologically ordered steps."""
    last_use: dict[str, int] = {}
    born: dict[str, int] = {}
    for inp in _real_inputs(graph):
        born[inp.name] = -1
    for step, n in enumerate(nodes):
        for i in n.input:
            if i and i not in const:
                last_use[i] = step
        for o in n.output:
            if o and o not in const:
                born[o] = step
    end = len(nodes)
    for o in graph.output:
        last_use[o.name] = end
    peak = 0
    # sweep: +size at birth, -size after last use
    events: dict[int, int] = {}
    for name, b in born.items():
        size = nbytes(name)
        if size == 0:
            continue
        d = last_use.get(name, b)  # a tensor nobody reads dies at its birth step
        events[b] = events.get(b, 0) + size
        events[d + 1] = events.get(d + 1, 0) - size
    live = 0
    for step in sorted(events):
        live += events[step]
        peak = max(peak, live)
    return int(peak)

