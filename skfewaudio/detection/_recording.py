"""Read one long mono recording piece by piece, from memory or from a sound file."""

import os

import numpy as np
from scipy.sparse import issparse

from .._validation import check_sample_dtype, check_waveforms, first_non_finite


class Recording:
    """Random access to the samples of one recording without loading all of it.

    Parameters
    ----------
    X : 1-D array-like, or str / PathLike of a sound file
        An array (a ``np.memmap`` is read lazily) or a file soundfile can read
        (multichannel files are averaged to mono, block by block).
    sample_rate : int
        Expected sample rate; a file at another rate is refused.
    """

    def __init__(self, X, sample_rate):
        self.sample_rate = sample_rate
        self.path = None
        if isinstance(X, (str, os.PathLike)):
            import soundfile as sf

            try:
                info = sf.info(str(X))
            except (RuntimeError, OSError) as exc:  # soundfile's errors are RuntimeErrors
                raise OSError(f"cannot read the recording {X}: {exc}") from None
            if info.samplerate != sample_rate:
                raise ValueError(
                    f"{X} is sampled at {info.samplerate} Hz but the detector expects "
                    f"sample_rate={sample_rate}; resample the file (e.g. librosa.resample) "
                    "or set sample_rate to match the encoder."
                )
            self.path = str(X)
            self.n_samples = int(info.frames)
        else:
            if issparse(X):
                raise TypeError("Sparse input is not supported: a recording is a dense "
                                "1-D waveform.")
            array = X if isinstance(X, np.ndarray) else np.asarray(X)
            if array.ndim == 2 and 1 in array.shape:
                raise ValueError(
                    f"the recording has shape {array.shape}; pass one mono recording as a "
                    "1-D array (e.g. X.ravel())."
                )
            if array.ndim != 1:
                raise ValueError(
                    f"the recording must be one mono waveform, a 1-D array; got shape "
                    f"{array.shape}. Down-mix multichannel audio first (x.mean(axis=0) "
                    "for (n_channels, n_samples))."
                )
            if array.size == 0:
                raise ValueError("the recording is empty (0 samples).")
            check_sample_dtype(array, "the recording")
            self.array = array
            self.n_samples = len(array)
        if self.n_samples == 0:
            raise ValueError("the recording is empty (0 samples).")

    @property
    def duration(self):
        return self.n_samples / self.sample_rate

    def read(self, start, stop):
        """float32 samples ``[start, stop)``, validated (finite, audio dtype)."""
        if self.path is not None:
            import soundfile as sf

            with sf.SoundFile(self.path) as handle:
                handle.seek(start)
                block = handle.read(stop - start, dtype="float32", always_2d=True).mean(axis=1)
        else:
            block = np.asarray(self.array[start:stop])
        # Name the file and the time in the recording rather than "clip 0, sample i".
        found = first_non_finite(block[np.newaxis]) if block.dtype.kind == "f" else None
        if found is not None:
            _, index, what = found
            index += start
            raise ValueError(f"{self.path or 'the recording'} holds {what} at sample {index} "
                             f"({index / self.sample_rate:.2f} s); repair it first.")
        return check_waveforms([block])[0]

    def windows(self, starts, length):
        """Stack the windows ``[s, s + length)`` for each start into (n, length)."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), length), dtype=np.float32)
        if len(starts) == 0:
            return out
        if self.path is None:
            for i, s in enumerate(starts):
                out[i] = self.read(s, s + length)
            return out
        # One read per run of nearby windows keeps file access cheap.
        lo, hi = int(starts.min()), int(starts.max()) + length
        if hi - lo <= 64 * length:
            block = self.read(lo, hi)
            for i, s in enumerate(starts):
                out[i] = block[s - lo: s - lo + length]
        else:
            for i, s in enumerate(starts):
                out[i] = self.read(s, s + length)
        return out
