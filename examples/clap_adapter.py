"""Few-shot classification with MultiGrainedCLAPAdapter, offline.

Runs with the offline ``"random-audio-minilm"`` backbone: its audio encoder is RANDOM
(not pretrained), so the text-based scores mean nothing here and only the key-value
caches carry information. With MS-CLAP weights installed, replace the backbone by
``"msclap-2022"`` (see docs/clap.md) and the same code uses what the class
descriptions mean.

    python examples/clap_adapter.py
"""

import numpy as np

from skfewaudio.clap import MultiGrainedCLAPAdapter, default_descriptions
from skfewaudio.datasets import make_sounds

# 4 classes, 5 support clips each (a 4-way 5-shot episode), 5 queries per class.
X, y = make_sounds(n_classes=4, n_per_class=10, duration=1.0, random_state=0)
support = np.arange(len(y)) % 10 < 5
X_support, y_support, X_query, y_query = X[support], y[support], X[~support], y[~support]

# Class explanations: a few sentences per class (the paper uses 8 written by an LLM).
# default_descriptions builds prompt templates from the label names instead.
descriptions = default_descriptions(np.unique(y))
descriptions[y[0]] = ["A steady tone with overtones.", "A voiced, musical hum."]

clf = MultiGrainedCLAPAdapter(
    "random-audio-minilm",          # offline; use "msclap-2022" with real weights
    class_descriptions=descriptions,
    max_epochs=5,                   # paper: 20
    random_state=0,
)
clf.fit(X_support, y_support)
print("query accuracy, all components:", clf.score(X_query, y_query))

# Each component's class scores, e.g. to see which one decides.
for name, scores in clf.component_scores(X_query).items():
    accuracy = np.mean(clf.classes_[scores.argmax(axis=1)] == y_query)
    print(f"  {name:16s} alone would reach {accuracy:.2f}")

# Ablation switches, as in the paper's tables 4 and 5.
caches_only = MultiGrainedCLAPAdapter("random-audio-minilm", coarse_contrast=False,
                                      fine_contrast=False, random_state=0)
print("caches only:", caches_only.fit(X_support, y_support).score(X_query, y_query))

# Captions of the clips (from any captioning model) join the contrast branch.
captions = [f"clip {i} with a sound" for i in range(len(X_support))]
with_captions = MultiGrainedCLAPAdapter("random-audio-minilm", max_epochs=5,
                                        random_state=0).fit(X_support, y_support,
                                                            captions=captions)
query_captions = [f"clip {i} with a sound" for i in range(len(X_query))]
print("with captions:", with_captions.score(X_query, y_query, captions=query_captions))
