"""ESC-50 clips embedded once, and a PrototypeClassifier that works on the embeddings.

The open-set and active-labelling benchmarks run thousands of small fits; embedding
each clip once and handing the classifier an identity encoder keeps them fast while
they still go through PrototypeClassifier's own fit, partial_fit and predict.
"""

import json
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import FunctionTransformer

from skfewaudio import PrototypeClassifier, SpectralStatistics, load, load_audio_folder

MODEL = Path(__file__).resolve().parent / "models" / "protocontrastive_probe_esc50.safetensors"
ENCODERS = {
    "spectral": "SpectralStatistics() (no learning; PrototypeClassifier's default)",
    "model": f"{MODEL.name}'s encoder (trained on the 35 train classes)",
}


def splits(data_dir):
    return json.loads((Path(data_dir) / "splits.json").read_text())


def embed(data_dir, classes, encoder):
    """Embeddings (n_clips, n_features) and labels of the clips of ``classes``."""
    data = load_audio_folder(data_dir, sample_rate=16000, classes=classes)
    model = (SpectralStatistics().fit(data.data[:1]) if encoder == "spectral"
             else load(MODEL).encoder)  # the probe is fitted per episode, its encoder frozen
    return np.asarray(model.transform(data.data), dtype=np.float32), data.target


def on_embeddings(**params):
    """A PrototypeClassifier whose encoder is the identity (clips are embeddings)."""
    identity = FrozenEstimator(FunctionTransformer().fit(np.zeros((1, 1))))
    return PrototypeClassifier(encoder=identity, **params)


def mean_ci(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(1.96 * values.std() / np.sqrt(len(values)))
