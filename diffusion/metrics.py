"""Distortion and bias measures of the diffusion codec's outputs (plain numpy)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr", "sliced_wasserstein", "sample_lean"]


def sample_lean(z, q_loc, q_scale, p_loc) -> tuple[float, float]:
    """How far a sent sample leans from q's mean towards p's: the bias diagnostic of a step.

    ``lean = sum (z - mu_q) w / sum (mu_p - mu_q) w`` with ``w = (mu_p - mu_q) / sigma_q^2``, the
    sample's projection on the mean shift as a fraction of it: 0 +- ``se`` for an exact sample
    of q (``se = 1 / sqrt(sum ((mu_p - mu_q) / sigma_q)^2)``), 1 for a sample centred on p's
    mean. Truncated races lean towards the prior (lean > 0); compare lean / se with +-3.
    All arrays flat (n,), float64.
    """
    z, q_loc, q_scale, p_loc = (np.broadcast_to(np.asarray(a, np.float64), np.shape(z)).ravel()
                                for a in (z, q_loc, q_scale, p_loc))
    shift = p_loc - q_loc
    w = shift / q_scale**2
    denom = float(np.sum(shift * w))
    if not denom > 0:
        return 0.0, math.inf
    return float(np.sum((z - q_loc) * w) / denom), 1.0 / math.sqrt(denom)


def psnr(x_hat, x) -> float:
    """PSNR in dB of uint8 reconstructions: ``10 log10(255^2 / MSE)`` (inf when exact)."""
    err = np.asarray(x_hat, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    mse = float(np.mean(err**2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def sliced_wasserstein(a, b, num_projections: int = 256, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two point sets of equal size (N, D), in value units.

    Mean over ``num_projections`` seeded random directions of the 1-D W1 between the projected,
    sorted sets.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"point sets must share one (N, D) shape, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((num_projections, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pa = np.sort(a @ dirs.T, axis=0)
    pb = np.sort(b @ dirs.T, axis=0)
    return float(np.mean(np.abs(pa - pb)))
