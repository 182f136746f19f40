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
