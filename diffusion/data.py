"""Swirl data, exactly as the VDM colab makes it, and its standardisation.

The swirl set (Kingma et al., "Variational Diffusion Models", 2021, the companion colab; also the
toy data of Yang, Will & Mandt, "Progressive Compression with Universally Quantized Diffusion
Models", ICLR 2025, Sec. 5.1) is N points in 2-D with 8-bit coordinates::

    np.random.seed(seed)
    theta = np.sqrt(np.random.rand(N)) * 3 * np.pi
    r = 2 * theta + np.pi
    x = np.array([np.cos(theta) * r, np.sin(theta) * r]).T
    x = 4 * (x + 0.25 * np.random.randn(N, 2) + 30)
    x = x.astype("uint8")                          # truncation, values in 0..255

The order of the numpy calls (seed, ``rand(N)``, then ``randn(N, 2)``) is the colab's. The figures
of this package are reported on the ``seed=0`` set; training draws fresh sets with other seeds.

The model never sees the raw bytes: :func:`standardise` maps each dimension to zero mean and unit
standard deviation with constants computed once, in float64, from the seed-0 set
(:func:`swirl_stats`), so encoder and decoder agree on them bit for bit.

Example
-------
>>> x = swirl()                      # (1024, 2) uint8, seed 0
>>> f = standardise(x)               # (1024, 2) float64, about zero mean and unit variance
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "VOCAB_SIZE",
    "NUM_POINTS",
    "swirl",
    "swirl_pool",
    "swirl_stats",
    "standardise",
    "destandardise",
    "value_grid",
]

#: number of values per dimension (8-bit data)
VOCAB_SIZE = 256
#: size of the reference swirl set
NUM_POINTS = 1024


def swirl(num_points: int = NUM_POINTS, seed: int = 0) -> np.ndarray:
    """The VDM-colab swirl set.

    Parameters
    ----------
    num_points : int
        Number of points N (the reference set has 1024).
    seed : int
        Seed of numpy's legacy global generator (``np.random.seed``); 0 is the reference set.
        The global generator's state is saved and restored, so calling this has no side effect.

    Returns
    -------
    np.ndarray
        Shape (N, 2), dtype uint8, values in 0..255.
    """
    if int(num_points) != num_points or num_points < 1:
        raise ValueError(f"num_points must be a positive integer, got {num_points!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    num_points = int(num_points)
    # RandomState(seed) draws what np.random.seed(seed) then np.random.rand / randn draw (the
    # colab's calls), without touching numpy's global generator
    rng = np.random.RandomState(int(seed))
    theta = np.sqrt(rng.rand(num_points)) * 3 * np.pi
    r = 2 * theta + np.pi
    x = np.array([np.cos(theta) * r, np.sin(theta) * r]).T
    x = 4 * (x + 0.25 * rng.randn(num_points, 2) + 30)
    return x.astype("uint8")


def swirl_pool(num_sets: int, first_seed: int = 1, num_points: int = NUM_POINTS) -> np.ndarray:
    """Training pool: swirl sets with seeds ``first_seed .. first_seed + num_sets - 1`` stacked.

    Returns shape (num_sets * num_points, 2), uint8. Seed 0 (the evaluation set) is excluded
    unless ``first_seed == 0``.
    """
    if num_sets < 1:
        raise ValueError(f"num_sets must be >= 1, got {num_sets!r}")
    return np.concatenate([swirl(num_points, s) for s in range(first_seed, first_seed + num_sets)])


@functools.lru_cache(maxsize=1)
def _stats() -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = swirl(NUM_POINTS, 0).astype(np.float64)
    return tuple(x.mean(axis=0).tolist()), tuple(x.std(axis=0).tolist())


def swirl_stats() -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of the seed-0 swirl set.

    Returns two float64 arrays of shape (2,), in units of the 8-bit values.
    """
    mean, std = _stats()
    return np.array(mean, dtype=np.float64), np.array(std, dtype=np.float64)


def standardise(x, mean=None, std=None) -> np.ndarray:
    """Map 8-bit values to the model's space: ``(x - mean) / std`` per dimension, float64.

    ``x`` has shape (..., 2) (any integer or float dtype); ``mean`` and ``std`` default to
    :func:`swirl_stats`.
    """
    if mean is None or std is None:
        mean, std = swirl_stats()
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1:] != np.shape(mean)[-1:]:
        raise ValueError(f"x must have shape (..., {np.shape(mean)[-1]}), got {x.shape}")
    return (x - mean) / std


def destandardise(f, mean=None, std=None) -> np.ndarray:
    """Inverse of :func:`standardise` (float64, not rounded)."""
    if mean is None or std is None:
        mean, std = swirl_stats()
    return np.asarray(f, dtype=np.float64) * std + mean


def value_grid(mean=None, std=None) -> np.ndarray:
    """Standardised positions of all 256 values per dimension, shape (2, 256), float64."""
    if mean is None or std is None:
        mean, std = swirl_stats()
    v = np.arange(VOCAB_SIZE, dtype=np.float64)
    return (v[None, :] - np.asarray(mean)[:, None]) / np.asarray(std)[:, None]
