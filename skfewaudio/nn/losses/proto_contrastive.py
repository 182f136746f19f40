"""Prototypical loss plus a supervised-contrastive or angular term (Wang et al., MLSP 2025)."""

from torch import nn
from torch.nn import functional as F


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
    base_class_weight : float, default=0.0
        Weight of the cross-entropy of the network's base-class logits (its
        :class:`~skfewaudio.nn.heads.CosineClassifier`), when it has one.

    Notes
    -----
    ``forward(output, labels, n_support)`` takes ``output = (fused, projected,
    class_logits)`` from :class:`~skfewaudio.nn.fusion.MultiViewEncoder` in training
    mode: fused embeddings (batch, dim) for the prototypical term, projected view
    embeddings (batch * n_views, proj_dim) for the contrastive term, so that the views
    of one clip are positives of each other, and base-class logits (batch, n_classes)
    or None. ``labels`` are the episode labels (batch,), or (batch, 2): episode labels
    and base-class codes, which the base-class term needs.
    """

    def __init__(self, prototypical, contrastive=None, weight=0.5, temperature=0.1,
                 alpha=40.0, miner_angle=20.0, base_class_weight=0.0):
        super().__init__()
        self.prototypical = prototypical
        self.weight = weight
        self.base_class_weight = base_class_weight
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
        class_logits = output[2] if len(output) > 2 else None
        base_codes = None
        if labels.ndim == 2:
            labels, base_codes = labels[:, 0], labels[:, 1]
        loss = self.prototypical(fused, labels, n_support)
        self.last_terms = {"prototypical": float(loss.detach())}
        if self.base_class_weight and class_logits is not None:
            if base_codes is None:
                raise ValueError("the base-class term needs labels of shape (batch, 2): "
                                 "episode labels and base-class codes.")
            base = F.cross_entropy(class_logits.float(), base_codes)
            self.last_terms["base_class"] = float(base.detach())
            loss = loss + self.base_class_weight * base
        return loss + self._contrastive(projected, labels)

    def _contrastive(self, projected, labels):
        """``weight`` x the contrastive term of the view projections (0 without one)."""
        if self.term is None or self.weight == 0 or projected is None:
            return 0.0
        view_labels = labels.repeat_interleave(len(projected) // len(labels))
        projected = projected.float()
        if self.miner is not None:
            contrast = self.term(projected, view_labels, self.miner(projected, view_labels))
        else:
            contrast = self.term(projected, view_labels)
        self.last_terms["contrastive"] = float(contrast.detach())
        return self.weight * contrast
