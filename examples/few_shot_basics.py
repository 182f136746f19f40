"""Few-shot classification in a dozen lines: fit on a handful of clips, predict, evaluate;
then a whitening learned on labelled clips of other classes.

Run: python examples/few_shot_basics.py
"""

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline

from skfewaudio import (
    LinearProbeClassifier,
    PrototypeClassifier,
    SpectralStatistics,
    WithinClassWhitening,
    evaluate_episodes,
    make_sounds,
)

# Ten synthetic sound classes, 20 one-second clips each, at 16 kHz.
X, y = make_sounds(n_classes=10, n_per_class=20, duration=1.0, random_state=0)

# One few-shot problem: 5 classes, 3 labelled clips each.
classes = np.unique(y)[:5]
support = np.concatenate([np.flatnonzero(y == c)[:3] for c in classes])
query = np.concatenate([np.flatnonzero(y == c)[3:] for c in classes])
clf = PrototypeClassifier(sample_rate=16000).fit(X[support], y[support])
print(f"accuracy on {len(query)} queries: {clf.score(X[query], y[query]):.2f}")

# The standard protocol: many random 5-way 1-shot episodes, with a 95 % interval.
result = evaluate_episodes(PrototypeClassifier(), X, y, n_way=5, n_shot=1,
                           n_episodes=2000, random_state=0)
print(f"5-way 1-shot: {100 * result['accuracy']:.1f} % +- {100 * result['ci95']:.1f}")

# With several clips per class, a linear probe on the same embedding usually beats the
# prototypes: it learns which features separate this problem's classes.
for clf in (PrototypeClassifier(), LinearProbeClassifier()):
    result = evaluate_episodes(clf, X, y, n_way=5, n_shot=5, n_episodes=2000, random_state=0)
    print(f"5-way 5-shot, {type(clf).__name__}: {100 * result['accuracy']:.1f} %")

# With labelled clips of other classes (base classes), learn which directions of the
# embedding vary most within a class and scale them down before the few-shot head.
X, y = make_sounds(n_classes=20, n_per_class=20, duration=1.0, snr_db=(-5, 5),
                   variation=2.0, random_state=0)  # harder sounds: noisier, more varied
base = np.isin(y, np.unique(y)[:10])                # 10 base classes, 10 new ones
encoder = make_pipeline(SpectralStatistics(), WithinClassWhitening(shrinkage=0.9))
encoder.fit(X[base], y[base])
for name, clf in [("plain", PrototypeClassifier()),
                  ("whitened", PrototypeClassifier(FrozenEstimator(encoder)))]:
    result = evaluate_episodes(clf, X[~base], y[~base], n_way=5, n_shot=1, n_episodes=2000,
                               random_state=0)
    print(f"new classes, 5-way 1-shot, {name}: {100 * result['accuracy']:.1f} %")
