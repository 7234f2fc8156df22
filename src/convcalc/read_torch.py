"""PyTorch's ``print(model)`` text as a network spec: the modules in printed order, nested
``Sequential``/``ModuleList`` containers flattened, each leaf module's arguments read from its
repr (``Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)``). Names
are the module paths (``layer1.0.conv1``), as ``model.named_modules()`` gives them.

A repr cannot show a forward: a container that is not a plain sequence (a ResNet
``BasicBlock``, whose forward adds its input) is listed by name in ``NetworkSpec.unclear``, and
the network is not run as a chain (``--format toml`` still writes it, to edit the ``from`` keys).
The one forward step assumed is ``torch.flatten(x, 1)`` before a ``Linear`` that follows spatial
layers (VGG, AlexNet, ResNet heads), and it is said in a note. Standard library only.
"""

from __future__ import annotations

import ast
import copy
import re
from typing import TYPE_CHECKING, Any

from convcalc.boundary import MAX_LAYERS, check_layer_count, check_nesting, display, guarded
from convcalc.errors import InputError, MalformedInputError
from convcalc.families import FAMILIES, by_torch_class
from convcalc.netspec import ModuleParams
from convcalc.torchparams import HIDDEN, hidden_params, own_params

_MAX_ARGUMENTS = 4096  # characters of one module's printed arguments

if TYPE_CHECKING:
    from convcalc.netspec import NetworkSpec

# Containers whose forward runs their children in order (Sequential and its subclasses).
PLAIN = {
    "Sequential",
    "Mlp",  # timm: fc1, act, drop1, norm, fc2, drop2 in order
    "ModuleList",
    "Conv2dNormActivation",
    "Conv3dNormActivation",
    "ConvNormActivation",
    "ConvBNActivation",
    "ConvBNReLU",
    "_Transition",
}
_POINTWISE = {
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "ELU",
    "SELU",
    "Sigmoid",
    "Tanh",
    "Hardswish",
    "Hardsigmoid",
    "Hardtanh",
    "Mish",
    "Identity",
    "Softmax",
    "LogSoftmax",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
}
_LINE = re.compile(
    r"^(?P<indent>\s*)(?:\((?P<name>[^)]*)\):\s*)?(?:(?P<count>\d+) x )?(?P<cls>[A-Za-z_][\w.]*)"
    r"\((?P<rest>.*)$"
)


class _Module:
    def __init__(self, name: str, cls: str, args: str | None) -> None:
        self.name = name
        self.cls = cls
        self.args = args  # None for a container
        self.settings: str | None = None  # a container's own arguments, printed on a line
        self.children: list[_Module] = []


def read_torch_repr(text: str, source: str) -> NetworkSpec:
    """The NetworkSpec of a printed model (see the module docstring)."""
    from convcalc.netspec import NetworkSpec

    check_nesting(text, source)
    root = _parse(text, source)
    check_layer_count(_expanded(root, {}), source)  # counted before anything is expanded
    layers: list[dict[str, Any]] = []
    unclear: list[str] = []
    comments: list[tuple[int, str]] = []
    notes: list[str] = [f"read from the printed PyTorch model {root.cls}"]
    state = {"spatial": False}
    parsed: dict[tuple[str, str], list[dict[str, Any]] | None] = {}  # a leaf's layers by text

    rows: list[ModuleParams] = []
    opaque: list[str] = []
    counted: dict[tuple[str, str], int | None] = {}  # a module's own parameters by its text

    def own(cls: str, text: str, where: str) -> int | None:
        key = (cls, text)
        if key not in counted:
            try:
                counted[key] = own_params(cls, _arguments(text, where))
            except (KeyError, TypeError, ValueError):
                counted[key] = None  # arguments this class does not print as expected
        return counted[key]

    def emit(module: _Module, text: str, path: str) -> None:
        """The layer(s) of a module with arguments (a leaf, or BatchNormAct2d's own op)."""
        key = (module.cls, text)
        known = parsed.get(key)
        if key not in parsed:
            with guarded(source, lambda: f"module {path or module.cls}"):
                made = _leaf(_Module(module.name, module.cls, text), path)
            known = parsed[key] = copy.deepcopy(made)
        if known is None:
            opaque.append(f"{path or module.cls} ({module.cls})")
            comments.append(
                (len(layers), f"{path or module.cls} ({module.cls}): a module net does not run")
            )
            return
        for each in copy.deepcopy(known):
            if each["layer"] == "linear" and state["spatial"]:
                flatten = f"{path}.flatten"
                layers.append({"name": flatten, "layer": "flatten"})
                notes.append(
                    f"torch.flatten(x, 1) assumed before {path!r} (not in a printed model)"
                )
            kind = re.sub(r"\d+d$", "", each["layer"])
            if kind in {k.value for k in FAMILIES}:  # a window op: the tensor is spatial
                state["spatial"] = True
            elif kind in ("linear", "flatten"):
                state["spatial"] = False
            name = path or module.cls.lower()
            layers.append({"name": name if len(known) == 1 else f"{name}.{each['layer']}", **each})

    def walk(module: _Module, path: str, top: bool) -> None:
        cls = module.cls.rsplit(".", 1)[-1]
        where = f"module {path or cls} ({cls})"
        if module.args is None:
            if module.settings is not None:  # its own op first, then its children in order
                rows.append(ModuleParams(path or cls, cls, own(cls, module.settings, where)))
                emit(module, module.settings, path)
            else:
                if not top:
                    hidden: int | None = 0
                    if cls in HIDDEN:
                        hidden = hidden_params(cls, lambda sub: _find(module, sub, where))
                    rows.append(ModuleParams(path, cls, hidden))
                if not top and module.cls not in PLAIN:
                    unclear.append(f"{path} ({module.cls})")
                    comments.append(
                        (
                            len(layers),
                            f"{path} ({module.cls}) starts here; its forward is not printed: a "
                            'residual block adds its input (a layer = "add" with from = [its '
                            "last layer, its input or downsample])",
                        )
                    )
            for child in module.children:
                walk(child, f"{path}.{child.name}" if path else child.name, False)
            return
        rows.append(ModuleParams(path or cls, cls, own(cls, module.args, where)))
        emit(module, module.args, path)

    walk(root, "", True)
    if not layers and not rows:
        raise MalformedInputError(f"spec: {source}: no layers in the printed model")
    if unclear:
        notes.append(
            "not plain sequences (their forward is not printed): "
            + ", ".join(unclear)
            + "; edit the `from` keys (and add add/cat layers) to match their forward"
        )
    return NetworkSpec(
        None,
        layers,
        None,
        source,
        notes=tuple(notes),
        input_hint="a printed model does not say its input size",
        comments=tuple(comments),
        unclear=tuple(unclear),
        modules=tuple(rows),
        opaque=tuple(opaque),
    )


def _parse(text: str, source: str) -> _Module:
    """Lines into a module tree: ``(name): Class(args)`` leaves, ``(name): Class(`` ... ``)``
    containers, ``(0-2): 3 x Class(`` repeats."""
    stack: list[_Module] = []
    root: _Module | None = None
    made = 0  # modules made so far, repeats included
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.strip() == ")":
            if not stack:
                raise MalformedInputError(f"spec: {source}: line {number}: a ')' closes nothing")
            done = stack.pop()
            if not stack:
                root = done
            continue
        match = _LINE.match(line)
        top = stack[-1] if stack else None
        if not match and top is not None and not top.children and top.settings is None:
            # BatchNormAct2d prints its own arguments on a line of their own, then its children
            if _readable(line.strip()):
                top.settings = line.strip()
                continue
        if not match:
            raise MalformedInputError(
                f"spec: {source}: line {number}: {line.strip()!r} is not a module line of a "
                "printed PyTorch model (`(name): Conv2d(...)`)"
            )
        name, cls, rest = match.group("name") or "", match.group("cls"), match.group("rest")
        count_text = match.group("count") or "1"
        if len(count_text) > 7 or not 1 <= int(count_text) <= MAX_LAYERS:
            raise InputError(
                f"spec: {display(source)}: line {number}: a repeat of {count_text[:20]} modules; "
                f"a printed model repeats 1 to {MAX_LAYERS:,} (see Limits in the README)"
            )
        names = _repeat_names(name, int(count_text))
        made += len(names)
        if made > MAX_LAYERS:
            raise InputError(
                f"spec: {display(source)}: over {MAX_LAYERS:,} modules; convcalc reads at most "
                f"{MAX_LAYERS:,} (see Limits in the README)"
            )
        if rest == "":  # a container opens
            module = _Module(names[0], cls, None)
            if stack:
                stack[-1].children.append(module)
                for extra in names[1:]:
                    stack[-1].children.append(_Copy(module, extra))
            elif root is not None:
                raise MalformedInputError(f"spec: {source}: line {number}: a second model")
            stack.append(module)
            continue
        if not rest.endswith(")") or rest.count("(") + 1 != rest.count(")"):
            raise MalformedInputError(f"spec: {source}: line {number}: {line.strip()!r} is cut")
        leaf_args = rest[:-1]
        if not stack:  # a single leaf module printed alone
            root = _Module("", "Sequential", None)
            root.children.append(_Module(names[0] or "0", cls, leaf_args))
            continue
        for each in names:
            stack[-1].children.append(_Module(each, cls, leaf_args))
    if stack:
        raise MalformedInputError(f"spec: {source}: the printed model ends before its last ')'")
    if root is None:
        raise MalformedInputError(f"spec: {source}: no printed model")
    return root


def _expanded(module: _Module, seen: dict[int, int]) -> int:
    """How many leaf modules the tree holds once every repeat is expanded (a repeated container
    counts its children once per copy), without expanding anything."""
    original = module.original if isinstance(module, _Copy) else module
    key = id(original)
    if key not in seen:
        if original.args is not None:
            seen[key] = 1
        else:
            seen[key] = 0  # a cycle cannot be printed; this only guards the recursion
            seen[key] = sum(_expanded(child, seen) for child in original.children)
            if seen[key] > MAX_LAYERS:
                return seen[key]
    return seen[key]


def _repeat_names(name: str, count: int) -> list[str]:
    match = re.fullmatch(r"(\d+)-(\d+)", name)
    if match and count > 1:
        first = int(match.group(1))
        return [str(first + i) for i in range(count)]
    return [name] if count == 1 else [f"{name}.{i}" for i in range(count)]


class _Copy(_Module):
    """A repeated container (``(1-3): 3 x Block(``): the same children under another name."""

    def __init__(self, original: _Module, name: str) -> None:
        super().__init__(name, original.cls, None)
        self.original = original

    @property
    def children(self) -> list[_Module]:
        return self.original.children

    @children.setter
    def children(self, value: list[_Module]) -> None:
        pass

    @property
    def settings(self) -> str | None:
        return self.original.settings

    @settings.setter
    def settings(self, value: str | None) -> None:
        pass


def _arguments(text: str, where: str) -> tuple[list[Any], dict[str, Any]]:
    """A repr's arguments as Python values; bare words (``padding=same``, ``mode=nearest``) as
    strings."""
    if len(text) > _MAX_ARGUMENTS:
        raise InputError(
            f"{where}: {len(text):,} characters of arguments; at most {_MAX_ARGUMENTS:,}"
        )
    check_nesting(text, where, 20)
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise InputError(f"{where}: cannot read the arguments {display(repr(text))[:80]}") from None
    assert isinstance(call, ast.Call)

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return node.id
        try:
            return ast.literal_eval(node)
        except ValueError:
            return ast.unparse(node)

    return [value(a) for a in call.args], {k.arg: value(k.value) for k in call.keywords if k.arg}


def _readable(text: str) -> bool:
    """Whether a line is a module's arguments (``32, eps=1e-05, affine=True``)."""
    if not re.match(r"[-\d(\[]|\w+=", text):
        return False
    try:
        _arguments(text, "arguments")
    except InputError:
        return False
    return True


def _find(module: _Module, path: str, where: str) -> tuple[list[Any], dict[str, Any]] | None:
    """The printed arguments of the module at ``path`` (``block.0``) under a container."""
    for part in path.split("."):
        found = next((c for c in module.children if c.name == part), None)
        if found is None:
            return None
        module = found
    text = module.args if module.args is not None else module.settings
    if text is None:
        return None
    try:
        return _arguments(text, where)
    except InputError:
        return None


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _leaf(module: _Module, path: str) -> list[dict[str, Any]] | None:
    """The layers of a module with arguments, or None for a class net does not run."""
    cls = module.cls.rsplit(".", 1)[-1]
    if cls == "SelectAdaptivePool2d":  # timm: a global pool, flattened when asked
        _, keywords = _arguments(module.args or "", f"module {path or cls} ({cls})")
        kind = {"avg": "adaptiveavgpool2d", "max": "adaptivemaxpool2d", "": None}.get(
            str(keywords.get("pool_type", "avg"))
        )
        if kind is None and keywords.get("pool_type") not in ("", None):
            return None
        flatten = str(keywords.get("flatten", "")).startswith("Flatten(")
        layers = [{"layer": kind, "output_size": 1}] if kind else []
        return layers + ([{"layer": "flatten"}] if flatten else []) or [{"layer": "identity"}]
    single = _single(module, path, cls)
    return None if single is None else [single]


def _single(module: _Module, path: str, cls: str) -> dict[str, Any] | None:
    where = f"module {path or cls} ({cls})"
    args, kwargs = _arguments(module.args or "", where)
    found = by_torch_class(cls)
    if found is not None:
        op, n = found
        values = dict(zip(op.printed_positional, args)) | kwargs
        layer: dict[str, Any] = {"layer": f"{op.kind.value}{n}d"}
        for key, val in values.items():
            if key not in op.printed_ignored:
                layer[key] = _listed(val)
        return layer
    match = re.fullmatch(r"BatchNorm([123])d|BatchNormAct(2)d", cls)
    if match:
        values = dict(zip(["num_features"], args)) | kwargs
        layer = {"layer": f"batchnorm{match.group(1) or match.group(2)}d"}
        for key, val in values.items():
            if key in ("num_features", "affine", "track_running_stats", "bias"):
                layer[key] = _listed(val)
        return layer
    if cls in ("LayerNorm", "LayerNorm2d"):
        values = dict(zip(["normalized_shape"], args)) | kwargs
        shape = values.get("normalized_shape")
        shape = list(shape) if isinstance(shape, (tuple, list)) else [shape]
        table: dict[str, Any] = {
            "layer": cls.lower(),
            "elementwise_affine": bool(values.get("elementwise_affine", True)),
            "bias": bool(values.get("bias", True)),
        }
        table["normalized_shape" if cls == "LayerNorm" else "num_channels"] = shape
        return table
    if cls == "GroupNorm":
        values = dict(zip(["num_groups", "num_channels"], args)) | kwargs
        return {
            "layer": "groupnorm",
            "num_groups": values.get("num_groups"),
            "num_channels": values.get("num_channels"),
            "affine": bool(values.get("affine", True)),
        }
    match = re.fullmatch(r"InstanceNorm([123])d", cls)
    if match:
        values = dict(zip(["num_features"], args)) | kwargs
        table = {"layer": f"instancenorm{match.group(1)}d", "affine": bool(values.get("affine"))}
        if values.get("num_features") is not None:
            table["num_features"] = values["num_features"]
        return table
    if cls == "Linear":
        values = dict(zip(["in_features", "out_features"], args)) | kwargs
        return {
            "layer": "linear",
            **{k: values[k] for k in ("in_features", "out_features", "bias") if k in values},
        }
    if cls in ("PixelShuffle", "PixelUnshuffle"):
        key = "upscale_factor" if cls == "PixelShuffle" else "downscale_factor"
        values = dict(zip([key], args)) | kwargs
        return {"layer": cls.lower(), key: values.get(key)}
    if cls == "Flatten":
        values = dict(zip(["start_dim", "end_dim"], args)) | kwargs
        return {"layer": "flatten", **values}
    if cls in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"):
        values = kwargs
        layer = {"layer": "upsample"}
        if values.get("size") is not None:
            layer["size"] = _listed(values["size"])
        elif values.get("scale_factor") is not None:
            scale = values["scale_factor"]
            scales = list(scale) if isinstance(scale, tuple) else [scale]
            layer["scale_factor"] = [int(s) if float(s).is_integer() else s for s in scales]
        return layer
    if cls in (
        "ZeroPad1d",
        "ZeroPad2d",
        "ZeroPad3d",
        "ConstantPad1d",
        "ConstantPad2d",
        "ConstantPad3d",
        "ReflectionPad2d",
        "ReplicationPad2d",
    ):
        n = int(cls[-2])
        pad = args[0] if args else kwargs.get("padding")
        flat = list(pad) if isinstance(pad, tuple) else [pad] * (2 * n)
        pairs = [[flat[2 * i], flat[2 * i + 1]] for i in range(n)][::-1]
        return {"layer": "pad", "pads": pairs}
    if cls == "PReLU":
        values = dict(zip(["num_parameters"], args)) | kwargs
        return {"layer": "prelu", "num_parameters": values.get("num_parameters", 1)}
    if cls in _POINTWISE:
        return {"layer": cls.lower()}
    return None
