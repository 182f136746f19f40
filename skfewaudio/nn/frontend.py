"""Log-mel spectrogram as a torch module (no scikit-learn, no librosa at run time)."""

import torch
from torch import nn


class LogMelSpectrogram(nn.Module):
    """Batched (log-)mel power spectrogram.

    Equivalent to ``librosa.feature.melspectrogram(center=True, pad_mode="constant")``
    followed by ``librosa.power_to_db(ref=1.0, amin=amin, top_db=None)``.

    Parameters
    ----------
    mel_filters : Tensor of shape (n_mels, n_fft // 2 + 1)
        Mel filterbank, e.g. ``librosa.filters.mel(...)``.
    n_fft, hop_length : int
        STFT size and hop in samples; the window is a periodic Hann window.
    power : float
        Exponent of the magnitude (2 = power).
    log : bool
        Return decibels ``10 * log10(max(S, amin))`` instead of the mel power.
    """

    def __init__(self, mel_filters, *, n_fft, hop_length, power=2.0, log=True, amin=1e-10):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        self.log = log
        self.amin = amin
        self.register_buffer("mel_filters", torch.as_tensor(mel_filters, dtype=torch.float32))
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True))

    def forward(self, waveforms):
        """(batch, n_samples) -> (batch, n_mels, n_frames)."""
        spec = torch.stft(
            waveforms,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        spec = spec.abs()
        spec = spec.square() if self.power == 2.0 else spec.pow(self.power)
        mel = torch.matmul(self.mel_filters, spec)
        if self.log:
            mel = 10.0 * torch.log10(mel.clamp_min(self.amin))
        return mel
