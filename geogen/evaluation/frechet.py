"""Fréchet feature distance and k-NN precision/recall between two feature sets.

The Fréchet distance between Gaussian fits N(m1, S1) and N(m2, S2) is
``|m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)``.  The trace term is
computed from eigenvalues of symmetric positive semi-definite matrices (``eigh``), which
stays real and stable even when a covariance is singular (fewer samples than
features), where a general ``sqrtm`` returns complex noise.

Precision and recall follow Kynkäänniemi et al. (2019): each set's manifold is the
union of balls reaching every point's k-th nearest neighbour; precision is the share of
generated points inside the real manifold, recall the share of real points inside the
generated one.

These are computed on geogen's own feature networks (see ``features.py``), so the
figures are called "Fréchet feature distance (geogen features)": they compare runs of
geogen with each other, not with Inception FID numbers in papers.
"""

from __future__ import annotations

import numpy as np

NAME = "Fréchet feature distance (geogen features)"


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``(n, d)`` features."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need at least two feature vectors of shape (n, d), got {f.shape}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix; negative round-off eigenvalues are clipped."""
    w, q = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (q * np.sqrt(np.clip(w, 0.0, None))) @ q.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between two Gaussians."""
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    w = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    cross = float(np.sum(np.sqrt(np.clip(w, 0.0, None))))
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * cross)
    return max(value, 0.0)


def frechet_feature_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two ``(n, d)`` feature sets."""
    return frechet_distance(*gaussian_fit(real), *gaussian_fit(generated))


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and of ``b``."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(sq, 0.0, None))


def _radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance of every point to its k-th nearest neighbour within its own set."""
    d = _pairwise(points, points)
    np.fill_diagonal(d, np.inf)
    k = min(k, points.shape[0] - 1)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def _coverage(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> float:
    """Share of ``queries`` inside at least one ball of the manifold."""
    d = _pairwise(queries, manifold)
    return float(np.mean((d <= radii[None, :]).any(axis=1)))


def precision_recall(real: np.ndarray, generated: np.ndarray, *, k: int = 3) -> dict[str, float]:
    """k-NN manifold precision and recall (Kynkäänniemi et al. 2019)."""
    r = np.asarray(real, np.float64)
    g = np.asarray(generated, np.float64)
    if r.shape[0] < 2 or g.shape[0] < 2:
        raise ValueError("precision/recall need at least two real and two generated samples")
    return {
        "precision": _coverage(r, _radii(r, k), g),
        "recall": _coverage(g, _radii(g, k), r),
        "k": int(min(k, r.shape[0] - 1, g.shape[0] - 1)),
    }
