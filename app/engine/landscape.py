"""The error surface over two directions of parameter space, and the plane of a run's trajectory.

Two kinds of plane, one computation: theta(alpha, beta) = origin + alpha u + beta v, E on a grid
of (alpha, beta). For two chosen parameters u and v are their unit vectors (the origin is the
current weights with those two set to zero, so alpha and beta are the parameters' own values);
for the whole run they are the trajectory's first two principal directions (Li et al. 2018,
"Visualizing the Loss Landscape of Neural Nets") and the origin is the run's start.
"""

from __future__ import annotations

import copy

import numpy as np

from .network import Network

Array = np.ndarray


def plane_error(
    net: Network, X: Array, Y: Array, origin: Array, u: Array, v: Array, alphas: Array, betas: Array
) -> Array:
    """E on (X, Y) at origin + alpha u + beta v; rows follow betas, columns alphas (z[y][x])."""
    # A copy: the run's own weights (and its forward buffers) are never touched.
    probe = copy.deepcopy(net)
    cache = probe.new_cache(X.shape[1])
    np.copyto(cache.A[0], X)
    out = np.empty((betas.size, alphas.size))
    theta = probe.theta
    for r, beta in enumerate(betas):
        row = origin + beta * v
        for c, alpha in enumerate(alphas):
            np.add(row, alpha * u, out=theta)  # in place: W and b are views of theta
            out[r, c] = probe.error(probe.forward(None, cache).A[-1], Y)
    return out


def pair_error(
    net: Network, X: Array, Y: Array, index_a: int, index_b: int, a_values: Array, b_values: Array
) -> Array:
    """E with theta[index_a] and theta[index_b] set to each grid pair, all else fixed."""
    probe = copy.deepcopy(net)
    cache = probe.new_cache(X.shape[1])
    np.copyto(cache.A[0], X)
    out = np.empty((b_values.size, a_values.size))
    theta = probe.theta
    for r, vb in enumerate(b_values):
        theta[index_b] = vb
        for c, va in enumerate(a_values):
            theta[index_a] = va
            out[r, c] = probe.error(probe.forward(None, cache).A[-1], Y)
    return out


def principal_plane(thetas: Array) -> tuple[Array, Array, Array]:
    """The first two principal directions of points (rows) and every direction's variance share.

    PCA of the points about their mean, from the eigenvectors of the smaller Gram matrix (500
    points of 600 parameters: a 500 x 500 one), several times faster than a full SVD and as
    exact for the leading directions. Signs are fixed so that the last point lies on the
    positive side of each direction from the first (the run moves right and up).
    """
    centred = thetas - thetas.mean(axis=0)
    n, p = centred.shape
    total = float(np.sum(centred * centred))
    if p <= n:
        lam, V = np.linalg.eigh(centred.T @ centred)  # ascending
        dirs = [V[:, -1].copy(), V[:, -2].copy() if p > 1 else np.zeros(p)]
    else:
        lam, U = np.linalg.eigh(centred @ centred.T)
        dirs = []
        for k in (-1, -2):
            d = centred.T @ U[:, k] if n + k >= 0 else np.zeros(p)
            norm = float(np.linalg.norm(d))
            dirs.append(d / norm if norm > 0 else np.zeros(p))
    variances = np.clip(lam[::-1], 0.0, None)
    shares = variances / total if total > 0 else np.zeros_like(variances)
    d1, d2 = dirs
    travel = thetas[-1] - thetas[0]
    for d in (d1, d2):
        if float(travel @ d) < 0:
            d *= -1.0
    return d1, d2, shares


def project(thetas: Array, origin: Array, u: Array, v: Array) -> tuple[Array, Array, Array]:
    """Coordinates of points (rows) on the plane origin + span(u, v), and their distance off it.

    u and v are orthonormal: the coordinates are dot products, the rest is the residual.
    """
    rel = thetas - origin
    alpha, beta = rel @ u, rel @ v
    residual = rel - np.outer(alpha, u) - np.outer(beta, v)
    return alpha, beta, np.sqrt(np.sum(residual * residual, axis=1))


def axis(centre: float, half: float, points: int) -> Array:
    """`points` evenly spaced values centre +- half; with an odd count the middle is `centre`."""
    values = np.linspace(centre - half, centre + half, points)
    if points % 2:
        values[points // 2] = centre  # exactly the current value, not a rounding of it
    return values
