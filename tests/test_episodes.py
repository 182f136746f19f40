import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

from skfewaudio import (
    ClassDisjointSplit,
    EpisodeSampler,
    EpisodeScorer,
    MelStatistics,
    PrototypeClassifier,
    evaluate_episodes,
)

y_toy = np.repeat(np.arange(10), 7)


def test_sampler_episodes_are_balanced_and_disjoint():
    support, query = EpisodeSampler(5, 2, 3, 200, random_state=0).sample(y_toy)
    assert support.shape == (200, 5, 2) and query.shape == (200, 5, 3)
    for s, q in zip(support, query):
        classes = y_toy[s][:, 0]
        assert len(set(classes)) == 5
        assert (y_toy[s] == classes[:, None]).all() and (y_toy[q] == classes[:, None]).all()
        assert len(set(s.ravel()) | set(q.ravel())) == 25  # no clip used twice


def test_sampler_is_seeded_and_covers_classes():
    a = EpisodeSampler(5, 1, 1, 300, random_state=3).sample(y_toy)
    b = EpisodeSampler(5, 1, 1, 300, random_state=3).sample(y_toy)
    c = EpisodeSampler(5, 1, 1, 300, random_state=4).sample(y_toy)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    counts = np.bincount(y_toy[a[0].ravel()], minlength=10)
    assert counts.min() > 100  # every class is drawn, roughly uniformly (150 expected)


def test_sampler_split_matches_sample():
    sampler = EpisodeSampler(3, 2, 1, 5, random_state=0)
    support, query = sampler.sample(y_toy)
    for (s, q), s_ref, q_ref in zip(sampler.split(None, y_toy), support, query):
        np.testing.assert_array_equal(s, s_ref.ravel())
        np.testing.assert_array_equal(q, q_ref.ravel())


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_way=11), r"n_way=11 but only 10 classes"),
    (dict(n_shot=5, n_query=3), r"fewer than n_shot \+ n_query = 8"),
    (dict(n_way=0), r"n_way must be a positive integer"),
    (dict(n_way=1), r"n_way must be at least 2: a 1-way episode"),
])
def test_sampler_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EpisodeSampler(**{"n_episodes": 3, **kwargs}).sample(y_toy)


def test_class_disjoint_split():
    splitter = ClassDisjointSplit(n_splits=4, test_size=0.3, random_state=0)
    folds = list(splitter.split(None, y_toy))
    assert len(folds) == splitter.get_n_splits() == 4
    for train, test in folds:
        assert not set(y_toy[train]) & set(y_toy[test])
        assert len(set(y_toy[test])) == 3 and len(train) + len(test) == len(y_toy)
    train, test = next(ClassDisjointSplit(test_classes=[1, 2]).split(None, y_toy))
    assert set(y_toy[test]) == {1, 2}
    with pytest.raises(ValueError, match=r"\[42\] are not in y"):
        next(ClassDisjointSplit(test_classes=[42]).split(None, y_toy))


def test_a_held_out_side_of_one_class_is_refused():
    """One novel class makes no episode: every score of such a fold would fail."""
    with pytest.raises(ValueError, match="holds out 1 of 10 classes.*test_size=2"):
        next(ClassDisjointSplit(test_size=0.1).split(None, y_toy))
    with pytest.raises(ValueError, match="test_classes holds one class"):
        next(ClassDisjointSplit(test_classes=[3, 3]).split(None, y_toy))


def test_episodes_on_one_class_say_what_n_way_needs(sounds):
    X, y = sounds
    one = y == y[0]
    with pytest.raises(ValueError, match="n_way=2 but only 1 class is available; add classes"):
        evaluate_episodes(PrototypeClassifier(), X[one], y[one], n_way=2, n_shot=1, n_query=1)


def test_cached_evaluation_equals_refitting_every_episode(sounds):
    """Embedding each clip once must not change a single episode's result."""
    X, y = sounds
    kwargs = dict(n_way=4, n_shot=2, n_query=2, n_episodes=25, random_state=0)
    cached = evaluate_episodes(PrototypeClassifier(), X, y, **kwargs)

    class Refit(PrototypeClassifier):  # same rule, but no shared embedding
        def _episode_embedder(self):
            return None

    refit = evaluate_episodes(Refit(), X, y, **kwargs)
    assert cached["embedded_once"] and not refit["embedded_once"]
    np.testing.assert_allclose(cached["episode_accuracies"], refit["episode_accuracies"])
    acc = cached["episode_accuracies"]
    assert cached["ci95"] == pytest.approx(1.96 * acc.std() / np.sqrt(25))


def test_fitted_transformer_is_evaluated_on_its_embeddings(sounds):
    X, y = sounds
    encoder = MelStatistics().fit(X)
    by_encoder = evaluate_episodes(encoder, X, y, n_episodes=50, random_state=1)
    # A bare transformer is scored with PrototypeClassifier's default metric, cosine.
    by_classifier = evaluate_episodes(PrototypeClassifier(encoder=encoder), X, y,
                                      n_episodes=50, random_state=1)
    assert by_encoder["embedded_once"]
    assert by_encoder["accuracy"] == by_classifier["accuracy"]


def test_evaluation_beats_chance_and_is_deterministic(sounds):
    X, y = sounds
    a = evaluate_episodes(PrototypeClassifier(), X, y, n_shot=3, n_episodes=200, random_state=0)
    b = evaluate_episodes(PrototypeClassifier(), X, y, n_shot=3, n_episodes=200, random_state=0)
    assert a["accuracy"] == b["accuracy"] and a["accuracy"] > 0.6


def test_episode_sampler_works_as_cv(sounds):
    X, y = sounds
    scores = cross_val_score(PrototypeClassifier(), X, y,
                             cv=EpisodeSampler(4, 2, 2, 5, random_state=0))
    assert scores.shape == (5,) and scores.mean() > 0.5


def test_grid_search_selects_by_episodic_accuracy_on_held_out_classes(sounds):
    X, y = sounds
    search = GridSearchCV(
        PrototypeClassifier(), {"metric": ["euclidean", "cosine"]},
        cv=ClassDisjointSplit(n_splits=2, test_size=4, random_state=0),
        scoring=EpisodeScorer(n_way=3, n_shot=1, n_episodes=50),
    ).fit(X, y)
    assert search.best_params_["metric"] in {"euclidean", "cosine"}
    scores = search.cv_results_["mean_test_score"]
    assert np.all((scores > 1 / 3) & (scores <= 1))
    # The scorer is evaluate_episodes on the held-out classes of each split.
    train, test = next(ClassDisjointSplit(n_splits=2, test_size=4, random_state=0).split(X, y))
    fitted = PrototypeClassifier(metric="euclidean").fit(X[train], y[train])  # candidate 0
    expected = evaluate_episodes(fitted, X[test], y[test], n_way=3, n_shot=1, n_episodes=50,
                                 random_state=0)["accuracy"]
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(expected)
