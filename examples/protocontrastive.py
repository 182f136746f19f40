"""Meta-train a prototypical contrastive network, then solve new few-shot problems.

Runs in under a minute of CPU time with synthetic sounds: 18 base classes for
meta-training, 6 novel classes for the few-shot tasks.
"""

import numpy as np
from sklearn.frozen import FrozenEstimator

from skfewaudio import PrototypeClassifier, evaluate_episodes, make_sounds
from skfewaudio.protocontrastive import ProtoContrastiveClassifier

X, y = make_sounds(n_classes=24, n_per_class=10, duration=0.5, sample_rate=8000,
                   snr_db=(-5, 5), variation=2.0, random_state=0)
classes = np.unique(y)
novel_classes = np.random.RandomState(0).permutation(classes)[:6]
novel = np.isin(y, novel_classes)  # never seen in meta-training

# 1. Meta-train on the base classes (tiny network and front-end for the demo; on real
#    data, SpecAugment views with fusion (n_views=2) help: see docs/protocontrastive.md).
meta = ProtoContrastiveClassifier(
    n_maps=16, n_mels=32, n_fft=256, hop_length=64, sample_rate=8000, window_seconds=0.5,
    metric="cosine", n_way=6, n_shot=2, n_query=2, episodes_per_epoch=30, max_epochs=2,
    lr=3e-3, n_views=1, augment=False, contrastive="angular", projection_dim=16,
    random_state=0, verbose=1,
)
meta.fit(X[~novel], y[~novel])

# 2. One new 5-way 1-shot problem: support clips in, predictions out, no retraining.
support = np.concatenate([np.flatnonzero(y == c)[:1] for c in novel_classes[:5]])
query = np.concatenate([np.flatnonzero(y == c)[1:] for c in novel_classes[:5]])
clf = PrototypeClassifier(encoder=FrozenEstimator(meta), metric=meta.metric)
clf.fit(X[support], y[support])
print("one 5-way 1-shot task, accuracy on its queries:", clf.score(X[query], y[query]))

# 3. Many random problems on the novel classes (every clip embedded once).
for name, model in [("no learning (log-mel and MFCC statistics)",
                     PrototypeClassifier(metric="cosine", sample_rate=8000)),
                    ("meta-trained", meta)]:
    result = evaluate_episodes(model, X[novel], y[novel], n_way=5, n_shot=1, n_query=1,
                               n_episodes=300, random_state=0)
    print(f"{name}: 5-way 1-shot {100 * result['accuracy']:.1f} "
          f"+- {100 * result['ci95']:.1f} %")
