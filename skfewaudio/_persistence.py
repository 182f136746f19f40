"""Saving and loading estimators without pickle.

A model file is one standard ``.safetensors`` file: every tensor and numeric array
is a safetensors tensor, and the header's metadata holds one JSON document that
describes the estimator (its class, parameters and fitted state) and refers to the
tensors by name. Loading parses JSON and tensors only: it never unpickles, never
imports a module the file names, and rebuilds only the types of :data:`TRUSTED`
(skfewaudio's estimators and the few scikit-learn and torch types they contain).
Anything else in a file is refused with an error naming it.

Torch networks are stored as their weights (``state_dict``) and training history;
the estimator rebuilds the network from its own code and parameters, then loads
the weights. Weights are always written from the CPU, so a model trained on a GPU
loads on a machine without one.
"""

import datetime
import importlib
import inspect
import json
import warnings
from pathlib import Path, PurePath

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator
from skorch import NeuralNet

from ._callbacks import plain_values

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION", "default_missing_parameters"]

FORMAT = "skfewaudio-model"
FORMAT_VERSION = 1

# Types a model file may name, beyond skfewaudio's public estimators (added at load).
_TRUSTED_NAMES = {
    "skfewaudio._windows.LogMelWindows",
    "skfewaudio.clap._backbone.RandomAudioMiniLMBackbone",
    "skfewaudio.clap._msclap.MSCLAPBackbone",
    "skfewaudio.clap._laion.LAIONCLAPBackbone",
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.Normalizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.decomposition._pca.PCA",
}
# Classes that may appear as parameter values (an optimizer, say), never instantiated.
_TRUSTED_CLASS_MODULES = ("torch.optim",)
# numpy dtypes stored as tensors (exact round trip through torch).
_TENSOR_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64",
                  "uint8", "bool"}


def save(estimator, path):
    """Save an estimator, fitted or not, to a file that loads without running code.

    Parameters
    ----------
    estimator : estimator
        Any skfewaudio estimator (and pipelines of the types listed in
        ``docs/persistence.md``).
    path : str or path-like
        Destination, conventionally ending in ``.safetensors``.

    Raises
    ------
    TypeError
        If the estimator holds something that cannot be stored without pickle (a
        custom torch module, a user function), naming it: save such models with
        joblib instead, knowing that loading a pickle runs code.
    """
    writer = _Writer()
    document = {"format": FORMAT, "version": FORMAT_VERSION,
                "skfewaudio": _version(), "saved": _now(),
                "estimator": writer.encode(estimator, "estimator")}
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in writer.tensors.items()}
    save_file(tensors, str(path), metadata={FORMAT: json.dumps(document)})


def load(path):
    """Load an estimator saved by :func:`save`; no code from the file is run.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : estimator
        Its predictions equal those of the saved estimator.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a skfewaudio model, is of a newer format, or names a
        type that is not trusted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}" + (
            ": that is a folder" if path.is_dir() else ""))
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:
        raise ValueError(f"{path} is not a skfewaudio model file (a .safetensors file "
                         f"written by skfewaudio.save): {exc}") from None
    if FORMAT not in metadata:
        raise ValueError(f"{path} is a safetensors file but not a skfewaudio model: its "
                         f"metadata has no {FORMAT!r} entry.")
    document = json.loads(metadata[FORMAT])
    if document.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path} was written in model format {document['version']} by "
                         f"skfewaudio {document.get('skfewaudio')}; this skfewaudio reads "
                         f"format {FORMAT_VERSION}: upgrade skfewaudio.")
    return _Reader(tensors, path).decode(document["estimator"])


def is_model_file(path):
    """Whether ``path`` looks like a file written by :func:`save` (no code is run)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return FORMAT in (handle.metadata() or {})
    except Exception:
        return False


class _Writer:
    """Encodes objects as JSON nodes; tensors and numeric arrays go to ``tensors``."""

    def __init__(self):
        self.tensors = {}
        self.memo = {}  # id(object) -> node id, so shared objects are stored once

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.generic):
            return _finite(value)
        if isinstance(value, np.generic):
            return {"__type__": "scalar", "dtype": value.dtype.str, "value": _finite(value.item())}
        if isinstance(value, torch.Tensor):
            return {"__type__": "tensor", "key": self._add_tensor(value)}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__type__": "tuple", "items": [self.encode(v, f"{where}[{i}]")
                                                   for i, v in enumerate(value)]}
        if isinstance(value, dict):
            return self._dict(value, where)
        if isinstance(value, type):
            return self._class(value, where)
        if isinstance(value, PurePath):
            return {"__type__": "path", "value": str(value)}
        if isinstance(value, np.random.RandomState):
            _, keys, pos, has_gauss, gauss = value.get_state()
            return {"__type__": "random_state", "keys": self.encode(keys, where),
                    "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}
        if isinstance(value, NeuralNet):
            return self._net(value, where)
        return self._object(value, where)

    def _add_tensor(self, tensor):
        key = f"t{len(self.tensors)}"
        self.tensors[key] = tensor
        return key

    def _array(self, array, where):
        if array.dtype.name in _TENSOR_DTYPES:
            return {"__type__": "ndarray", "dtype": array.dtype.str,
                    "key": self._add_tensor(torch.from_numpy(np.ascontiguousarray(array)))}
        if array.dtype.kind in "USO" or array.dtype.names:
            rows = array.tolist()
            return {"__type__": "ndarray", "dtype": _dtype_descr(array.dtype),
                    "shape": list(array.shape), "items": self.encode(rows, where)}
        raise TypeError(f"{where} is an array of dtype {array.dtype}, which the model "
                        "format does not store.")

    def _dict(self, value, where):
        if all(isinstance(k, str) for k in value):
            return {"__type__": "dict", "items": {k: self.encode(v, f"{where}[{k!r}]")
                                                  for k, v in value.items()}}
        return {"__type__": "dict", "pairs": [[self.encode(k, where), self.encode(v, where)]
                                              for k, v in value.items()]}

    def _class(self, cls, where):
        path = _qualified_name(cls)
        if not path.startswith(_TRUSTED_CLASS_MODULES):
            raise TypeError(f"{where} is the class {path}; only torch optimizer classes can "
                            "be stored as parameter values.")
        return {"__type__": "class", "path": path}

    def _net(self, net, where):
        module = net.module_.state_dict()
        criterion = net.criterion_.state_dict() if hasattr(net, "criterion_") else {}
        return {"__type__": "skorch_net",
                "module": {k: self._add_tensor(v) for k, v in module.items()},
                "criterion": {k: self._add_tensor(v) for k, v in criterion.items()},
                "history": self.encode(plain_values(net.history.to_list()), where)}

    def _object(self, obj, where):
        if id(obj) in self.memo:
            return {"__type__": "ref", "id": self.memo[id(obj)]}
        path = _qualified_name(type(obj))
        if not _is_trusted(path):
            raise TypeError(
                f"{where} is a {path}, which skfewaudio.save cannot store without pickle "
                "(custom torch modules, functions and unknown classes cannot be rebuilt "
                "safely). Use a built-in setting, or save with joblib.dump, knowing that "
                "loading a pickle runs code."
            )
        node_id = len(self.memo)
        self.memo[id(obj)] = node_id
        state = obj.__getstate__() if hasattr(obj, "__getstate__") else dict(vars(obj))
        if isinstance(state, dict) and state.get("callbacks"):
            warnings.warn(f"{where}: the callbacks {state['callbacks']!r} are not saved; "
                          "they act only while training. The loaded model has none.",
                          UserWarning, stacklevel=3)
            state = {**state, "callbacks": None}
        if not isinstance(state, dict):
            raise TypeError(f"{where} ({path}) has a state the model format cannot store.")
        return {"__type__": "object", "class": path, "id": node_id,
                "state": {k: self.encode(v, f"{where}.{k}") for k, v in state.items()}}


class _Reader:
    """Decodes JSON nodes, rebuilding only trusted types."""

    def __init__(self, tensors, path):
        self.tensors = tensors
        self.path = path
        self.objects = {}

    def decode(self, node):
        if not isinstance(node, (dict, list)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        kind = node.get("__type__")
        decoder = getattr(self, f"_{kind}", None) if isinstance(kind, str) else None
        if decoder is None:
            raise ValueError(f"{self.path}: unknown entry type {kind!r} in the model file.")
        return decoder(node)

    def _tensor_named(self, key):
        if key not in self.tensors:
            raise ValueError(f"{self.path}: the model refers to a missing tensor {key!r}.")
        return self.tensors[key]

    def _scalar(self, node):
        return np.dtype(node["dtype"]).type(node["value"])

    def _tensor(self, node):
        return self._tensor_named(node["key"])

    def _ndarray(self, node):
        dtype = _dtype_from_descr(node["dtype"])
        if "key" in node:
            return self._tensor_named(node["key"]).numpy().astype(dtype, copy=False)
        shape, items = node["shape"], self.decode(node["items"])
        if dtype.names:
            return np.array(_as_records(items, len(shape)), dtype=dtype).reshape(shape)
        if dtype == object:  # element by element: nested lists must not become arrays
            array = np.empty(int(np.prod(shape)), dtype=object)
            array[:] = _flatten(items, len(shape))
            return array.reshape(shape)
        return np.asarray(items, dtype=dtype).reshape(shape)

    def _path(self, node):
        return Path(node["value"])

    def _tuple(self, node):
        return tuple(self.decode(v) for v in node["items"])

    def _dict(self, node):
        if "items" in node:
            return {k: self.decode(v) for k, v in node["items"].items()}
        return {self.decode(k): self.decode(v) for k, v in node["pairs"]}

    def _class(self, node):
        path = node["path"]
        if not path.startswith(_TRUSTED_CLASS_MODULES):
            raise ValueError(f"{self.path} names the class {path}, which is not trusted; "
                             "only torch optimizer classes may appear as values.")
        return _import(path)

    def _random_state(self, node):
        rng = np.random.RandomState()
        rng.set_state(("MT19937", self.decode(node["keys"]).astype(np.uint32), node["pos"],
                       node["has_gauss"], node["gauss"]))
        return rng

    def _skorch_net(self, node):
        return _SavedNet(
            {k: self._tensor_named(v) for k, v in node["module"].items()},
            {k: self._tensor_named(v) for k, v in node["criterion"].items()},
            self.decode(node["history"]))

    def _ref(self, node):
        if node["id"] not in self.objects:
            raise ValueError(f"{self.path}: the model refers to an object defined later.")
        return self.objects[node["id"]]

    def _object(self, node):
        path = node["class"]
        if not _is_trusted(path):
            raise ValueError(
                f"{self.path} asks to build {path}, which is not a type skfewaudio trusts; "
                "the file was not written by skfewaudio.save or was altered. It was not "
                "loaded."
            )
        cls = _import(path)
        obj = cls.__new__(cls)
        self.objects[node["id"]] = obj
        state = {k: self.decode(v) for k, v in node["state"].items()}
        nets = {k: v for k, v in state.items() if isinstance(v, _SavedNet)}
        state = {k: v for k, v in state.items() if k not in nets}
        if hasattr(obj, "__setstate__"):
            with warnings.catch_warnings():  # scikit-learn's version-mismatch warning
                warnings.simplefilter("ignore", UserWarning)
                obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        default_missing_parameters(obj)
        for name, saved in nets.items():  # after the rest: the net is built from it
            setattr(obj, name, obj._restore_net(saved.module, saved.criterion, saved.history))
        return obj


def default_missing_parameters(obj):
    """Parameters added to a class after a file (or pickle) was written take their
    defaults, so the model loads and behaves as it did."""
    if not isinstance(obj, BaseEstimator):
        return
    for name, parameter in inspect.signature(type(obj).__init__).parameters.items():
        if (name not in obj.__dict__ and parameter.default is not parameter.empty
                and parameter.kind is not parameter.VAR_KEYWORD):
            setattr(obj, name, parameter.default)


class _SavedNet:
    def __init__(self, module, criterion, history):
        self.module, self.criterion, self.history = module, criterion, history


def _trusted_names():
    from .utils import all_estimators

    names = {_qualified_name(cls) for _, cls in all_estimators()}
    return names | _TRUSTED_NAMES


def _is_trusted(path):
    return path in _trusted_names()


def _qualified_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _import(path):
    """The class at ``path``; called only for trusted names."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _finite(value):
    if isinstance(value, float) and not np.isfinite(value):
        return {"__type__": "scalar", "dtype": "<f8", "value": repr(value)}
    return value


def _dtype_descr(dtype):
    return dtype.descr if dtype.names else dtype.str


def _dtype_from_descr(descr):
    if isinstance(descr, list):
        return np.dtype([tuple(field) for field in descr])
    return np.dtype(descr)


def _as_records(items, ndim):
    """Rows of a structured array back as tuples (JSON turned them into lists)."""
    if ndim == 1:
        return [tuple(row) for row in items]
    return [_as_records(row, ndim - 1) for row in items]


def _flatten(items, ndim):
    if ndim <= 1:
        return list(items)
    return [leaf for row in items for leaf in _flatten(row, ndim - 1)]


def _version():
    from . import __version__

    return __version__


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

