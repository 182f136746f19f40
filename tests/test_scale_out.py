"""Many recordings in parallel through joblib, and so on a Dask cluster."""

import joblib
import numpy as np
import pytest
import soundfile as sf

from skfewaudio.detection import FewShotEventDetector, detect_recordings, make_event_recording
from skfewaudio.search import EmbeddingStore

SR = 16000


@pytest.fixture(scope="module")
def recordings():
    waves, shots = [], []
    for i in range(3):
        x, ev = make_event_recording(8, n_events=7, n_distractors=1, random_state=i)
        waves.append(x)
        shots.append(np.stack([ev["onset"], ev["offset"]], axis=1))
    return waves, shots


DETECTOR = FewShotEventDetector(random_state=0, max_negative_windows=100)


def _assert_same_events(a, b):
    assert [len(e) for e in a] == [len(e) for e in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["onset"], y["onset"])
        np.testing.assert_array_equal(x["offset"], y["offset"])
        np.testing.assert_allclose(x["score"], y["score"], rtol=1e-5)


def test_detect_recordings_is_one_fitted_detector_per_recording(recordings):
    waves, shots = recordings
    events = detect_recordings(DETECTOR, waves, shots)
    alone = FewShotEventDetector(**DETECTOR.get_params()).fit(waves[1], shots[1])
    _assert_same_events([events[1]], [alone.predict(waves[1])])
    assert sum(len(e) for e in events) >= 3 * (7 - 5) - 1
    with joblib.parallel_config(backend="threading"):
        _assert_same_events(detect_recordings(DETECTOR, waves, shots, n_jobs=2), events)


def test_errors_name_the_recording(recordings):
    waves, shots = recordings
    with pytest.raises(ValueError, match="recording 1: 2 annotated event"):
        detect_recordings(DETECTOR, waves[:2], [shots[0], shots[1][:2]])
    with pytest.raises(ValueError, match="2 recordings but 1 annotation"):
        detect_recordings(DETECTOR, waves[:2], shots[:1])


@pytest.mark.dask
def test_a_dask_cluster_gives_the_serial_results(recordings, tmp_path):
    distributed = pytest.importorskip("distributed")
    waves, shots = recordings
    files = []
    for i, x in enumerate(waves):
        files.append(tmp_path / f"rec{i}.wav")
        sf.write(files[-1], x, SR)
    serial_events = detect_recordings(DETECTOR, files, shots)
    serial = EmbeddingStore.create(tmp_path / "serial", window_seconds=0.5)
    serial.add_recordings(files)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_config(backend="dask"):
        events = detect_recordings(DETECTOR, files, shots, n_jobs=-1)
        store = EmbeddingStore.create(tmp_path / "dask", window_seconds=0.5)
        store.add_recordings(files, n_jobs=-1)
    _assert_same_events(events, serial_events)
    np.testing.assert_allclose(store.embeddings, serial.embeddings, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(store.windows, serial.windows)
