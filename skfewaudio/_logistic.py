"""Multinomial logistic regression on few support embeddings, batched over episodes.

Shared by :class:`~skfewaudio.LinearProbeClassifier` and episodic evaluation. The
objective is scikit-learn's ``LogisticRegression`` (multinomial, L2 penalty on the
weights, intercept not penalised)::

    C * sum_i cross_entropy(W x_i + b, y_i) + ||W||^2 / 2

Its minimiser lies in the span of the support embeddings (the penalty is zero on any
direction orthogonal to them), so each episode is solved on the coordinates of its
clips in an orthonormal basis of that span (from the eigendecomposition of their Gram
matrix): an isometry, so the objective and its conditioning are those of the full
problem, but an episode of 25 clips and 5 classes has 130 unknowns for an embedding of
any size, which is what lets thousands of episodes be solved at once.
"""

import numpy as np
import torch

MAX_ITER = 100


def fit_logistic(support, labels, n_classes, C, max_iter=MAX_ITER):
    """Weights and intercepts of one regression per episode.

    Parameters
    ----------
    support : ndarray of shape (n_episodes, n_clips, n_features)
    labels : ndarray of shape (n_episodes, n_clips)
        Class index of each clip, in ``range(n_classes)``.
    n_classes : int
    C : float
        Inverse penalty strength, as in scikit-learn.
    max_iter : int
        L-BFGS iterations (all episodes are solved as one separable problem).

    Returns
    -------
    coef : ndarray of shape (n_episodes, n_classes, n_features)
    intercept : ndarray of shape (n_episodes, n_classes)
    """
    X = torch.as_tensor(np.asarray(support), dtype=torch.float64)
    y = torch.as_tensor(np.array(labels), dtype=torch.int64)  # a copy: may be a view
    eigenvalues, eigenvectors = torch.linalg.eigh(X @ X.transpose(1, 2))  # (E, n), (E, n, n)
    kept = eigenvalues > 1e-10 * eigenvalues[:, -1:].clamp_min(1e-300)
    # The clips' coordinates U S^1/2 in the orthonormal basis S^-1/2 U^T X of their span.
    coordinates = eigenvectors * (eigenvalues.clamp_min(0).sqrt() * kept)[:, None, :]
    inverse_root = torch.where(kept, eigenvalues.clamp_min(1e-300).rsqrt(), 0.0)
    basis = (eigenvectors * inverse_root[:, None, :]).transpose(1, 2) @ X  # (E, n, d)
    B = torch.zeros(len(y), X.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(len(y), n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([B, b], lr=1, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        logits = coordinates @ B + b[:, None, :]
        loss = C * torch.nn.functional.cross_entropy(
            logits.reshape(-1, n_classes), y.reshape(-1), reduction="sum")
        loss = loss + 0.5 * (B**2).sum()  # ||W||^2: the basis is orthonormal
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    coef = (B.detach().transpose(1, 2) @ basis).numpy()
    return coef, b.detach().numpy()


def logistic_scores(queries, coef, intercept):
    """Logits of shape (..., n_queries, n_classes) of queries (..., n_queries, n_features)."""
    return queries @ np.swapaxes(coef, -1, -2) + intercept[..., None, :]
