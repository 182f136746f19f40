"""Prototypical-network loss (Snell et al., 2017) for one episode."""

import torch
from torch import nn
from torch.nn import functional as F


def squared_distances(a, b):
    """Squared Euclidean distances (n_a, n_b); unlike ``cdist`` its gradient is finite at 0."""
    return (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


class PrototypicalLoss(nn.Module):
    """Cross-entropy of the queries over their distances to the class prototypes.

    A prototype is the mean embedding of a class's support examples; a query's
    logits are the negative distances to the prototypes.

    Parameters
    ----------
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``euclidean``: logits are minus the squared Euclidean distance (Snell et al.).
        ``cosine``: logits are ``scale * cos``, with a learned scale (initialised at
        ``init_scale``), since unit-norm similarities alone give too flat a softmax.
    init_scale : float, default=10.0

    Notes
    -----
    ``forward(embeddings, labels, n_support)``: the first ``n_support`` rows of
    ``embeddings`` (batch, dim) are the support set, the rest the queries; ``labels``
    are integer classes 0..n_way-1 of every row. Returns the mean loss; ``logits``
    gives the query logits of shape (n_queries, n_way).
    """

    def __init__(self, metric="euclidean", init_scale=10.0):
        super().__init__()
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}.")
        self.metric = metric
        self.scale = nn.Parameter(torch.tensor(float(init_scale)),
                                  requires_grad=metric == "cosine")

    def logits(self, embeddings, labels, n_support):
        support, query = embeddings[:n_support], embeddings[n_support:]
        support_labels = labels[:n_support]
        n_way = int(support_labels.max()) + 1
        one_hot = F.one_hot(support_labels, n_way).to(support.dtype)  # (n_support, way)
        prototypes = (one_hot.T @ support) / one_hot.sum(dim=0)[:, None]
        if self.metric == "cosine":
            return self.scale * F.normalize(query, dim=1) @ F.normalize(prototypes, dim=1).T
        return -squared_distances(query, prototypes)

    def forward(self, embeddings, labels, n_support):
        logits = self.logits(embeddings, labels, n_support)
        return F.cross_entropy(logits, labels[n_support:])


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
        # pytorch-metric-learning is imported here only, so `import skfewaudio` never needs it.
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
