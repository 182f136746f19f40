"""Train the recommended few-shot model on your own base classes, save it, reuse it.

``train_ensemble`` is the recipe of the committed ESC-50 model: four networks
meta-trained on the base classes, joined with SpectralStatistics, whitened, read by a
linear probe per task (``skfewaudio train DIR --output FILE`` on the command line).
Here it runs on synthetic sounds with tiny networks and 8 epochs, in about 15 seconds
on 2 CPU cores; on real data keep the defaults (160 epochs of 5-second windows; see
docs/protocontrastive.md for the figures and times).
"""

import tempfile
from pathlib import Path

import numpy as np

from skfewaudio import LinearProbeClassifier, evaluate_episodes, load, make_sounds, save
from skfewaudio.protocontrastive import train_ensemble

X, y = make_sounds(n_classes=24, n_per_class=10, duration=1.0, snr_db=(-5, 5),
                   variation=2.0, random_state=0)
novel_classes = np.random.RandomState(0).permutation(np.unique(y))[:6]
novel = np.isin(y, novel_classes)  # never seen in training

# 1. Train on the base classes; every keyword argument goes to each network.
model = train_ensemble(X[~novel], y[~novel], n_maps=16, window_seconds=1.0, max_epochs=8,
                       episodes_per_epoch=10)

# 2. Save it to a file that loads without running code, and load it back (here in a
#    temporary folder, so that the example leaves nothing behind).
with tempfile.TemporaryDirectory() as folder:
    save(model, Path(folder) / "my_model.safetensors")
    model = load(Path(folder) / "my_model.safetensors")

# 3. Each few-shot task fits the probe only: 5-way 1-shot and 5-shot episodes on the
#    novel classes, against the no-learning default (every clip embedded once).
for name, clf in [("no learning (LinearProbeClassifier())", LinearProbeClassifier()),
                  ("train_ensemble", model)]:
    for shot in (1, 5):
        result = evaluate_episodes(clf, X[novel], y[novel], n_way=5, n_shot=shot,
                                   n_query=1, n_episodes=500, random_state=0)
        print(f"{name}: 5-way {shot}-shot {100 * result['accuracy']:.1f} "
              f"+- {100 * result['ci95']:.1f} %")
