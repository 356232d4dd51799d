"""Argument checks shared by the channels (private)."""

from __future__ import annotations

import numpy as np

from .distributions import Distribution
from .errors import DecodeError
from .random import check_seed

__all__ = ["check_pair", "check_prior"]


def check_pair(q, p) -> tuple[int, ...]:
    """Validate a (target, prior) pair of :class:`Distribution`; return their common shape."""
    for name, dist in (("q", q), ("p", p)):
        if not isinstance(dist, Distribution):
            raise ValueError(f"{name} must be an rcc distribution; got {type(dist).__name__}")
    try:
        return np.broadcast_shapes(q.shape, p.shape)
    except ValueError:
        raise ValueError(f"q of shape {q.shape} and p of shape {p.shape} do not broadcast") from None


def check_prior(p, shape: tuple[int, ...], seed, blob_seed: int) -> Distribution:
    """Check a decoder's prior and seed against a blob; return p broadcast to the blob's shape."""
    if not isinstance(p, Distribution):
        raise ValueError(f"p must be an rcc distribution; got {type(p).__name__}")
    if seed is not None and check_seed(seed) != blob_seed:
        raise DecodeError(f"the blob was encoded with seed {blob_seed}, not {seed}")
    try:
        return p.broadcast_to(shape)
    except ValueError:
        raise DecodeError(f"the blob holds a sample of shape {shape}; the prior has shape {p.shape}") from None
