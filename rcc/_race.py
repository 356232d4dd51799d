"""Selection rules over scored candidates (private): the Poisson race and the Gumbel-max draw.

* :func:`poisson_race` -- argmin_i T_i / r(X_i) over arrival times T_i. With unit-rate Poisson
  arrivals this is the Poisson functional representation (Li & El Gamal, 2018); with the sorted
  exponentials T_n = sum_{i<=n} E_i N / (N - i + 1) of N candidates it is ordered random coding
  (Theis & Yosri, ICML 2022). Both stop as soon as T_i / r_max exceeds the best score, since later
  candidates arrive later.
* :func:`gumbel_max` -- index i with probability r_i / sum_j r_j over N candidates, minimal random
  coding (Havasi, Peharz & Hernandez-Lobato, 2019).

Arrival times and Gumbels come from seeded, encoder-only streams (``DOMAIN_ARRIVAL``,
``DOMAIN_SELECT``) at the same (seed, chunk) address as the candidates, so encoding is
reproducible; the decoder never needs them.
"""

from __future__ import annotations

import math

import numpy as np

from collections.abc import Callable

from ._kernels import Pair, index_uniforms, score_batch
from .random import DOMAIN_ARRIVAL, DOMAIN_SELECT, seed_key

__all__ = ["poisson_race", "gumbel_max", "scorer"]

Scorer = Callable[[int, int], np.ndarray]


def scorer(pair: Pair, seed: int, chunk: int) -> Scorer:
    """``score(start, count)``: log q/p in nats of the shared candidates of ``chunk`` (numba)."""
    key = seed_key(seed)
    return lambda start, count: score_batch(pair, key, chunk, start, count)

_FIRST_BATCH = 64
_MAX_BATCH = 2**16


def poisson_race(
    score: Scorer,
    seed: int,
    chunk: int,
    log_rmax: float,
    max_candidates: int | None,
    ordered: bool = False,
) -> tuple[int, int, bool]:
    """Run the race over candidates of ``chunk``; return (index, num_scored, certified).

    Parameters
    ----------
    score : callable
        ``score(start, count)`` -> log r(X_i) in nats for candidates start .. start+count-1,
        shape (count,); e.g. :func:`scorer` of a :class:`Pair`.
    seed, chunk : int
        Address of the encoder's arrival-time stream (the candidates' address).
    log_rmax : float
        log sup dq/dp in nats (D_inf in nats); ``inf`` disables the stopping rule.
    max_candidates : int or None
        N. Never score more than N candidates. Required when ``ordered``.
    ordered : bool
        ORC's sorted arrival times (the order statistics of N exponentials) instead of a Poisson
        process.

    Returns
    -------
    index : int
        0-based index of the winner.
    num_scored : int
        Candidates scored.
    certified : bool
        True if the stopping rule proved the winner; False if the race was cut at N (for
        ordered races this is just the end of the list and not a truncation).
    """
    if ordered and max_candidates is None:
        raise ValueError("an ordered race needs its number of candidates")
    key = seed_key(seed)
    limit = max_candidates if max_candidates is not None else 2**63
    stop_at = log_rmax + 1e-9 * (1.0 + abs(log_rmax)) if math.isfinite(log_rmax) else math.inf
    best, best_i, t_prev, n, batch = math.inf, -1, 0.0, 0, _FIRST_BATCH
    while n < limit:
        count = min(batch, limit - n)
        # a NaN log ratio (x outside both supports) must lose, not poison the running minimum
        log_r = score(n, count)
        log_r[np.isnan(log_r)] = -np.inf
        gaps = -np.log(index_uniforms(key, DOMAIN_ARRIVAL, chunk, n, count))
        if ordered:
            gaps *= limit / (limit - np.arange(n, n + count, dtype=np.float64))
        gaps[0] += t_prev
        times = np.cumsum(gaps)
        log_t = np.log(times)
        scores = log_t - log_r
        # best score among the candidates before each position (earlier batches included)
        before = np.minimum.accumulate(np.concatenate(([best], scores[:-1])))
        done = np.flatnonzero(log_t - stop_at >= before)
        end = int(done[0]) if done.size else count
        if end > 0:
            j = int(np.argmin(scores[:end]))
            if scores[j] < best:
                best, best_i = float(scores[j]), n + j
        if done.size:
            return best_i, n + end, True
        t_prev = float(times[-1])
        n += count
        batch = min(2 * batch, _MAX_BATCH)
    if best_i < 0:
        raise ValueError(
            f"none of the {n} candidates has positive density under q: q and p barely overlap; "
            "raise the number of candidates"
        )
    return best_i, n, False


def gumbel_max(score: Scorer, seed: int, chunk: int, num_candidates: int) -> int:
    """0-based index drawn with probability proportional to r(X_i) among N candidates.

    Gumbel-max: argmax_i log r_i + G_i with G_i = -log(-log U_i) from the encoder's stream.
    Scores all N candidates, in batches; ``score`` as in :func:`poisson_race`.
    """
    key = seed_key(seed)
    best, best_i, n = -math.inf, -1, 0
    while n < num_candidates:
        count = min(_MAX_BATCH, num_candidates - n)
        log_r = score(n, count)
        log_r[np.isnan(log_r)] = -np.inf
        gumbel = -np.log(-np.log(index_uniforms(key, DOMAIN_SELECT, chunk, n, count)))
        scores = log_r + gumbel
        j = int(np.argmax(scores))
        if scores[j] > best:
            best, best_i = float(scores[j]), n + j
        n += count
    if best_i < 0 or not math.isfinite(best):
        raise ValueError(
            f"none of the {num_candidates} candidates has positive density under q: q and p barely "
            "overlap; raise num_candidates"
        )
    return best_i
