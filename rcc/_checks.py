"""Argument checks shared by the channels (private)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .distributions import Distribution, dinf_bits, kl_bits

__all__ = ["check_pair", "check_prior", "pair_kl_bits", "pair_dinf_bits", "warn_long_race"]

#: Rough cost of scoring one candidate coordinate, seconds (numba kernels on one core).
SECONDS_PER_CANDIDATE_COORDINATE = 1e-8
#: A race expected to take longer than this gets a RuntimeWarning before it starts.
WARN_SECONDS = 30.0


def check_pair(q, p) -> tuple[int, ...]:
    """Validate a (target, prior) pair of :class:`Distribution`; return their common shape."""
    for name, dist in (("q", q), ("p", p)):
        if not isinstance(dist, Distribution):
            raise ValueError(f"{name} must be an rcc distribution; got {type(dist).__name__}")
    try:
        return np.broadcast_shapes(q.shape, p.shape)
    except ValueError:
        raise ValueError(f"q of shape {q.shape} and p of shape {p.shape} do not broadcast") from None


def check_prior(p, shape: tuple[int, ...], *, error: type[Exception] = ValueError) -> Distribution:
    """The one prior check of every decoder (and of UQ's encoder): ``p`` broadcast to ``shape``.

    ValueError if ``p`` is not an rcc :class:`Distribution`; ``error`` (ValueError for
    arguments, :class:`rcc.DecodeError` for a shape read from a stream) if p's shape does not
    broadcast to ``shape`` (broadcasting p up, never the sample).
    """
    check_prior_shape(p, shape, error=error)
    return p.broadcast_to(tuple(shape))


def check_prior_shape(p, shape: tuple[int, ...], *, error: type[Exception] = ValueError) -> None:
    """:func:`check_prior` without the broadcast: nothing of ``shape``'s size is allocated."""
    if not isinstance(p, Distribution):
        raise ValueError(f"p must be an rcc Distribution; got {type(p).__name__}")
    shape = tuple(shape)
    if 0 in shape:
        raise error(f"the sample shape {shape} has an empty dimension")
    try:
        ok = np.broadcast_shapes(p.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise error(
            f"the sample has shape {shape}; the prior has shape {p.shape}, which does not broadcast to it"
            + (" (another prior, or a corrupted stream)" if error is not ValueError else "")
        )


def pair_kl_bits(q, p, **kwargs):
    """:func:`rcc.kl_bits`, with a ValueError (not NotImplementedError) for an unsupported pair."""
    try:
        return kl_bits(q, p, **kwargs)
    except NotImplementedError:
        raise ValueError(
            f"q={type(q).__name__} and p={type(p).__name__} is not a supported pair: the channels need "
            "KL[q || p] in closed form (pairs of one family, or a Uniform q against any prior)"
        ) from None


def pair_dinf_bits(q, p, **kwargs):
    """:func:`rcc.dinf_bits`, ``inf`` where it has no closed form (no stopping rule)."""
    try:
        return dinf_bits(q, p, **kwargs)
    except NotImplementedError:
        shape = np.broadcast_shapes(q.shape, p.shape)
        return np.full(shape, np.inf) if kwargs.get("elementwise") else math.inf


def warn_long_race(candidates: float, candidate_coordinates: float, what: str) -> None:
    """RuntimeWarning if about ``candidates`` candidates (``candidate_coordinates`` coordinates
    scored in all) would take longer than :data:`WARN_SECONDS` at
    :data:`SECONDS_PER_CANDIDATE_COORDINATE` per candidate-coordinate. No warning for an
    infinite estimate: the channels refuse races without a bound (exact PFR with D_inf = inf)."""
    if not math.isfinite(candidate_coordinates):
        return
    seconds = float(candidate_coordinates) * SECONDS_PER_CANDIDATE_COORDINATE
    if seconds > WARN_SECONDS:
        warnings.warn(
            f"{what} is expected to score about {float(candidates):.3g} candidates "
            f"({float(candidate_coordinates):.3g} candidate-coordinates), roughly {_duration(seconds)} at "
            "~10 ns per candidate-coordinate; lower the candidate budget, or split the pair with "
            "rcc.compress(chunk_bits=...)",
            RuntimeWarning,
            stacklevel=3,
        )


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "forever"
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"
