"""Cut long recordings into timed windows and embed them, reading files piece by piece."""

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._encoders import fit_without_data
from .._prototypes import as_2d_embedding
from .._validation import check_finite_samples, check_waveforms
from .._windows import window_starts
from ..features import MelStatistics, SpectralStatistics

_BLOCK_SECONDS = 60.0  # audio read and resampled at once: bounds memory on long files


class UnreadableRecording(ValueError):
    """A recording that could not be read or holds no samples; says which and why."""


# The encoders whose fit may only check parameters, so that a store rebuilds them from
# the parameters in its header.
LEARNING_FREE = (MelStatistics, SpectralStatistics)


def is_learning_free(encoder):
    """Whether fitting ``encoder`` only checks its parameters: a ``MelStatistics``, or a
    ``SpectralStatistics`` unless it standardises with statistics fitted on clips."""
    return isinstance(encoder, LEARNING_FREE) and getattr(encoder, "standardize", None) != "fit"


def ready_encoder(encoder, sample_rate):
    """The encoder to embed windows with: fitted, at ``sample_rate``; None is the
    library's default encoder, ``SpectralStatistics``."""
    if encoder is None:
        return fit_without_data(SpectralStatistics(sample_rate=sample_rate))
    rate = encoder.get_params(deep=False).get("sample_rate") if hasattr(
        encoder, "get_params") else None
    if isinstance(rate, int) and rate != sample_rate:
        raise ValueError(f"the encoder works at sample_rate={rate} but the corpus is read at "
                         f"{sample_rate}; set both to the same rate.")
    try:
        check_is_fitted(encoder)
    except NotFittedError:
        if is_learning_free(encoder):
            return fit_without_data(encoder)
        raise ValueError(
            f"the encoder {type(encoder).__name__} is not fitted; windows of a corpus are "
            "embedded by a fitted (or learning-free) encoder: fit it first."
        ) from None
    return encoder


def read_blocks(path, sample_rate, block_seconds=_BLOCK_SECONDS):
    """Yield float32 mono blocks of a sound file, resampled to ``sample_rate``; a file
    the decoder fails on raises :class:`UnreadableRecording`."""
    try:
        yield from _decoded_blocks(path, sample_rate, block_seconds)
    except Exception as exc:  # any decoder failure, named with its file
        raise UnreadableRecording(f"{path}: {exc}") from exc


def _decoded_blocks(path, sample_rate, block_seconds):
    import soundfile as sf

    with sf.SoundFile(str(path)) as handle:
        stream = None
        if handle.samplerate != sample_rate:
            import soxr

            stream = soxr.ResampleStream(handle.samplerate, sample_rate, 1, dtype="float32")
        size = max(1, int(block_seconds * handle.samplerate))
        offset = 0
        while True:
            block = handle.read(size, dtype="float32", always_2d=True).mean(axis=1)
            check_finite_samples(block, handle.samplerate, offset)
            offset += len(block)
            last = len(block) < size
            if stream is not None:
                block = stream.resample_chunk(block, last=last)
            if len(block):
                yield np.ascontiguousarray(block, dtype=np.float32)
            if last:
                return


def embed_recording(source, encoder, *, sample_rate, window_seconds, hop_seconds,
                    batch_size=256):
    """Embed the windows of one recording.

    Parameters
    ----------
    source : str, PathLike or ndarray of shape (n_samples,)
        A sound file (read in blocks, resampled if needed) or a mono waveform at
        ``sample_rate``.
    encoder : fitted transformer
        Maps a batch of windows ``(n_windows, n_samples)`` to embeddings.
    sample_rate : int
    window_seconds, hop_seconds : float
    batch_size : int, default=256
        Windows per call of the encoder.

    Returns
    -------
    starts, ends : ndarray of shape (n_windows,)
        Window times in seconds.
    embeddings : ndarray of shape (n_windows, n_features)
        float32.
    duration : float
        Length of the recording in seconds.
    """
    window = max(1, int(round(window_seconds * sample_rate)))
    hop = max(1, int(round(hop_seconds * sample_rate)))
    if isinstance(source, np.ndarray):
        blocks = iter([check_waveforms([source])[0]])
    else:
        blocks = read_blocks(source, sample_rate)
    parts, pending, starts = [], [], []
    buffer, buffer_start, next_start = np.empty(0, np.float32), 0, 0
    for block in blocks:
        buffer = np.concatenate([buffer, block]) if len(buffer) else block
        end = buffer_start + len(buffer)
        while next_start + window <= end:
            pending.append(buffer[next_start - buffer_start: next_start - buffer_start + window])
            starts.append(next_start)
            next_start += hop
            if len(pending) == batch_size:
                parts.append(_embed(encoder, pending))
                pending = []
        keep_from = min(next_start, end - window)  # the tail window may still need these
        if keep_from > buffer_start:
            buffer, buffer_start = buffer[keep_from - buffer_start:], keep_from
    n_samples = buffer_start + len(buffer)
    if n_samples == 0:
        raise UnreadableRecording(f"{_name(source)}: the file holds no samples")
    tail = window_starts(n_samples, window, hop)[-1]
    if not starts:  # shorter than one window: embedded whole
        pending, starts = [buffer], [0]
    elif starts[-1] != tail:
        pending.append(buffer[tail - buffer_start: tail - buffer_start + window])
        starts.append(tail)
    if pending:
        parts.append(_embed(encoder, pending))
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.minimum(starts + window, n_samples)
    return starts / sample_rate, ends / sample_rate, np.concatenate(parts), n_samples / sample_rate


def _embed(encoder, windows):
    batch = np.stack(windows) if len({len(w) for w in windows}) == 1 else list(windows)
    return as_2d_embedding(encoder.transform(batch))


def _name(source):
    return "the recording" if isinstance(source, np.ndarray) else str(source)
