"""Few-shot sound event detection in long recordings (DCASE Task 5, Moummad et al. 2023).

:class:`FewShotEventDetector` learns a sound from the first annotated events of a
recording and finds the others; :func:`event_f_measure` scores detections as the
DCASE challenge does; :func:`read_events_csv` and :func:`write_events_csv` read and
write the challenge's CSV format; :func:`detect_recordings` runs a detector over
many recordings in parallel (joblib, and so Dask).
"""

from ._batch import detect_recordings
from ._csv import read_events_csv, write_events_csv
from ._detector import FewShotEventDetector, adaptive_window_seconds
from ._events import EVENT_DTYPE, as_event_table, events_to_records, scores_to_events
from ._metric import event_counts, event_f_measure, match_events, remove_shots
from ._synthetic import make_event_recording

__all__ = [
    "EVENT_DTYPE",
    "FewShotEventDetector",
    "adaptive_window_seconds",
    "as_event_table",
    "detect_recordings",
    "event_counts",
    "event_f_measure",
    "events_to_records",
    "make_event_recording",
    "match_events",
    "read_events_csv",
    "remove_shots",
    "scores_to_events",
    "write_events_csv",
]
