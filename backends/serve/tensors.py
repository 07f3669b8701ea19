"""The tensor codec of the Open Inference Protocol (KServe v2) over REST, with the binary tensor data extension.

A request body is JSON, or JSON followed by raw tensor bytes when the `Inference-Header-Content-Length`
header gives the JSON part's length. An input carries its values either as `data` (a flat, row-major JSON
list) or as `parameters.binary_data_size` bytes taken, in input order, from the bytes after the JSON.
Outputs come back as JSON `data`, or as raw bytes when asked for (`binary_data_output` on the request,
`binary_data` on an output), in which case the response carries the same header.

JSON has no NaN or infinities, and the v2 protocol says nothing of them. Left to orjson they would become
`null`, which Triton's client reads back as NaN: an overflow to +inf would arrive as NaN, silently. They are
written as the strings "NaN", "Infinity" and "-Infinity" instead, as protobuf's JSON mapping writes float
fields (the v2 gRPC messages are protobuf), which keeps the response valid JSON, tells the three apart, and
reads back right through NumPy (`np.array(data, dtype=np.float32)`, as Triton's client does). Float
inputs take the same three strings, and the bare NaN, Infinity and -Infinity that Triton's client writes
(not JSON; read by the standard library's parser when orjson refuses them). Binary tensors carry them as
they are.

Everything here is checked against the model's signature before a request is queued, so a bad request is
answered 400 on its own and never reaches the runtime, where it could fail the requests batched with it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

# v2 datatype names <-> NumPy dtypes (BYTES and BF16 have no plain NumPy counterpart and are not served)
V2_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}

# ONNX Runtime's type strings -> v2 datatype names
ORT_TO_V2: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
}

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
NONFINITE_NAMES = ("NaN", "Infinity", "-Infinity")  # how JSON data carries float values JSON has no number for
_EMPTY = memoryview(b"")


class BadRequest(Exception):
    """A request the model cannot take; answered 400 with the v2 error body."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One model input or output: v2 datatype and shape, -1 for a dynamic dimension (the batch included)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    dtype: np.dtype = field(init=False, repr=False, compare=False)
    fixed: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)  # (axis, size) of static dims

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", V2_DTYPES[self.datatype])
        object.__setattr__(self, "fixed", tuple((axis, d) for axis, d in enumerate(self.shape) if d != -1))

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes and returns; `batched` when every input and output leads with a dynamic batch dim."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batched: bool
    input_index: dict[str, tuple[int, TensorSpec]] = field(init=False, repr=False, compare=False)
    output_index: dict[str, int] = field(init=False, repr=False, compare=False)
    all_outputs: list[tuple[int, bool]] = field(init=False, repr=False, compare=False)  # every output, as JSON

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_index", {spec.name: (i, spec) for i, spec in enumerate(self.inputs)})
        object.__setattr__(self, "output_index", {spec.name: i for i, spec in enumerate(self.outputs)})
        object.__setattr__(self, "all_outputs", [(i, False) for i in range(len(self.outputs))])


@dataclass(slots=True)
class InferRequest:
    """A decoded, validated request: inputs in the model's order and the outputs wanted (name, as binary)."""

    id: str | None
    inputs: list[np.ndarray]
    outputs: list[tuple[int, bool]]  # (index into the model's outputs, send as binary)
    rows: int  # the batch dimension's size (1 for a model without one)
    key: tuple  # the non-batch dims of every input: only requests with equal keys are batched together


def _error(message: str) -> BadRequest:
    return BadRequest(message)


def _parameters(obj: dict, where: str) -> dict:
    parameters = obj.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise _error(f"{where}: 'parameters' must be a JSON object")
    return parameters


def _shape(tensor: dict, spec: TensorSpec, batched: bool) -> tuple[int, ...]:
    shape = tensor.get("shape")
    if type(shape) is not list:
        raise _error(f"input '{spec.name}': 'shape' must be a list of non-negative integers")
    for d in shape:
        if type(d) is not int or d < 0:
            raise _error(f"input '{spec.name}': 'shape' must be a list of non-negative integers")
    if len(shape) != len(spec.shape) or any(shape[axis] != size for axis, size in spec.fixed):
        raise _error(f"input '{spec.name}': shape {shape} does not match the model's {list(spec.shape)}")
    if batched and shape[0] == 0:
        raise _error(f"input '{spec.name}': the batch dimension must be at least 1")
    return tuple(shape)


def _json_values(tensor: dict, spec: TensorSpec, shape: tuple[int, ...], count: int) -> np.ndarray:
    data = tensor.get("data")
    if type(data) is not list:
        raise _error(f"input '{spec.name}': 'data' must be a list (or use binary_data_size)")
    try:
        array = np.array(data, dtype=spec.dtype)
    except (TypeError, ValueError, OverflowError):
        raise _error(f"input '{spec.name}': 'data' must hold only {spec.datatype} values") from None
    first = data[0] if data else None
    if (type(first) is str and not (first in NONFINITE_NAMES and array.dtype.kind == "f")) or (
        type(first) is bool and array.dtype.kind != "b"
    ):
        raise _error(f"input '{spec.name}': 'data' must hold only {spec.datatype} values")
    if array.size != count or (array.ndim != 1 and array.ndim != len(shape)):
        raise _error(f"input '{spec.name}': 'data' has {array.size} values, shape {list(shape)} needs {count}")
    return array.reshape(shape)


def _binary_values(spec: TensorSpec, shape: tuple[int, ...], count: int, raw: memoryview) -> np.ndarray:
    if len(raw) != count * spec.dtype.itemsize:
        raise _error(
            f"input '{spec.name}': binary_data_size is {len(raw)} bytes, "
            f"shape {list(shape)} of {spec.datatype} needs {count * spec.dtype.itemsize}"
        )
    array = np.frombuffer(raw, dtype=spec.dtype).reshape(shape)
    return array if array.flags.aligned else array.copy()


def parse_header_length(value: bytes | None, body_length: int) -> int | None:
    """The `Inference-Header-Content-Length` header as a JSON length within the body, None when absent."""
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise _error("Inference-Header-Content-Length must be an integer") from None
    if not 0 < length <= body_length:
        raise _error(f"Inference-Header-Content-Length {length} is outside the body's {body_length} bytes")
    return length


def _loads_nonfinite(head, error: orjson.JSONDecodeError) -> Any:
    """JSON that orjson refused, read again by the standard library where it may hold the bare NaN, Infinity
    and -Infinity that Triton's client writes for non-finite inputs (and Triton reads); else malformed."""
    text = bytes(head)
    if b"NaN" in text or b"Infinity" in text:
        try:
            return json.loads(text)
        except ValueError:
            pass
        except RecursionError:  # orjson's own limit is 1024 levels; the standard library's is the stack's
            raise _error("malformed JSON: nested too deep") from None
    raise _error(f"malformed JSON: {error}") from None


def _is_text(value: object) -> bool:
    """A str that can be written back as UTF-8: the standard library's JSON reader lets a lone surrogate in."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def decode_request(body: bytes, header_length: int | None, signature: Signature) -> InferRequest:
    """Parse and check one inference request against the model's signature; raises BadRequest."""
    head = body if header_length is None else memoryview(body)[:header_length]
    try:
        request = orjson.loads(head)
    except orjson.JSONDecodeError as e:
        request = _loads_nonfinite(head, e)
    if type(request) is not dict:
        raise _error("the request must be a JSON object")
    tensors = request.get("inputs")
    if type(tensors) is not list or not tensors:
        raise _error("'inputs' must be a non-empty list")
    request_id = request.get("id")
    if request_id is not None and not _is_text(request_id):
        raise _error("'id' must be a string of valid Unicode (it is echoed in the answer)")

    specs = signature.input_index
    arrays: list[np.ndarray | None] = [None] * len(signature.inputs)
    raw = memoryview(body)[header_length:] if header_length is not None else _EMPTY
    offset = 0
    for tensor in tensors:
        if type(tensor) is not dict:
            raise _error("each input must be a JSON object")
        name = tensor.get("name")
        found = specs.get(name) if type(name) is str else None
        if found is None:
            known = ", ".join(repr(s.name) for s in signature.inputs)
            raise _error(f"unknown input {name!r}; the model's inputs are {known}")
        index, spec = found
        if arrays[index] is not None:
            raise _error(f"input '{name}' is given twice")
        if tensor.get("datatype") != spec.datatype:
            raise _error(
                f"input '{name}': datatype {tensor.get('datatype')!r} does not match the model's {spec.datatype}"
            )
        shape = _shape(tensor, spec, signature.batched)
        count = math.prod(shape)
        parameters = tensor.get("parameters")
        size = None if parameters is None else _parameters(tensor, f"input '{name}'").get("binary_data_size")
        if size is None:
            arrays[index] = _json_values(tensor, spec, shape, count)
            continue
        if type(size) is not int or size < 0:
            raise _error(f"input '{name}': binary_data_size must be a non-negative integer")
        if offset + size > len(raw):
            raise _error(f"input '{name}': binary_data_size {size} runs past the end of the body")
        arrays[index] = _binary_values(spec, shape, count, raw[offset : offset + size])
        offset += size
    if offset != len(raw):
        raise _error(f"{len(raw) - offset} bytes of binary data after the JSON belong to no input")
    if any(array is None for array in arrays):
        missing = [spec.name for spec, array in zip(signature.inputs, arrays, strict=True) if array is None]
        raise _error(f"missing input(s): {', '.join(missing)}")

    rows = 1
    key: tuple = tuple(array.shape for array in arrays)
    if signature.batched:
        rows = arrays[0].shape[0]
        if any(array.shape[0] != rows for array in arrays):
            raise _error("all inputs must have the same batch size (first dimension)")
        key = tuple(array.shape[1:] for array in arrays)
    return InferRequest(request_id, arrays, _wanted_outputs(request, signature), rows, key)


def _wanted_outputs(request: dict, signature: Signature) -> list[tuple[int, bool]]:
    if "parameters" not in request and "outputs" not in request:
        return signature.all_outputs
    binary_default = _parameters(request, "request").get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise _error("'binary_data_output' must be true or false")
    wanted = request.get("outputs")
    if wanted is None:
        return [(index, binary_default) for index in range(len(signature.outputs))]
    if not isinstance(wanted, list):
        raise _error("'outputs' must be a list")
    indices = signature.output_index
    result = []
    for output in wanted:
        name = output.get("name") if isinstance(output, dict) else None
        if name not in indices:
            known = ", ".join(repr(s.name) for s in signature.outputs)
            raise _error(f"unknown output {name!r}; the model's outputs are {known}")
        parameters = _parameters(output, f"output '{name}'")
        if "classification" in parameters:
            raise _error("the classification extension is not supported")
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise _error(f"output '{name}': 'binary_data' must be true or false")
        result.append((indices[name], binary))
    return result


def _json_data(flat: np.ndarray) -> np.ndarray | list:
    """The values as orjson should write them: the array itself, or a list naming its non-finite values."""
    if flat.dtype.kind != "f":
        return flat
    finite = np.isfinite(flat)
    if finite.all():
        return flat
    values: list = list(flat)  # NumPy scalars, which orjson writes as it writes the array
    for index in np.flatnonzero(~finite):
        value = flat[index]
        values[index] = NONFINITE_NAMES[0] if np.isnan(value) else NONFINITE_NAMES[1 if value > 0 else 2]
    return values


def encode_response(
    model_name: str, request: InferRequest, signature: Signature, results: list[np.ndarray]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when binary outputs follow it (else None)."""
    outputs = []
    blobs = []
    for index, binary in request.outputs:
        spec = signature.outputs[index]
        array = np.ascontiguousarray(results[index])
        entry: dict[str, Any] = {"name": spec.name, "datatype": spec.datatype, "shape": list(array.shape)}
        if binary:
            blob = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(array.reshape(-1))
        outputs.append(entry)
    response: dict[str, Any] = {"model_name": model_name, "model_version": "1", "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    head = orjson.dumps(response, option=_JSON_OPTIONS)
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})
