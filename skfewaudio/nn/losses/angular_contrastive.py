"""Angular contrastive loss (ACL, Wang et al., ICASSP 2023): contrastive + angular margin.

``ACL = alpha * contrastive + (1 - alpha) * angular_margin``. The contrastive part is
pytorch-metric-learning's :class:`SupConLoss` (labels = classes) or
:class:`NTXentLoss` (labels = clip identities, self-supervised); only the angular-margin
term, which that library lacks, is written here.

pytorch-metric-learning is imported when a loss is built, so ``import skfewaudio``
stays light.
"""

from torch import nn

from .angular_margin import AngularMarginLoss


def _metric_learning_losses():
    try:
        from pytorch_metric_learning import losses
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the contrastive losses need pytorch-metric-learning, a dependency of "
            "skfewaudio: pip install pytorch-metric-learning"
        ) from exc
    return losses


def contrastive_loss(kind="supcon", temperature=0.06):
    """pytorch-metric-learning's contrastive loss ``forward(embeddings, labels)``.

    Parameters
    ----------
    kind : {"supcon", "ntxent"}
        ``supcon`` is the supervised contrastive loss (Khosla et al., 2020): every
        other view with the anchor's label is a positive. ``ntxent`` is NT-Xent
        (SimCLR): each positive pair is scored against the negatives only. With two
        views per clip and clip identities as labels both are the same loss.
    temperature : float
    """
    losses = _metric_learning_losses()
    if kind == "supcon":
        return losses.SupConLoss(temperature=temperature)
    if kind == "ntxent":
        return losses.NTXentLoss(temperature=temperature)
    raise ValueError(f"kind must be 'supcon' or 'ntxent', got {kind!r}.")


class AngularContrastiveLoss(nn.Module):
    """``alpha * contrastive + (1 - alpha) * angular margin`` (Wang et al., ICASSP 2023).

    Parameters
    ----------
    alpha : float, default=0.7
        Weight of the contrastive part; the paper uses 0.7 supervised and 0.3
        self-supervised. ``alpha=1`` is the plain contrastive loss.
    margin : float, default=0.5
        Angular margin in radians (:class:`AngularMarginLoss`).
    temperature : float, default=0.06
    contrastive : {"supcon", "ntxent"}, default="supcon"
        See :func:`contrastive_loss`.
    """

    def __init__(self, alpha=0.7, margin=0.5, temperature=0.06, contrastive="supcon"):
        super().__init__()
        self.alpha = alpha
        self.contrastive = contrastive_loss(contrastive, temperature)
        self.angular = AngularMarginLoss(margin)

    def forward(self, embeddings, labels):
        """Loss of shape () for ``embeddings`` (n, dim) and ``labels`` (n,)."""
        embeddings = embeddings.float()
        loss = self.alpha * self.contrastive(embeddings, labels)
        if self.alpha < 1:
            loss = loss + (1 - self.alpha) * self.angular(embeddings, labels)
        return loss
