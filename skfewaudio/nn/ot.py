"""Batched entropic optimal transport (log-domain Sinkhorn) in torch.

Every function takes a leading batch shape, so all the transport problems of an
episode (each query against each support clip, or against each class's
explanations) are solved in one set of tensor operations instead of a Python loop.
Nothing here imports scikit-learn.
"""

import math

import torch

__all__ = ["sinkhorn", "cosine_matrix", "pairwise_cosines", "transport_similarity",
           "ot_similarity"]


def _log_weights(weights, size, like):
    """Log of marginal weights; ``None`` means uniform. Zero weights become ``-inf``."""
    if weights is None:
        return torch.full(like.shape[:-2] + (size,), -math.log(size),
                          dtype=like.dtype, device=like.device)
    weights = torch.as_tensor(weights, dtype=like.dtype, device=like.device)
    log_w = torch.log(weights.clamp_min(0))  # log(0) = -inf: padded points get no mass
    return log_w.expand(like.shape[:-2] + (size,))


# Largest ``(max cost - min cost) / reg`` for which the matrix-product form of the
# log-domain updates cannot underflow (products stay above exp(-2 * span)).
_MATMUL_SPAN = {torch.float16: 4.0, torch.bfloat16: 20.0, torch.float32: 30.0,
                torch.float64: 250.0}


def sinkhorn(cost, a=None, b=None, *, reg=0.1, max_iter=1000, tol=1e-6, check_every=10):
    """Entropic optimal transport plans for a batch of cost matrices.

    Solves ``min_T <T, C> - reg * H(T)`` subject to ``T 1 = a`` and ``T^T 1 = b``
    (Cuturi 2013), the problem ``ot.sinkhorn(a, b, C, reg)`` of POT solves one
    matrix at a time. The iterations update the dual potentials in the log domain,
    which stays finite where the plain kernel ``exp(-C / reg)`` would underflow.
    When the range of ``C / reg`` is moderate (e.g. cosine costs with ``reg >= 0.07``
    in float32) each log-sum-exp is evaluated as a batched matrix product on a
    max-stabilised kernel, which is exact and much faster than ``torch.logsumexp``;
    otherwise ``torch.logsumexp`` is used.

    Parameters
    ----------
    cost : Tensor of shape (..., n, m)
        Cost matrices; any leading batch shape.
    a : Tensor of shape (..., n) or (n,), or None
        Source marginals (each row sums to 1). ``None``: uniform ``1 / n``. Zero
        entries mark padding: those points carry no mass.
    b : Tensor of shape (..., m) or (m,), or None
        Target marginals, as ``a``.
    reg : float
        Entropic regularisation (``epsilon``); larger gives smoother plans.
    max_iter : int
        Maximum number of Sinkhorn iterations (each one updates both potentials).
    tol : float or None
        A problem stops once the largest violation of its row marginals is below
        ``tol`` (checked every ``check_every`` iterations); converged problems leave
        the batch. None runs ``max_iter`` iterations.
    check_every : int
        How often the stopping criterion is evaluated.

    Returns
    -------
    plan : Tensor of shape (..., n, m)
        Optimal transport plans, same dtype and device as ``cost``.
    """
    if reg <= 0:
        raise ValueError(f"reg must be positive, got {reg!r}.")
    n, m = cost.shape[-2], cost.shape[-1]
    flat = cost.reshape(-1, n, m)
    scaled = -flat / reg  # log of the Gibbs kernel
    log_a = _log_weights(a, n, cost).reshape(-1, n)
    log_b = _log_weights(b, m, cost).reshape(-1, m)
    span = float((scaled.amax() - scaled.amin()).detach()) if scaled.numel() else 0.0
    use_matmul = span <= _MATMUL_SPAN.get(cost.dtype, 0.0)
    # Potentials divided by reg: f_i = log u_i, g_j = log v_j of the scaling form.
    f_out, g_out = torch.zeros_like(log_a), torch.zeros_like(log_b)
    # Problems still iterating: each leaves the batch once it has converged, so a few
    # slow problems do not make the whole batch run to max_iter.
    active = torch.arange(len(flat), device=cost.device)
    sub, sub_a, sub_b = scaled, log_a, log_b
    lse_rows, lse_cols = _lse_functions(sub, use_matmul)
    f, g = torch.zeros_like(sub_a), torch.zeros_like(sub_b)
    for it in range(max_iter):
        f = sub_a - lse_rows(g)
        g = sub_b - lse_cols(f)
        if tol is not None and (it + 1) % check_every == 0:
            # After the g update the columns are exact; the rows measure convergence.
            rows = (f + lse_rows(g)).exp().nan_to_num(0.0)
            done = (rows - sub_a.exp()).abs().amax(dim=-1) < tol
            if bool(done.any()):
                f_out[active[done]], g_out[active[done]] = f[done], g[done]
                keep = ~done
                active = active[keep]
                if len(active) == 0:
                    break
                sub, sub_a, sub_b, f, g = sub[keep], sub_a[keep], sub_b[keep], f[keep], g[keep]
                lse_rows, lse_cols = _lse_functions(sub, use_matmul)
    if len(active):
        f_out[active], g_out[active] = f, g
    plan = torch.exp(scaled + f_out.unsqueeze(-1) + g_out.unsqueeze(-2))
    # Padded points have f or g = -inf; nan_to_num keeps their (zero) mass finite.
    return plan.nan_to_num(0.0).reshape(cost.shape)


def _lse_functions(scaled, use_matmul):
    """Row and column log-sum-exp of ``scaled`` plus a potential."""
    if use_matmul:
        return _matmul_lse(scaled)

    def lse_rows(g):
        return torch.logsumexp(scaled + g.unsqueeze(-2), dim=-1)

    def lse_cols(f):
        return torch.logsumexp(scaled + f.unsqueeze(-1), dim=-2)

    return lse_rows, lse_cols


def _matmul_lse(scaled):
    """Row and column log-sum-exp of ``scaled + potential`` as matrix products.

    ``log sum_j exp(S_ij + g_j) = M_i + g* + log sum_j exp(S_ij - M_i) exp(g_j - g*)``
    with ``M_i`` the row maximum of ``S`` and ``g*`` the largest potential: every
    exponent is <= 0 and the largest term of each sum is not tiny while the span of
    ``S`` is bounded (see ``_MATMUL_SPAN``).
    """
    row_max = scaled.amax(dim=-1)
    col_max = scaled.amax(dim=-2)
    kernel_rows = torch.exp(scaled - row_max.unsqueeze(-1))
    kernel_cols = torch.exp(scaled - col_max.unsqueeze(-2))

    def lse_rows(g):
        top = g.amax(dim=-1, keepdim=True)
        sums = (kernel_rows @ torch.exp(g - top).unsqueeze(-1)).squeeze(-1)
        return torch.log(sums) + row_max + top

    def lse_cols(f):
        top = f.amax(dim=-1, keepdim=True)
        sums = (torch.exp(f - top).unsqueeze(-2) @ kernel_cols).squeeze(-2)
        return torch.log(sums) + col_max + top

    return lse_rows, lse_cols


def _unit(x, eps=1e-8):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def cosine_matrix(x, y, eps=1e-8):
    """Cosine similarity between every row of ``x`` and of ``y``.

    Parameters
    ----------
    x : Tensor of shape (..., n, d)
    y : Tensor of shape (..., m, d)

    Returns
    -------
    cos : Tensor of shape (..., n, m)
    """
    return _unit(x, eps) @ _unit(y, eps).transpose(-1, -2)


def pairwise_cosines(x, y, eps=1e-8):
    """Cosines between every point of every set in ``x`` and of every set in ``y``.

    One matrix product instead of a broadcast ``x[:, None] @ y[None]``, which would
    copy both inputs ``len(y)`` and ``len(x)`` times.

    Parameters
    ----------
    x : Tensor of shape (p, n, d)
    y : Tensor of shape (q, m, d)

    Returns
    -------
    cos : Tensor of shape (p, q, n, m)
    """
    return torch.einsum("pnd,qmd->pqnm", _unit(x, eps), _unit(y, eps))


def transport_similarity(cos, a=None, b=None, *, reg=0.1, max_iter=100, tol=1e-6,
                         differentiable_plan=False):
    """``sum_ij T*_ij cos_ij`` with ``T*`` the entropic plan for the cost ``1 - cos``.

    Parameters
    ----------
    cos : Tensor of shape (..., n, m)
        Cosine matrices (e.g. from :func:`pairwise_cosines`).
    a, b, reg, max_iter, tol, differentiable_plan
        See :func:`ot_similarity`.

    Returns
    -------
    similarity : Tensor of shape (...)
    """
    if differentiable_plan:
        plan = sinkhorn(1.0 - cos, a, b, reg=reg, max_iter=max_iter, tol=None)
    else:
        with torch.no_grad():
            plan = sinkhorn(1.0 - cos.detach(), a, b, reg=reg, max_iter=max_iter, tol=tol)
    return (plan * cos).sum(dim=(-1, -2))


def ot_similarity(x, y, a=None, b=None, *, reg=0.1, max_iter=100, tol=1e-6,
                  differentiable_plan=False):
    """Transport-weighted cosine similarity between point sets.

    ``sum_ij T*_ij cos(x_i, y_j)`` where ``T*`` is the entropic transport plan for
    the cost ``1 - cos`` (eq. 9 and 18 of the multi-grained CLAP adapter paper).

    Parameters
    ----------
    x : Tensor of shape (..., n, d)
    y : Tensor of shape (..., m, d)
        Broadcastable leading shapes; all pairs are solved at once.
    a, b : Tensor or None
        Marginals of ``x`` and ``y`` points (see :func:`sinkhorn`); uniform if None.
    reg, max_iter, tol
        Passed to :func:`sinkhorn`.
    differentiable_plan : bool
        If False (default) the plan is computed without gradient and gradients flow
        through the cosines only (the plan is a fixed weighting, as in PLOT); if True
        autograd also differentiates the unrolled Sinkhorn iterations.

    Returns
    -------
    similarity : Tensor of shape (...)
    """
    return transport_similarity(cosine_matrix(x, y), a, b, reg=reg, max_iter=max_iter,
                                tol=tol, differentiable_plan=differentiable_plan)
