"""Few-shot classification with a pretrained audio model from the Hugging Face hub.

    python examples/pretrained_encoder.py                            # offline: tiny RANDOM model
    python examples/pretrained_encoder.py laion/clap-htsat-unfused   # real weights

With no argument the script uses the tiny, randomly initialised AST that the test
suite builds (so it runs with no download); its accuracies mean nothing. Pass a hub id
(downloaded once into ~/.cache/huggingface) or a folder saved with save_pretrained to
use a real model. See docs/pretrained.md.
"""

import sys
import tempfile

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfewaudio import PretrainedEncoder, PrototypeClassifier, evaluate_episodes, make_sounds

if len(sys.argv) > 1:
    model = sys.argv[1]
else:
    from skfewaudio.pretrained._testing import tiny_model_path

    model = str(tiny_model_path("ast"))
    print(f"no model given: using the tiny RANDOM test model {model}")

# Stand-ins for your recordings: 6 classes of 2 s clips at 16 kHz. With real audio use
# skfewaudio.load_audio_folder("frogs/", sample_rate=16000).
X, y = make_sounds(n_classes=6, n_per_class=8, duration=2.0, sample_rate=16000,
                   random_state=0)
support = np.arange(len(y)) % 8 < 5  # 5 calls per class label the classes
cache = tempfile.mkdtemp(prefix="skfewaudio-embeddings-")

encoder = PretrainedEncoder(model, sample_rate=16000, cache=cache)
clf = PrototypeClassifier(encoder=encoder, metric="cosine")
clf.fit(X[support], y[support])
print("prototype accuracy on the held-out clips:", clf.score(X[~support], y[~support]))
print("class probabilities of the first query:", clf.predict_proba(X[~support][:1]).round(3))

# Many random 5-way 1-shot episodes; every clip comes from the cache filled above.
result = evaluate_episodes(clf, X, y, n_way=5, n_shot=1, n_episodes=500, random_state=0)
print(f"5-way 1-shot over 500 episodes: {result['accuracy']:.3f} +- {result['ci95']:.3f}")

# A linear probe on the same embeddings (cached, so nothing is embedded again).
probe = make_pipeline(encoder, LogisticRegression(max_iter=1000))
print("linear probe accuracy:", probe.fit(X[support], y[support]).score(X[~support],
                                                                       y[~support]))
print(f"embeddings cached in {cache}")
