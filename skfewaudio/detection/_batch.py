"""Run one FewShotEventDetector per recording over many recordings, in parallel."""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from tqdm.auto import tqdm

__all__ = ["detect_recordings"]


def detect_recordings(detector, recordings, annotations, *, n_jobs=None, progress=False):
    """Fit a clone of ``detector`` on each recording's first events and detect the rest.

    Recordings are processed in parallel through joblib, so the same call runs on a
    Dask cluster when wrapped in ``with joblib.parallel_config(backend="dask"):``
    (after connecting a ``dask.distributed.Client``), or on Ray with its joblib
    backend, without other changes. Results come back in the order of
    ``recordings`` and do not depend on ``n_jobs`` or the backend.

    Parameters
    ----------
    detector : FewShotEventDetector
        Unfitted template; each recording gets its own clone (set ``random_state``
        for repeatable results).
    recordings : sequence of str, PathLike or ndarray of shape (n_samples,)
        Sound files (read piece by piece where the work runs: give paths every
        worker can reach) or mono waveforms at the detector's ``sample_rate``.
    annotations : sequence of event tables
        For each recording, its annotated events (anything ``detector.fit`` takes as
        ``y``: an (n_events, 2) array of onset/offset seconds, an event table...).
    n_jobs : int or None, default=None
        Recordings processed at once (joblib's meaning: -1 is all cores or workers).
    progress : bool, default=False
        Show a progress bar over recordings.

    Returns
    -------
    events : list of ndarray of dtype EVENT_DTYPE
        The detected events of each recording, after its annotated shots.
    """
    recordings, annotations = list(recordings), list(annotations)
    if len(recordings) != len(annotations):
        raise ValueError(f"{len(recordings)} recordings but {len(annotations)} annotation "
                         "tables; give one table of annotated events per recording.")
    jobs = (delayed(_fit_predict)(clone(detector), recording, shots, i)
            for i, (recording, shots) in enumerate(zip(recordings, annotations)))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    return list(tqdm(results, total=len(recordings), disable=not progress,
                     desc="recordings", unit="recording"))


def _fit_predict(detector, recording, shots, position):
    try:
        return detector.fit(recording, shots).predict(recording)
    except ValueError as exc:  # name the recording among many
        where = recording if not isinstance(recording, np.ndarray) else f"recording {position}"
        raise ValueError(f"{where}: {exc}") from None
