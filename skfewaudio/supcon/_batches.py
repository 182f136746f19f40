"""Seeded batch iterators for contrastive pre-training."""

import numpy as np
import torch
from sklearn.utils import check_random_state


class ClassBalancedBatchSampler:
    """Batches of several clips from each of several classes, so every anchor has
    positives of its own class besides its other view.

    Each batch takes ``min(n_classes, batch_size // clips_per_class)`` classes (at
    least 2) in a shuffled round-robin, so all classes are visited equally often, and
    from each up to ``batch_size // n_batch_classes`` clips (never more than the class
    has), drawn without replacement from a per-class shuffled queue. One pass (an
    epoch) has about ``n_items / batch_size`` batches, each in shuffled order.

    Parameters
    ----------
    labels : array-like of shape (n_items,)
    batch_size : int
    clips_per_class : int, default=4
    random_state : int, RandomState instance or None
        A RandomState instance is advanced by each pass, so successive epochs differ
        while the whole run stays reproducible.
    """

    def __init__(self, labels, batch_size, *, clips_per_class=4, random_state=None):
        self.labels = np.asarray(labels)
        self.batch_size = int(batch_size)
        self.clips_per_class = int(clips_per_class)
        self.random_state = check_random_state(random_state)

    def __len__(self):
        return max(1, int(round(len(self.labels) / self.batch_size)))

    def __iter__(self):
        rng = self.random_state
        n_batches = len(self)
        classes = np.unique(self.labels)
        members = {c: np.flatnonzero(self.labels == c) for c in classes}
        per_batch = min(len(classes), max(2, self.batch_size // self.clips_per_class))
        per_class = max(1, self.batch_size // per_batch)
        queues = {c: list(rng.permutation(members[c])) for c in classes}
        order = []
        for _ in range(n_batches):
            chosen = []
            while len(chosen) < per_batch:
                if not order:
                    order = list(rng.permutation(classes))
                c = order.pop()
                if c not in chosen:
                    chosen.append(c)
                else:  # seen in this batch already: retry it in the next one
                    order.insert(0, c)
            batch = []
            for c in chosen:
                take = min(per_class, len(members[c]))
                if len(queues[c]) < take:
                    # Refill with a fresh permutation; leftovers go first, no duplicates.
                    left = queues[c]
                    fresh = [i for i in rng.permutation(members[c]) if i not in left]
                    queues[c] = left + fresh
                batch.extend(queues[c][:take])
                queues[c] = queues[c][take:]
            yield rng.permutation(np.asarray(batch))


class RandomBatchSampler:
    """Shuffled batches of about ``batch_size`` items covering every item once."""

    def __init__(self, n_items, batch_size, *, random_state=None):
        self.n = int(n_items)
        self.batch_size = int(batch_size)
        self.random_state = check_random_state(random_state)

    def __len__(self):
        return max(1, int(round(self.n / self.batch_size)))

    def __iter__(self):
        yield from np.array_split(self.random_state.permutation(self.n), len(self))


class BatchIterator:
    """skorch ``iterator_train``: yields ``(X_batch, y_batch)`` tensors from a skorch
    Dataset using a batch sampler built per epoch.

    ``supervised=False`` ignores the labels (self-supervised batches).
    """

    def __init__(self, dataset, batch_size, *, supervised=True, clips_per_class=4,
                 random_state=None):
        X, y = dataset.X, dataset.y
        self.X = torch.as_tensor(X)
        self.y = torch.as_tensor(np.asarray(y)) if y is not None else None
        if supervised:
            self.sampler = ClassBalancedBatchSampler(
                np.asarray(y), batch_size, clips_per_class=clips_per_class,
                random_state=random_state,
            )
        else:
            self.sampler = RandomBatchSampler(len(self.X), batch_size, random_state=random_state)

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for index in self.sampler:
            index = torch.as_tensor(index, dtype=torch.long)
            yield self.X[index], (self.y[index] if self.y is not None else index)
