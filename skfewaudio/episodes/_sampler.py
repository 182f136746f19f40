"""Seeded N-way K-shot episode sampling and class-disjoint splitting."""

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_positive_int

_EPISODE_BLOCK = 1024  # episodes drawn per vectorised block (bounds memory)


class EpisodeSampler:
    """Draw N-way K-shot episodes: support and query indices into ``y``.

    Each episode picks ``n_way`` distinct classes, then ``n_shot + n_query`` distinct
    clips of each class without replacement; the first ``n_shot`` are the support
    set, the rest the queries. Indices are laid out class by class.

    It is also a cross-validation splitter: ``cross_val_score(clf, X, y,
    cv=EpisodeSampler(...))`` fits ``clf`` on each support set and scores it on the
    queries.

    Parameters
    ----------
    n_way : int, default=5
        Classes per episode, at least 2.
    n_shot : int, default=1
    n_query : int, default=1
        Queries per class (MetaAudio uses 1).
    n_episodes : int, default=100
    random_state : int, RandomState instance or None, default=None
        Fixes the episodes: the same seed gives the same episodes.
    """

    def __init__(self, n_way=5, n_shot=1, n_query=1, n_episodes=100, random_state=None):
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.n_episodes = n_episodes
        self.random_state = random_state

    def sample(self, y):
        """Draw all episodes at once.

        Parameters
        ----------
        y : array-like of shape (n_clips,)

        Returns
        -------
        support : ndarray of shape (n_episodes, n_way, n_shot)
            Indices into ``y``.
        query : ndarray of shape (n_episodes, n_way, n_query)
            Indices into ``y``; ``query[e, c]`` share the class of ``support[e, c]``.
        """
        n_way = check_positive_int(self.n_way, "n_way")
        if n_way < 2:
            raise ValueError("n_way must be at least 2: a 1-way episode has one class, so "
                             "every prediction is right and its accuracy says nothing.")
        n_shot = check_positive_int(self.n_shot, "n_shot")
        n_query = check_positive_int(self.n_query, "n_query")
        n_episodes = check_positive_int(self.n_episodes, "n_episodes")
        members = _class_members(np.asarray(y), n_way, n_shot + n_query)
        rng = check_random_state(self.random_state)
        blocks = [
            _draw_block(members, min(_EPISODE_BLOCK, n_episodes - start), n_way,
                        n_shot + n_query, rng)
            for start in range(0, n_episodes, _EPISODE_BLOCK)
        ]
        episodes = np.concatenate(blocks)
        return episodes[:, :, :n_shot], episodes[:, :, n_shot:]

    def split(self, X=None, y=None, groups=None):
        """Yield ``(support_indices, query_indices)`` for each episode."""
        if y is None:
            raise ValueError("EpisodeSampler.split needs y (the class of every clip).")
        support, query = self.sample(y)
        for s, q in zip(support, query):
            yield s.ravel(), q.ravel()

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_episodes

    def __repr__(self):
        return (f"EpisodeSampler(n_way={self.n_way}, n_shot={self.n_shot}, "
                f"n_query={self.n_query}, n_episodes={self.n_episodes}, "
                f"random_state={self.random_state!r})")


def _class_members(y, n_way, per_class):
    """Index matrix (n_classes, max_count) padded with -1; raise on too little data."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    short = classes[counts < per_class]
    if len(short):
        raise ValueError(
            f"classes {short.tolist()} have fewer than n_shot + n_query = {per_class} "
            f"clips (counts {counts[counts < per_class].tolist()}); lower n_shot/n_query "
            "or drop those classes."
        )
    if n_way > len(classes):
        lower = f"lower n_way to {len(classes)} or less, or " if len(classes) >= 2 else ""
        raise ValueError(
            f"n_way={n_way} but only {len(classes)} "
            f"{'class is' if len(classes) == 1 else 'classes are'} available; {lower}add classes."
        )
    members = np.full((len(classes), counts.max()), -1, dtype=np.int64)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for c, (start, count) in enumerate(zip(starts, counts)):
        members[c, :count] = order[start : start + count]
    return members


def _draw_block(members, n_episodes, n_way, per_class, rng):
    """Sample classes and clips for a block of episodes with random sort keys."""
    n_classes, max_count = members.shape
    ways = np.argsort(rng.random((n_episodes, n_classes)), axis=1)[:, :n_way]
    candidates = members[ways]  # (episodes, way, max_count)
    keys = rng.random(candidates.shape)
    keys[candidates < 0] = np.inf  # padding is never picked
    picks = np.argsort(keys, axis=2)[:, :, :per_class]
    return np.take_along_axis(candidates, picks, axis=2)


# A held-out side of one class makes no episode: an EpisodeScorer fails on every split.
_TWO_NOVEL = "few-shot episodes on held-out classes need at least 2 of them."


class ClassDisjointSplit:
    """Cross-validation over classes: train and test folds share no class.

    Use it as ``cv=`` in ``GridSearchCV`` with an episodic scorer, so that a model is
    (meta-)trained on base classes and scored by few-shot accuracy on novel ones.

    Parameters
    ----------
    n_splits : int, default=5
        Number of random class splits (ignored when ``test_classes`` is given).
    test_size : float or int, default=0.2
        Fraction (float) or number (int) of classes held out per split: at least 2,
        the fewest an episode can hold.
    test_classes : sequence or None, default=None
        A fixed set of held-out classes: one split, e.g. a benchmark's published split.
    random_state : int, RandomState instance or None, default=None
    """

    def __init__(self, n_splits=5, *, test_size=0.2, test_classes=None, random_state=None):
        self.n_splits = n_splits
        self.test_size = test_size
        self.test_classes = test_classes
        self.random_state = random_state

    def split(self, X=None, y=None, groups=None):
        """Yield ``(train_indices, test_indices)`` with disjoint classes."""
        if y is None:
            raise ValueError("ClassDisjointSplit.split needs y (the class of every clip).")
        y = np.asarray(y)
        classes = np.unique(y)
        for test in self._test_class_sets(classes):
            is_test = np.isin(y, test)
            yield np.flatnonzero(~is_test), np.flatnonzero(is_test)

    def _test_class_sets(self, classes):
        if self.test_classes is not None:
            test = np.unique(self.test_classes)
            unknown = np.setdiff1d(test, classes)
            if len(unknown):
                raise ValueError(f"test_classes {unknown.tolist()} are not in y.")
            if len(test) == len(classes):
                raise ValueError("test_classes leaves no class for training.")
            if len(test) < 2:
                raise ValueError(f"test_classes holds one class; {_TWO_NOVEL}")
            return [test]
        n_test = (self.test_size if isinstance(self.test_size, (int, np.integer))
                  else int(round(self.test_size * len(classes))))
        if not 1 <= n_test < len(classes):
            raise ValueError(
                f"test_size={self.test_size!r} holds out {n_test} of {len(classes)} "
                "classes; at least one class must be on each side."
            )
        if n_test < 2:
            raise ValueError(
                f"test_size={self.test_size!r} holds out 1 of {len(classes)} classes; "
                f"{_TWO_NOVEL} Set test_size=2 or more."
            )
        rng = check_random_state(self.random_state)
        return [rng.permutation(classes)[:n_test] for _ in range(self.n_splits)]

    def get_n_splits(self, X=None, y=None, groups=None):
        return 1 if self.test_classes is not None else self.n_splits

    def __repr__(self):
        return (f"ClassDisjointSplit(n_splits={self.n_splits}, test_size={self.test_size!r}, "
                f"test_classes={self.test_classes!r}, random_state={self.random_state!r})")
