"""Heads put on an encoder: the contrastive projector and the fine-tuning classifier."""

from torch import nn


class ProjectionHead(nn.Module):
    """MLP projector ``dim -> hidden -> out`` (ReLU), dropped after pre-training."""

    def __init__(self, in_dim, hidden_dim=2048, out_dim=512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim)
        )

    @property
    def in_features(self):
        """Size of the embeddings it takes (as ``nn.Linear.in_features``)."""
        return self.net[0].in_features

    def forward(self, x):
        return self.net(x)


class ContrastiveModel(nn.Module):
    """Encoder followed by a projector; ``forward`` gives the projection,
    :meth:`embed` the encoder output used downstream.

    Spectrograms ``(batch, n_mels, n_frames)`` reach the encoder as
    ``(batch, 1, n_mels, n_frames)``.
    """

    def __init__(self, encoder, projector):
        super().__init__()
        self.encoder = encoder
        self.projector = projector

    def embed(self, spec):
        return self.encoder(spec.unsqueeze(1))

    def forward(self, spec):
        return self.projector(self.embed(spec))


def trainable_parts(encoder, n_blocks):
    """Modules of ``encoder`` to fine-tune: none (0), the last ``n_blocks`` of its
    ``blocks``, or all of it (``"all"``)."""
    if n_blocks == "all":
        return [encoder]
    if n_blocks == 0:
        return []
    blocks = getattr(encoder, "blocks", None)
    if blocks is None:
        raise ValueError(
            f"fine-tuning the last {n_blocks} block(s) needs an encoder with a `blocks` "
            f"ModuleList; {type(encoder).__name__} has none. Use 0 or 'all'."
        )
    if n_blocks > len(blocks):
        raise ValueError(
            f"the encoder has {len(blocks)} blocks; cannot fine-tune the last {n_blocks}."
        )
    return list(blocks[len(blocks) - n_blocks:])


class FineTuneNet(nn.Module):
    """A linear classifier on an encoder, fine-tuning only some of its blocks.

    Frozen parts have ``requires_grad=False`` and stay in eval mode even when the
    network trains, so their batch-norm statistics are those of pre-training.

    Parameters
    ----------
    encoder : nn.Module
        Maps (batch, 1, n_mels, n_frames) to (batch, embedding_dim).
    embedding_dim, n_classes : int
    n_blocks : int or "all"
        See :func:`trainable_parts`.
    augment : nn.Module or None
        Applied to the input in training mode only.
    """

    def __init__(self, encoder, embedding_dim, n_classes, *, n_blocks=0, augment=None):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(embedding_dim, n_classes)
        self.augment = augment
        self._trainable = trainable_parts(encoder, n_blocks)
        trainable_ids = {id(p) for part in self._trainable for p in part.parameters()}
        for p in encoder.parameters():
            p.requires_grad_(id(p) in trainable_ids)

    def train(self, mode=True):
        super().train(mode)
        if mode:
            self.encoder.eval()
            for part in self._trainable:
                part.train()
        return self

    def forward(self, spec):
        if self.training and self.augment is not None:
            spec = self.augment(spec)
        return self.head(self.encoder(spec.unsqueeze(1)))
