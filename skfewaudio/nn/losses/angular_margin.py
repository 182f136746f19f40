"""Angular-margin loss, the term of the angular contrastive loss that no library has."""

import torch
from torch import nn
from torch.nn import functional as F

# acos has an infinite slope at +-1: keep cosines strictly inside.
_COS_EPS = 1e-6


class AngularMarginLoss(nn.Module):
    """Angular-margin term of the ACL (after Choi et al.'s AMC-loss).

    On L2-normalised embeddings, with ``theta_ij = arccos(cos(z_i, z_j))`` over all
    ordered pairs ``i != j``::

        loss = mean_ij [ same_ij * theta_ij**2
                         + (1 - same_ij) * max(0, margin - theta_ij)**2 ]

    Positives are pulled to angle 0; negatives are pushed until they are at least
    ``margin`` radians apart and then left alone. The reference implementation sums
    the pair terms and divides by a constant (50); we average over pairs so the
    weight of the term does not grow with the batch size.

    Parameters
    ----------
    margin : float, default=0.5
        Angular margin in radians.
    """

    def __init__(self, margin=0.5):
        super().__init__()
        self.margin = margin

    def forward(self, embeddings, labels):
        """
        Parameters
        ----------
        embeddings : Tensor of shape (n, dim)
        labels : Tensor of shape (n,)

        Returns
        -------
        loss : Tensor of shape ()
        """
        z = F.normalize(embeddings.float(), dim=1)
        cosine = (z @ z.T).clamp(-1 + _COS_EPS, 1 - _COS_EPS)
        theta = torch.acos(cosine)
        same = labels[:, None] == labels[None, :]
        off_diagonal = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
        pulled = theta.square()
        pushed = (self.margin - theta).clamp_min(0).square()
        terms = torch.where(same, pulled, pushed)
        return terms[off_diagonal].mean()
