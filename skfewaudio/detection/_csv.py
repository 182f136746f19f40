"""DCASE Task 5 CSV files: ``Audiofilename,Starttime,Endtime[,Q]``.

Prediction files have the three columns ``Audiofilename,Starttime,Endtime``.
Annotation (reference) files of the validation set add one column per class,
``Q`` for the target sound, holding ``POS``, ``UNK`` or ``NEG``.
"""

import csv

import numpy as np

from ._events import EVENT_DTYPE, as_event_table

__all__ = ["read_events_csv", "write_events_csv"]

PREDICTION_HEADER = ["Audiofilename", "Starttime", "Endtime"]


def write_events_csv(path_or_file, events, *, label=None, append=False, decimals=3):
    """Write events in the DCASE format.

    Parameters
    ----------
    path_or_file : str, Path or text file object
    events : dict of str -> event table
        Events per audio file name (the file's base name, e.g. ``"rec01.wav"``).
    label : str or None, default=None
        If given (e.g. ``"POS"``), a fourth column ``Q`` holds it: the annotation
        format. ``None`` writes the three-column prediction format.
    append : bool, default=False
        Append rows without a header (to collect files one by one).
    decimals : int, default=3
        Rounding of times in seconds (milliseconds by default).
    """
    header = PREDICTION_HEADER + (["Q"] if label is not None else [])
    own = not hasattr(path_or_file, "write")
    handle = open(path_or_file, "a" if append else "w", newline="") if own else path_or_file
    try:
        writer = csv.writer(handle)
        if not append:
            writer.writerow(header)
        for name, table in events.items():
            for row in as_event_table(table):
                out = [name, f"{row['onset']:.{decimals}f}", f"{row['offset']:.{decimals}f}"]
                writer.writerow(out + ([label] if label is not None else []))
    finally:
        if own:
            handle.close()


def read_events_csv(path_or_file, *, label="POS"):
    """Read a DCASE prediction or annotation CSV into event tables per file.

    Parameters
    ----------
    path_or_file : str, Path or text file object
    label : str or None, default="POS"
        For annotation files (with a ``Q`` column, or one class column after
        ``Endtime``): keep only rows with this value (``"UNK"`` for unknown events).
        Files without such a column keep every row.

    Returns
    -------
    events : dict of str -> ndarray of dtype EVENT_DTYPE
        Per ``Audiofilename``, sorted by onset; scores are 1. Every file named in
        the CSV is a key, with an empty table if no row has ``label``.
    """
    own = not hasattr(path_or_file, "read")
    handle = open(path_or_file, newline="") if own else path_or_file
    try:
        rows = list(csv.reader(handle))
    finally:
        if own:
            handle.close()
    if not rows:
        raise ValueError("the CSV file is empty; expected a header "
                         "'Audiofilename,Starttime,Endtime'.")
    header = [h.strip() for h in rows[0]]
    if header[:3] != PREDICTION_HEADER:
        raise ValueError(f"the CSV header is {header}; DCASE files start with "
                         f"{PREDICTION_HEADER}.")
    label_col = 3 if len(header) > 3 and label is not None else None
    times = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        name = row[0]
        times.setdefault(name, [])
        if label_col is not None and row[label_col].strip() != label:
            continue
        try:
            times[name].append((float(row[1]), float(row[2])))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"line {line} of the CSV is not 'name,start,end': {row}") from exc
    return {name: (as_event_table(t) if t else np.empty(0, dtype=EVENT_DTYPE))
            for name, t in times.items()}
