"""The DCASE few-shot bioacoustic event metric (DCASE 2022-2024 Task 5).

Follows the official evaluation code of the challenge (``evaluation_metrics`` in the
task's baseline repository), step by step:

1. In each reference file the events are sorted by onset and every event (``POS``
   or ``UNK``) that ends at or before the end of the ``n_shots``-th ``POS`` event is
   removed: those shots were given to the system.
2. Predicted events are matched one-to-one to reference ``POS`` events whose
   intersection over union (IoU) is **above** ``min_iou`` (0.3), by a maximum
   bipartite matching. Matched predictions are true positives.
3. The remaining predictions are matched the same way to ``UNK`` events; those
   matches count neither as true nor as false positives.
4. ``FP`` = predictions left unmatched, ``FN`` = ``POS`` events left unmatched.
5. Counts are summed over the files of each subset (in DCASE, a subset is one
   recording campaign such as ``HB`` or ``ME``); precision, recall and F-measure
   are computed per subset from the summed counts; the overall scores are the
   harmonic means over subsets. A score with a zero numerator is set to
   ``1e-5`` so that the harmonic mean stays defined, as in the official code.

Why not sed_eval or dcase_util: sed_eval's event-based metrics match events by
onset/offset collars (default 200 ms), not by IoU, and know neither ``UNK``
events nor the per-subset harmonic mean; dcase_util wraps sed_eval. The matching
itself uses :func:`scipy.sparse.csgraph.maximum_bipartite_matching` (the official
code uses mir_eval's Hopcroft-Karp; both give a maximum matching).

One documented difference: for a file with no predicted event at all, the
official script counts *every* ``POS`` event of the file as a false negative,
including the shots it removes everywhere else. Here the shots are removed for
every file alike.
"""

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.stats import hmean

from ._events import as_event_table

__all__ = ["match_events", "event_counts", "event_f_measure", "remove_shots"]

MIN_EVAL_VALUE = 1e-5


def _iou_matrix(reference, prediction):
    on_r, off_r = reference["onset"][:, None], reference["offset"][:, None]
    on_p, off_p = prediction["onset"][None, :], prediction["offset"][None, :]
    inter = np.minimum(off_r, off_p) - np.maximum(on_r, on_p)
    union = np.maximum(off_r, off_p) - np.minimum(on_r, on_p)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where((inter > 0) & (union > 0), inter / union, 0.0)
    return iou


def match_events(reference, prediction, *, min_iou=0.3):
    """One-to-one matching of predicted to reference events by IoU.

    Parameters
    ----------
    reference, prediction : event tables (see :func:`as_event_table`)
    min_iou : float, default=0.3
        A pair can match only when its intersection over union is above this.

    Returns
    -------
    pairs : list of (int, int)
        ``(i, j)``: reference event ``i`` matches predicted event ``j`` (indices in
        onset order). The list has maximum length among all valid matchings.
    """
    reference, prediction = as_event_table(reference), as_event_table(prediction)
    if len(reference) == 0 or len(prediction) == 0:
        return []
    allowed = _iou_matrix(reference, prediction) > min_iou
    matched = maximum_bipartite_matching(csr_matrix(allowed), perm_type="column")
    return [(int(i), int(j)) for i, j in enumerate(matched) if j >= 0]


def remove_shots(reference, n_shots, *, unknown=None):
    """Drop the shots given to the system (and everything ending before them).

    Returns ``(reference, unknown)`` without the events that end at or before the
    end of the ``n_shots``-th reference event, as the DCASE evaluation does.
    """
    reference = as_event_table(reference)
    unknown = as_event_table(unknown if unknown is not None else np.empty((0, 2)))
    if n_shots == 0:
        return reference, unknown
    if len(reference) < n_shots:
        raise ValueError(
            f"the reference has {len(reference)} event(s), fewer than n_shots={n_shots}."
        )
    end = reference["offset"][n_shots - 1]
    return reference[reference["offset"] > end], unknown[unknown["offset"] > end]


def event_counts(reference, prediction, *, unknown=None, min_iou=0.3):
    """True positives, false positives and false negatives of one file.

    Parameters
    ----------
    reference : event table
        ``POS`` events to find (shots already removed).
    prediction : event table
    unknown : event table or None, default=None
        ``UNK`` events: a prediction matching one is neither right nor wrong.
    min_iou : float, default=0.3

    Returns
    -------
    counts : dict
        ``tp``, ``fp``, ``fn`` and ``n_reference`` (number of ``POS`` events).
    """
    reference, prediction = as_event_table(reference), as_event_table(prediction)
    pairs = match_events(reference, prediction, min_iou=min_iou)
    tp = len(pairs)
    n_unk = 0
    if unknown is not None and len(unknown):
        left = np.setdiff1d(np.arange(len(prediction)), [j for _, j in pairs])
        n_unk = len(match_events(unknown, prediction[left], min_iou=min_iou))
    return {"tp": tp, "fp": len(prediction) - tp - n_unk, "fn": len(reference) - tp,
            "n_reference": len(reference)}


def _scores(counts):
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = max(tp / (tp + fp), MIN_EVAL_VALUE) if tp + fp else MIN_EVAL_VALUE
    recall = tp / (tp + fn) if tp else MIN_EVAL_VALUE
    f_measure = tp / (tp + 0.5 * (fp + fn)) if tp else MIN_EVAL_VALUE
    return {"precision": precision, "recall": recall, "f_measure": f_measure}


def event_f_measure(reference, prediction, *, unknown=None, subsets=None, n_shots=5,
                    min_iou=0.3):
    """Event-based precision, recall and F-measure as in DCASE Task 5.

    See the module documentation for the exact procedure.

    Parameters
    ----------
    reference : dict of str -> event table, or one event table
        Reference ``POS`` events per file, *including* the annotated shots (as DCASE
        annotation files do); the first ``n_shots`` are removed before scoring.
        A single table is read as one file named ``"recording"``.
    prediction : dict of str -> event table, or one event table
        Predicted events per file (only after the shots). A file of the reference
        missing here has no prediction (all its events are missed).
    unknown : dict of str -> event table or None, default=None
        ``UNK`` events per file.
    subsets : dict of str -> str or None, default=None
        Subset of each file (e.g. its recording campaign or target sound). Counts
        are pooled per subset and the overall scores are harmonic means over
        subsets. ``None`` puts every file in one subset (pooled counts).
    n_shots : int, default=5
        Number of leading reference events to remove per file (0 if they were
        removed already).
    min_iou : float, default=0.3

    Returns
    -------
    scores : dict
        ``precision``, ``recall``, ``f_measure`` (overall, fractions in [0, 1]),
        ``per_subset`` and ``per_file``: dicts of the same scores with the counts
        ``tp``, ``fp``, ``fn`` and ``n_reference``.

    Raises
    ------
    ValueError
        If predictions name a file missing from the reference, or a reference file
        has fewer than ``n_shots`` events.
    """
    if not isinstance(reference, dict):
        reference = {"recording": reference}
        prediction = {"recording": prediction}
        if unknown is not None:
            unknown = {"recording": unknown}
    unknown = unknown or {}
    extra = sorted(set(prediction) - set(reference))
    if extra:
        raise ValueError(f"predictions for file(s) {extra} that have no reference.")
    subsets = subsets or {}
    per_file, pooled = {}, {}
    for name in sorted(reference):
        ref, unk = remove_shots(reference[name], n_shots, unknown=unknown.get(name))
        pred = prediction.get(name, np.empty((0, 2)))
        counts = event_counts(ref, pred, unknown=unk, min_iou=min_iou)
        per_file[name] = {**counts, **_scores(counts)}
        subset = subsets.get(name, "all") if subsets else "all"
        total = pooled.setdefault(subset, dict.fromkeys(counts, 0))
        for key, value in counts.items():
            total[key] += value
    per_subset = {name: {**c, **_scores(c)} for name, c in pooled.items()}
    overall = {key: float(hmean([s[key] for s in per_subset.values()]))
               for key in ("precision", "recall", "f_measure")} if per_subset else {}
    return {**overall, "per_subset": per_subset, "per_file": per_file}
