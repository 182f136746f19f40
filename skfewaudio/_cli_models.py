"""Model files on the command line: read either format, write the safe one by default.

``evaluate``, ``classify`` and ``search`` take ``--model FILE``; ``classify`` takes
``--save FILE``. A file written by :func:`skfewaudio.save` loads without running code;
a joblib pickle still loads (it may hold custom modules that the safe format cannot
store), after a warning that loading it runs its code.
"""

import sys
from pathlib import Path

import joblib
from sklearn.frozen import FrozenEstimator

from ._persistence import is_model_file, load, save

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def load_model(path):
    """A model saved by skfewaudio.save (no code runs), or a joblib pickle (it does)."""
    if is_model_file(path):
        return load(path)
    if not Path(path).is_file():
        raise OSError(f"no model file at {path}")
    print(f"skfewaudio: warning: {path} is not a skfewaudio.save file; loading it as a "
          "joblib pickle, which runs any code it contains. Only load pickles you trust.",
          file=sys.stderr)
    return joblib.load(path)


def load_encoder(path):
    """The fitted encoder in a model file, frozen, or None (the default encoder) for no path.

    The file may hold an encoder (a fitted transformer, such as a trained
    ``ProtoContrastiveClassifier``), a fitted few-shot classifier built on one
    (``PrototypeClassifier``, ``LinearProbeClassifier``), or an unfitted one whose
    encoder is fitted and frozen (the committed ESC-50 model, whose probe is fitted per
    episode). A classifier's encoder is used, and its own head is left aside.
    """
    if path is None:
        return None
    model = load_model(path)
    encoder = getattr(model, "encoder_", None)  # a fitted classifier's encoder
    if encoder is None and isinstance(getattr(model, "encoder", None), FrozenEstimator):
        encoder = model.encoder  # a classifier fitted per episode on a fitted encoder
    encoder = model if encoder is None else encoder
    if not hasattr(encoder, "transform"):
        raise ValueError(f"{path} holds a {type(model).__name__}, which cannot embed clips: "
                         "give a fitted encoder or a fitted few-shot classifier.")
    return encoder if isinstance(encoder, FrozenEstimator) else FrozenEstimator(encoder)


def save_model(model, path):
    """skfewaudio.save, or joblib when the file name asks for a pickle (``PICKLE_SUFFIXES``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        joblib.dump(model, path)
    else:
        save(model, path)
