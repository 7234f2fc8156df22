"""ONNX's messages as the onnx package defines them, loaded without the rest of the package.

``import onnx`` costs about 190 ms here: its helpers, its C++ checker and numpy. Reading a
model needs only its protobuf messages, onnx's own generated module ``onnx_ml_pb2`` (about 40
ms with protobuf), so that is what the reader loads; the package itself is imported only for
what it alone does: shape inference, and a tensor of a type numpy has no dtype for. The
messages are the package's own classes (protobuf keeps one class a message type), so a model
parsed here passes to ``onnx.shape_inference`` as one that ``onnx.load`` made.

Values are decoded as ``onnx.numpy_helper.to_array`` decodes them, for the types numpy holds
(the tests compare the two on every type); a tensor stored outside the file is never read.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from convcalc.errors import ConvcalcError, InputError

MISSING = 'reading ONNX needs the onnx package: pip install "convcalc[onnx]"'


@functools.cache
def messages() -> Any:
    """onnx's generated message module (``ModelProto``, ``TensorProto``...), loaded from the
    installed package under a private name; the package itself where that file is not found."""
    spec = importlib.util.find_spec("onnx")
    if spec is None:  # one line, no usage banner: the command line is fine
        raise InputError(MISSING)
    for folder in spec.submodule_search_locations or ():
        try:
            found = importlib.util.spec_from_file_location(
                "convcalc._onnx_ml_pb2", f"{folder}/onnx_ml_pb2.py"
            )
            if found is None or found.loader is None:
                continue
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
            if hasattr(module, "ModelProto"):
                return module
        except Exception:  # noqa: BLE001,S112 - another layout of the package: import it whole
            continue
    return package()


def package() -> Any:
    """The onnx package, imported (shape inference, rare tensor types)."""
    try:
        import onnx
    except ImportError:
        raise InputError(MISSING) from None
    return onnx


def parse_model(data: bytes) -> Any:
    """A ModelProto from a file's bytes, as ``onnx.load_model_from_string`` parses it."""
    model = messages().ModelProto()
    decoded = model.ParseFromString(data)
    if decoded is not None and decoded != len(data):
        raise ValueError(f"protobuf decoding consumed {decoded} of {len(data)} bytes")
    return model


# AttributeProto.AttributeType -> the field holding its value, and whether it is repeated
_ATTRIBUTE_FIELDS = {
    1: ("f", False),  # FLOAT
    2: ("i", False),  # INT
    3: ("s", False),  # STRING
    4: ("t", False),  # TENSOR
    5: ("g", False),  # GRAPH
    11: ("sparse_tensor", False),
    13: ("tp", False),  # TYPE_PROTO
    6: ("floats", True),
    7: ("ints", True),
    8: ("strings", True),
    9: ("tensors", True),
    10: ("graphs", True),
    12: ("sparse_tensors", True),
    14: ("type_protos", True),
}


def attribute_value(attr: Any) -> Any:
    """An attribute's value, as ``onnx.helper.get_attribute_value`` gives it."""
    if attr.ref_attr_name:
        raise ValueError(f"attribute {attr.name!r} refers to a function's attribute")
    if attr.type == 0:  # UNDEFINED
        return None
    if attr.type not in _ATTRIBUTE_FIELDS:
        raise ValueError(f"attribute {attr.name!r} has an unknown type {attr.type}")
    field, repeated = _ATTRIBUTE_FIELDS[attr.type]
    value = getattr(attr, field)
    return list(value) if repeated else value


# TensorProto.DataType -> numpy's dtype (little-endian, as ONNX stores raw data) and the typed
# field that holds values outside raw_data, for the types numpy has; the others go to onnx
_NUMPY_TYPES = {
    1: ("<f4", "float_data"),  # FLOAT
    2: ("u1", "int32_data"),  # UINT8
    3: ("i1", "int32_data"),  # INT8
    4: ("<u2", "int32_data"),  # UINT16
    5: ("<i2", "int32_data"),  # INT16
    6: ("<i4", "int32_data"),  # INT32
    7: ("<i8", "int64_data"),  # INT64
    9: ("?", "int32_data"),  # BOOL
    10: ("<f2", "int32_data"),  # FLOAT16 (its bits in int32_data)
    11: ("<f8", "double_data"),  # DOUBLE
    12: ("<u4", "uint64_data"),  # UINT32
    13: ("<u8", "uint64_data"),  # UINT64
}
_FIELD_TYPES = {
    "float_data": "float32",
    "double_data": "float64",
    "int32_data": "int32",
    "int64_data": "int64",
    "uint64_data": "uint64",
}
_BITS_IN_INT32 = frozenset({4, 5, 9, 10})  # UINT16, INT16, BOOL, FLOAT16: bits, then viewed


def numpy_dtype(data_type: int) -> Any:
    """numpy's dtype of a TensorProto data type (``helper.tensor_dtype_to_np_dtype``)."""
    import numpy as np

    if data_type in _NUMPY_TYPES:
        return np.dtype(_NUMPY_TYPES[data_type][0]).newbyteorder("=")
    return package().helper.tensor_dtype_to_np_dtype(data_type)


def to_array(tensor: Any) -> Any:
    """A tensor's values as a numpy array (``numpy_helper.to_array``); never from outside the
    file."""
    import numpy as np

    if tensor.data_location == 1 or len(tensor.external_data) > 0:
        raise ConvcalcError(
            f"tensor {tensor.name!r} is stored outside the file; convcalc reads no other file"
        )
    if tensor.HasField("segment"):
        raise ValueError(f"tensor {tensor.name!r} is a segment")
    if tensor.data_type not in _NUMPY_TYPES:
        return package().numpy_helper.to_array(tensor)
    stored, field = _NUMPY_TYPES[tensor.data_type]
    dims = tuple(tensor.dims)
    native = np.dtype(stored).newbyteorder("=")
    if tensor.HasField("raw_data"):
        values = np.frombuffer(tensor.raw_data, dtype=stored)
        return values.astype(native, copy=False).reshape(dims)
    data = getattr(tensor, field)
    if tensor.data_type in _BITS_IN_INT32:
        bits = np.array(data, dtype=np.int32).view(np.uint32)
        narrow = bits.astype(np.uint8 if native.itemsize == 1 else np.uint16)
        return narrow.reshape(dims).view(native)
    return np.asarray(data, dtype=_FIELD_TYPES[field]).astype(native).reshape(dims)
