"""Event tables and the post-processing that turns window scores into events.

An *event table* is a structured numpy array with fields ``onset`` and ``offset``
(seconds, float64) and ``score`` (float64), sorted by onset. It is pandas-free and
converts to a list of dicts with :func:`events_to_records`.
"""

import numpy as np

__all__ = ["EVENT_DTYPE", "as_event_table", "events_to_records", "scores_to_events"]

EVENT_DTYPE = np.dtype([("onset", "f8"), ("offset", "f8"), ("score", "f8")])


def as_event_table(events):
    """Read events given as a table, an array or a list into an event table.

    Parameters
    ----------
    events : structured ndarray, array-like of shape (n_events, 2) or (n_events, 3), \
            or list of dicts
        Structured arrays need fields ``onset`` and ``offset`` (``score`` optional);
        plain arrays hold ``onset, offset[, score]`` per row; dicts need keys
        ``onset`` and ``offset`` (``score`` optional). Missing scores are 1.

    Returns
    -------
    table : ndarray of dtype EVENT_DTYPE, shape (n_events,)
        Sorted by onset.

    Raises
    ------
    ValueError
        If an event has a non-finite time or ends before it starts.
    """
    if isinstance(events, np.ndarray) and events.dtype.names is not None:
        names = events.dtype.names
        missing = {"onset", "offset"} - set(names)
        if missing:
            raise ValueError(f"event table lacks field(s) {sorted(missing)}; has {names}.")
        table = np.empty(len(events), dtype=EVENT_DTYPE)
        table["onset"] = events["onset"]
        table["offset"] = events["offset"]
        table["score"] = events["score"] if "score" in names else 1.0
    elif isinstance(events, (list, tuple)) and events and isinstance(events[0], dict):
        table = np.empty(len(events), dtype=EVENT_DTYPE)
        for i, row in enumerate(events):
            table[i] = (row["onset"], row["offset"], row.get("score", 1.0))
    else:
        array = np.asarray(events, dtype=np.float64)
        if array.size == 0:
            return np.empty(0, dtype=EVENT_DTYPE)
        if array.ndim != 2 or array.shape[1] not in (2, 3):
            raise ValueError(
                f"events must have shape (n_events, 2) (onset, offset) or (n_events, 3) "
                f"(onset, offset, score); got shape {array.shape}."
            )
        table = np.empty(len(array), dtype=EVENT_DTYPE)
        table["onset"] = array[:, 0]
        table["offset"] = array[:, 1]
        table["score"] = array[:, 2] if array.shape[1] == 3 else 1.0
    times = np.stack([table["onset"], table["offset"]], axis=1)
    if not np.isfinite(times).all():
        raise ValueError(f"event {int(np.argwhere(~np.isfinite(times))[0, 0])} has a "
                         "non-finite onset or offset.")
    bad = np.flatnonzero(table["offset"] < table["onset"])
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"event {i} ends ({table['offset'][i]:.3f} s) before it starts "
                         f"({table['onset'][i]:.3f} s).")
    return table[np.argsort(table["onset"], kind="stable")]


def events_to_records(table):
    """An event table as a list of ``{"onset", "offset", "score"}`` dicts."""
    return [{"onset": float(r["onset"]), "offset": float(r["offset"]),
             "score": float(r["score"])} for r in as_event_table(table)]


def scores_to_events(segment_scores, *, start, step, threshold=0.5, merge_gap=0.0,
                     min_duration=0.0):
    """Threshold a score track and turn runs above threshold into events.

    Parameters
    ----------
    segment_scores : ndarray of shape (n_segments,)
        Score of consecutive segments of ``step`` seconds, the first beginning at
        ``start``.
    start : float
        Time of the first segment in seconds.
    step : float
        Segment length in seconds.
    threshold : float, default=0.5
        A segment is active when its score is at least this.
    merge_gap : float, default=0.0
        Events separated by a silence shorter than or equal to this (seconds) are
        merged into one (gaps of one-segment drop-outs inside a call close this way).
    min_duration : float, default=0.0
        Events shorter than this (seconds), after merging, are removed.

    Returns
    -------
    events : ndarray of dtype EVENT_DTYPE
        The score of an event is the largest segment score inside it.
    """
    scores = np.asarray(segment_scores, dtype=np.float64)
    active = np.concatenate([[False], scores >= threshold, [False]])
    edges = np.diff(active.astype(np.int8))
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1)  # one past the last active segment
    runs = []
    for a, b in zip(first, last):
        onset, offset, best = start + a * step, start + b * step, scores[a:b].max()
        # The tolerance absorbs float error in gaps computed from segment counts.
        if runs and onset - runs[-1][1] <= merge_gap + 1e-9 * max(1.0, step):
            runs[-1] = (runs[-1][0], offset, max(runs[-1][2], best))
        else:
            runs.append((onset, offset, best))
    table = np.array(runs, dtype=EVENT_DTYPE) if runs else np.empty(0, dtype=EVENT_DTYPE)
    keep = (table["offset"] - table["onset"]) >= min_duration - 1e-9
    return table[keep]
