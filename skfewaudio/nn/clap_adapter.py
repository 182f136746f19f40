"""Scores and learnable layers of the multi-grained CLAP adapter (Zhao et al., MM 2024).

Four class scores, each of shape ``(n_queries, n_classes)``:

* coarse key-value cache (eq. 1-2): ``sum_i phi(cos(q, k_i)) onehot_i``,
  ``phi(x) = exp(-beta (1 - x))``;
* fine key-value cache (eq. 9-11): the same with the transport-weighted cosine
  between the segment sets of query and support clip;
* coarse cross-modal contrast (eq. 13-16): ``W_c [audio; caption]`` against each
  class's explanations, late weighted fusion (softmax-weighted cosines);
* fine cross-modal contrast (eq. 17-19): ``W_l W_f [segment; caption]`` per segment,
  transport-weighted cosine against each class's explanations.

Total (eq. 21): ``alpha * (coarse + fine cache) + (coarse + fine contrast)``.
Nothing here imports scikit-learn.
"""

import torch
from torch import nn

from .ot import cosine_matrix, pairwise_cosines, transport_similarity

__all__ = [
    "affinity",
    "coarse_cache_scores",
    "fine_cache_scores",
    "late_weighted_scores",
    "fine_contrast_scores",
    "MultiGrainedAdapter",
]


def affinity(similarity, beta):
    """The cache's scaling ``phi(x) = exp(-beta (1 - x))``."""
    return torch.exp(-beta * (1.0 - similarity))


def coarse_cache_scores(query, keys, values, *, beta):
    """Coarse key-value cache (eq. 1-2).

    Parameters
    ----------
    query : Tensor of shape (n_queries, d)
    keys : Tensor of shape (n_support, d)
    values : Tensor of shape (n_support, n_classes)
        One-hot labels of the support clips.
    beta : float

    Returns
    -------
    scores : Tensor of shape (n_queries, n_classes)
    """
    return affinity(cosine_matrix(query, keys), beta) @ values


def fine_cache_scores(query, keys, values, *, beta, reg=0.1, max_iter=100, tol=1e-6):
    """Fine key-value cache (eq. 9-11): all query x support transport problems at once.

    Parameters
    ----------
    query : Tensor of shape (n_queries, n_segments, d)
    keys : Tensor of shape (n_support, n_segments_support, d)
    values : Tensor of shape (n_support, n_classes)
    beta : float
    reg, max_iter, tol : float, int, float
        Sinkhorn settings (see :func:`skfewaudio.nn.ot.sinkhorn`).

    Returns
    -------
    scores : Tensor of shape (n_queries, n_classes)
    """
    similarity = transport_similarity(pairwise_cosines(query, keys), reg=reg,
                                      max_iter=max_iter, tol=tol)  # (n_queries, n_support)
    return affinity(similarity, beta) @ values


def late_weighted_scores(fused, explanations, mask=None):
    """Late weighted fusion (eq. 14-16) of cosines to each class's explanations.

    Parameters
    ----------
    fused : Tensor of shape (n_queries, d)
    explanations : Tensor of shape (n_classes, n_explanations, d)
        Padded to the largest number of explanations of a class.
    mask : bool Tensor of shape (n_classes, n_explanations) or None
        True for real explanations, False for padding.

    Returns
    -------
    scores : Tensor of shape (n_queries, n_classes)
        ``sum_i w_i cos_i`` with ``w = softmax(cos)`` over a class's explanations.
    """
    fused = fused / fused.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    explanations = explanations / explanations.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    cos = torch.einsum("qd,ced->qce", fused, explanations)
    if mask is None:
        return (torch.softmax(cos, dim=-1) * cos).sum(dim=-1)
    weights = torch.softmax(cos.masked_fill(~mask, float("-inf")), dim=-1)
    return (weights * cos.masked_fill(~mask, 0.0)).sum(dim=-1)


def fine_contrast_scores(fused_segments, explanations, mask=None, *, reg=0.1, max_iter=100,
                         tol=1e-6):
    """Fine cross-modal contrast (eq. 18-19): segments vs explanations through OT.

    Parameters
    ----------
    fused_segments : Tensor of shape (n_queries, n_segments, d)
    explanations : Tensor of shape (n_classes, n_explanations, d)
    mask : bool Tensor of shape (n_classes, n_explanations) or None
        Padding gets zero transport mass.
    reg, max_iter, tol : float, int, float
        Sinkhorn settings.

    Returns
    -------
    scores : Tensor of shape (n_queries, n_classes)
    """
    b = None
    if mask is not None:
        b = mask.to(fused_segments.dtype)
        b = b / b.sum(dim=-1, keepdim=True)
        b = b.unsqueeze(0)  # (1, n_classes, n_explanations)
    return transport_similarity(pairwise_cosines(fused_segments, explanations), b=b,
                                reg=reg, max_iter=max_iter, tol=tol)


def _fusion_layer(d_audio, d_caption, d_out):
    """Linear layer on ``[audio; caption]`` started as the mean of both (or identity).

    Starting at this fusion makes the untrained adapter equal zero-shot CLAP, so the
    few training steps of the paper's schedule only adjust it.
    """
    layer = nn.Linear(d_audio + d_caption, d_out)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        share = 0.5 if d_caption else 1.0
        eye = torch.eye(d_out, d_audio)
        layer.weight[:, :d_audio] = share * eye
        if d_caption:
            layer.weight[:, d_audio:] = share * torch.eye(d_out, d_caption)
    return layer


class MultiGrainedAdapter(nn.Module):
    """The learnable part of the adapter (``W_c``, ``W_f``, ``W_l``) and its scores.

    The support cache and the class explanations are frozen buffers; only the fusion
    layers learn. Component switches select which of the four scores are summed.

    Parameters
    ----------
    support_coarse : Tensor of shape (n_support, d) or None
        Coarse support embeddings (cache keys); None without a support set.
    support_fine : Tensor of shape (n_support, n_segments, d) or None
    support_labels : Tensor of shape (n_support,) or None
        Class codes of the support clips.
    explanations : Tensor of shape (n_classes, n_explanations, d)
        Text embeddings of each class's explanations, padded.
    explanation_mask : bool Tensor of shape (n_classes, n_explanations)
    caption_dim : int
        Dimension of caption embeddings; 0 turns the caption branch off.
    coarse_cache, fine_cache, coarse_contrast, fine_contrast : bool
    alpha, beta : float
        Cache weight and sharpness.
    ot_reg : float
        Sinkhorn regularisation.
    ot_max_iter : int
    """

    def __init__(self, *, support_coarse, support_fine, support_labels, explanations,
                 explanation_mask, caption_dim=0, coarse_cache=True, fine_cache=True,
                 coarse_contrast=True, fine_contrast=True, alpha=1.1, beta=5.0,
                 ot_reg=0.1, ot_max_iter=100):
        super().__init__()
        n_classes, _, d_text = explanations.shape
        self.n_classes = n_classes
        self.switches = dict(coarse_cache=coarse_cache, fine_cache=fine_cache,
                             coarse_contrast=coarse_contrast, fine_contrast=fine_contrast)
        self.alpha, self.beta = float(alpha), float(beta)
        self.ot_reg, self.ot_max_iter = float(ot_reg), int(ot_max_iter)
        self.register_buffer("explanations", explanations)
        self.register_buffer("explanation_mask", explanation_mask)
        has_support = support_coarse is not None and len(support_coarse) > 0
        if has_support:
            values = torch.nn.functional.one_hot(support_labels.long(), n_classes)
            self.register_buffer("support_coarse", support_coarse)
            self.register_buffer("support_fine", support_fine)
            self.register_buffer("support_values", values.to(support_coarse.dtype))
        self.has_support = has_support
        d_audio = (support_coarse.shape[-1] if has_support else d_text)
        self.caption_dim = int(caption_dim)
        # W_c (coarse fusion), W_f then W_l (fine fusion), eq. 13 and 17.
        self.coarse_fusion = _fusion_layer(d_audio, self.caption_dim, d_text)
        self.fine_fusion = _fusion_layer(d_audio, self.caption_dim, d_text)
        self.fine_linear = nn.Linear(d_text, d_text)
        with torch.no_grad():
            self.fine_linear.weight.copy_(torch.eye(d_text))
            self.fine_linear.bias.zero_()

    def _coarse_contrast(self, coarse, caption):
        x = coarse if not self.caption_dim else torch.cat([coarse, caption], dim=-1)
        return late_weighted_scores(self.coarse_fusion(x), self.explanations,
                                    self.explanation_mask)

    def _fine_contrast(self, fine, caption):
        x = fine
        if self.caption_dim:  # the clip's caption joins every segment (eq. 17)
            x = torch.cat([fine, caption.unsqueeze(1).expand(-1, fine.shape[1], -1)], -1)
        return fine_contrast_scores(self.fine_linear(self.fine_fusion(x)), self.explanations,
                                    self.explanation_mask, reg=self.ot_reg,
                                    max_iter=self.ot_max_iter)

    def component_scores(self, coarse, fine, caption=None):
        """Each enabled component's scores (before ``alpha``): name -> (batch, n_classes)."""
        out = {}
        if self.has_support and self.switches["coarse_cache"]:
            out["coarse_cache"] = coarse_cache_scores(
                coarse, self.support_coarse, self.support_values, beta=self.beta)
        if self.has_support and self.switches["fine_cache"]:
            out["fine_cache"] = fine_cache_scores(
                fine, self.support_fine, self.support_values, beta=self.beta,
                reg=self.ot_reg, max_iter=self.ot_max_iter)
        if self.switches["coarse_contrast"]:
            out["coarse_contrast"] = self._coarse_contrast(coarse, caption)
        if self.switches["fine_contrast"]:
            out["fine_contrast"] = self._fine_contrast(fine, caption)
        return out

    def cache_scores(self, coarse, fine):
        """``alpha * (coarse + fine cache)``, shape (batch, n_classes); no parameters."""
        total = torch.zeros(coarse.shape[0], self.n_classes, dtype=coarse.dtype,
                            device=coarse.device)
        if self.has_support and self.switches["coarse_cache"]:
            total = total + self.alpha * coarse_cache_scores(
                coarse, self.support_coarse, self.support_values, beta=self.beta)
        if self.has_support and self.switches["fine_cache"]:
            total = total + self.alpha * fine_cache_scores(
                fine, self.support_fine, self.support_values, beta=self.beta,
                reg=self.ot_reg, max_iter=self.ot_max_iter)
        return total

    def forward(self, coarse, fine, caption=None, cache=None):
        """Total score ``alpha * cache + contrast``, shape (batch, n_classes).

        Parameters
        ----------
        coarse : Tensor of shape (batch, d)
        fine : Tensor of shape (batch, n_segments, d)
        caption : Tensor of shape (batch, caption_dim) or None
        cache : Tensor of shape (batch, n_classes) or None
            Precomputed :meth:`cache_scores` (they do not change during training).
        """
        total = self.cache_scores(coarse, fine) if cache is None else cache
        if self.switches["coarse_contrast"]:
            total = total + self._coarse_contrast(coarse, caption)
        if self.switches["fine_contrast"]:
            total = total + self._fine_contrast(fine, caption)
        return total
