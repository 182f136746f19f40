"""A fixed random audio encoder with the shapes of a CLAP audio tower."""

from torch import nn


class RandomAudioTower(nn.Module):
    """Standardised log-mel -> two random conv blocks -> frequency pooling -> projection.

    The audio side of the offline test backbone: its weights stay as initialised.

    Parameters
    ----------
    log_mel : nn.Module
        Waveforms (batch, n_samples) -> log-mel (batch, n_mels, n_frames), e.g.
        :class:`~skfewaudio.nn.LogMelSpectrogram`.
    channels : int
        Maps of the first block (the second has twice as many).
    embed_dim : int
        Size of the segment and clip embeddings.

    ``forward(waveforms)`` returns the clip embedding (batch, embed_dim) and the
    segment embeddings (batch, n_segments, embed_dim).
    """

    def __init__(self, log_mel, *, channels, embed_dim):
        super().__init__()
        self.log_mel = log_mel
        # Odd activation, no biases, no activation at the end: random features stay
        # centred, so cosines between different sounds stay well below 1.
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1, bias=False), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False), nn.AvgPool2d(2),
            nn.AvgPool2d((1, 2)),  # segments of 160 ms: few segments keep OT cheap
        )
        self.projection = nn.Linear(2 * channels, embed_dim, bias=False)

    def forward(self, waveforms):
        mel = self.log_mel(waveforms)  # (batch, n_mels, frames), dB
        # Standardise each clip (level invariance without learned statistics).
        mel = mel - mel.mean(dim=(1, 2), keepdim=True)
        x = (mel / mel.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)).unsqueeze(1)
        x = self.conv(x).mean(dim=2)  # frequency pooling -> (batch, channels, segments)
        fine = self.projection(x.transpose(1, 2))
        return fine.mean(dim=1), fine
