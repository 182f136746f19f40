"""Prototypical loss plus a supervised-contrastive or angular term (Wang et al., MLSP 2025)."""

from torch import nn


class ProtoContrastiveLoss(nn.Module):
    """Prototypical loss on fused embeddings + ``weight`` x a contrastive term.

    Parameters
    ----------
    prototypical : PrototypicalLoss
    contrastive : {"supcon", "angular"} or None, default=None
        ``supcon``: pytorch-metric-learning ``SupConLoss(temperature)``;
        ``angular``: ``AngularLoss(alpha)`` on the pairs of an ``AngularMiner(angle)``
        (as the reference implementation); ``None``: no contrastive term.
    weight : float, default=0.5
    temperature : float, default=0.1
        SupCon temperature.
    alpha : float, default=40
        Angular-loss angle in degrees.
    miner_angle : float, default=20
        Angular-miner angle in degrees.

    Notes
    -----
    ``forward(output, labels, n_support)`` takes ``output = (fused, projected, view_labels)``
    from :class:`~skfewaudio.nn.fusion.MultiViewEncoder` in training mode: fused
    embeddings (batch, dim) for the prototypical term and projected view embeddings
    (batch * n_views, proj_dim) for the contrastive term, so that the views of one clip
    are positives of each other.
    """

    def __init__(self, prototypical, contrastive=None, weight=0.5, temperature=0.1,
                 alpha=40.0, miner_angle=20.0):
        super().__init__()
        self.prototypical = prototypical
        self.weight = weight
        self.contrastive = contrastive
        self.miner = None
        # Imported when the loss is built, so `import skfewaudio` stays light.
        if contrastive == "supcon":
            from pytorch_metric_learning.losses import SupConLoss

            self.term = SupConLoss(temperature=temperature)
        elif contrastive == "angular":
            from pytorch_metric_learning.losses import AngularLoss
            from pytorch_metric_learning.miners import AngularMiner

            self.term = AngularLoss(alpha=alpha)
            self.miner = AngularMiner(angle=miner_angle)
        elif contrastive is None:
            self.term = None
        else:
            raise ValueError(
                f"contrastive must be 'supcon', 'angular' or None, got {contrastive!r}.")
        self.last_terms = {}

    def forward(self, output, labels, n_support):
        fused, projected = output[0], output[1]
        proto = self.prototypical(fused, labels, n_support)
        self.last_terms = {"prototypical": float(proto.detach())}
        if self.term is None or self.weight == 0 or projected is None:
            return proto
        view_labels = labels.repeat_interleave(len(projected) // len(labels))
        projected = projected.float()
        if self.miner is not None:
            contrast = self.term(projected, view_labels, self.miner(projected, view_labels))
        else:
            contrast = self.term(projected, view_labels)
        self.last_terms["contrastive"] = float(contrast.detach())
        return proto + self.weight * contrast
