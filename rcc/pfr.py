"""Poisson functional representation (PFR): exact channel simulation by a Poisson race.

Li & El Gamal, "Strong functional representation lemma and applications to coding theorems"
(IEEE Trans. IT, 2018). Encoder and decoder share candidates X_1, X_2, ... ~ p (the shared
stream of :mod:`rcc.random`). The encoder draws arrival times T_1 < T_2 < ... of a unit-rate
Poisson process (its own seeded stream) and sends

    K = argmin_i  T_i / r(X_i),        r = dq/dp,

whose candidate X_K is an exact sample of q. Since every later candidate has a larger arrival
time and r <= r_max = 2^D_inf, the race stops at the first i with T_i / r_max >= the best score so
far: about 2^D_inf candidates. E[log2 K] <= KL + 1.53 bits; K is sent with the Zipf-law code of
:mod:`rcc.coding` in about KL + log2(KL + 1) + 2 bits.

Where D_inf is infinite (for example two Gaussians of equal variance) the race has no stopping
rule; ``max_candidates=N`` then truncates it at N candidates. A truncated sample is biased (its
law is that of minimal random coding with N candidates, roughly): every message records
``info["truncated"]`` and benchmarks report the bias beside the bits.
"""

from __future__ import annotations

import math

import numpy as np

from ._kernels import Pair, candidate, index_uniforms, score_batch
from .coding import BitReader, BitWriter, golomb_param_for_kl, read_zipf_index, write_zipf_index
from ._checks import check_pair, check_prior
from .container import Message, unpack
from .distributions import Distribution, dinf_bits, kl_bits
from .errors import DecodeError
from .random import DOMAIN_ARRIVAL, check_seed, seed_key

__all__ = ["PFR", "pfr_search"]

_LN2 = math.log(2.0)
#: Exact PFR refuses pairs whose D_inf promises more than about 2**MAX_EXACT_DINF candidates.
MAX_EXACT_DINF_BITS = 32.0
_FIRST_BATCH = 64
_MAX_BATCH = 2**16


def pfr_search(pair: Pair, seed: int, chunk: int, log_rmax: float, max_candidates: int | None):
    """Run the Poisson race over candidates of ``chunk``.

    Parameters
    ----------
    pair : Pair
        Target and prior, flattened.
    seed, chunk : int
        Address of the shared candidate stream (arrival times come from the seeded, encoder-only
        ``DOMAIN_ARRIVAL`` stream of the same address).
    log_rmax : float
        log sup dq/dp in nats (D_inf); ``inf`` disables the stopping rule.
    max_candidates : int or None
        Truncation: never score more than this many candidates.

    Returns
    -------
    (index, num_scored, certified) : (int, int, bool)
        0-based winning index, number of candidates scored, and whether the stopping rule proved
        the winner (``False`` only when the race was cut at ``max_candidates``).
    """
    key = seed_key(seed)
    limit = max_candidates if max_candidates is not None else 2**63
    stop_margin = log_rmax + 1e-9 * (1.0 + abs(log_rmax)) if math.isfinite(log_rmax) else math.inf
    best, best_i, t_prev, n, batch = math.inf, -1, 0.0, 0, _FIRST_BATCH
    while n < limit:
        count = min(batch, limit - n)
        log_r = score_batch(pair, key, chunk, n, count)
        gaps = -np.log(index_uniforms(key, DOMAIN_ARRIVAL, chunk, n, count))
        gaps[0] += t_prev
        times = np.cumsum(gaps)
        log_t = np.log(times)
        scores = log_t - log_r
        # best score among candidates before each position (including earlier batches)
        before = np.minimum.accumulate(np.concatenate(([best], scores[:-1])))
        done = np.flatnonzero(log_t - stop_margin >= before)
        end = done[0] if done.size else count
        if end > 0:
            j = int(np.argmin(scores[:end]))
            if scores[j] < best:
                best, best_i = float(scores[j]), n + j
        if done.size:
            return best_i, n + int(end), True
        t_prev = float(times[-1])
        n += count
        batch = min(2 * batch, _MAX_BATCH)
    if best_i < 0:
        raise ValueError(
            f"none of the {n} candidates has positive density under q: q and p barely overlap; "
            "raise max_candidates"
        )
    return best_i, n, False


class PFR:
    """Poisson functional representation channel (Li & El Gamal, 2018).

    Parameters
    ----------
    max_candidates : int, optional
        ``None`` (default): exact, with the D_inf stopping rule; the pair must have a finite
        D_inf of at most 32 bits. An int N: truncate the race at N candidates (needed where D_inf
        is infinite, e.g. equal-variance Gaussians); the sample is then only approximately
        distributed as q, and ``msg.info["truncated"]`` says whether this message was cut.

    Example
    -------
    >>> import rcc
    >>> q, p = rcc.Gaussian([1.0, -0.5], 0.5), rcc.Gaussian(0.0, 1.0)
    >>> msg = rcc.PFR().encode(q, p, seed=1234)
    >>> x = rcc.PFR().decode(msg.to_bytes(), p, seed=1234)
    >>> bool((x == msg.sample).all())
    True

    ``msg.num_bits`` is the length of the Zipf-coded index (about KL + log2(KL + 1) + 2 bits);
    the Golomb parameter of the code (derived from the KL) and ``max_candidates`` travel in the
    header (``msg.overhead_bits``).
    """

    method = "pfr"

    def __init__(self, max_candidates: int | None = None):
        if max_candidates is not None:
            if isinstance(max_candidates, bool) or not isinstance(max_candidates, (int, np.integer)):
                raise ValueError(f"max_candidates must be a positive int or None; got {max_candidates!r}")
            if not 1 <= max_candidates < 2**63:
                raise ValueError(f"max_candidates must be in [1, 2**63); got {max_candidates}")
            max_candidates = int(max_candidates)
        self.max_candidates = max_candidates

    def __repr__(self) -> str:
        return f"PFR(max_candidates={self.max_candidates})"

    def encode(self, q: Distribution, p: Distribution, seed: int) -> Message:
        """Send one exact (or, truncated, approximate) sample of q given the shared prior p.

        q, p: distributions broadcasting to one shape S; the sample has shape S. Returns a
        :class:`rcc.Message` whose ``info`` holds ``kl_bits``, ``dinf_bits``, ``index`` (1-based),
        ``num_candidates`` (scored), ``certified`` and ``truncated``.
        """
        shape = check_pair(q, p)
        seed = check_seed(seed)
        kl = float(kl_bits(q, p))
        dinf = float(dinf_bits(q, p))
        if self.max_candidates is None:
            if not math.isfinite(dinf):
                raise ValueError(
                    "exact PFR needs a finite D_inf = log2 sup dq/dp, but it is infinite for this "
                    "pair (e.g. q not narrower than p); pass PFR(max_candidates=N) to run a "
                    "truncated (biased) race"
                )
            if dinf > MAX_EXACT_DINF_BITS:
                raise ValueError(
                    f"exact PFR would score about 2^{dinf:.1f} candidates (D_inf = {dinf:.1f} bits); "
                    "split the pair with rcc.compress(chunk_bits=...) or pass max_candidates"
                )
        pair = Pair(q, p)
        index, scored, certified = pfr_search(pair, seed, 0, dinf * _LN2, self.max_candidates)
        m = golomb_param_for_kl(kl)
        w = BitWriter()
        write_zipf_index(w, index + 1, m)
        payload, nbits = w.getvalue()
        sample = candidate(pair, seed_key(seed), 0, index).reshape(shape)
        info = {
            "kl_bits": kl,
            "dinf_bits": dinf,
            "index": index + 1,
            "num_candidates": scored,
            "certified": certified,
            "truncated": not certified,
        }
        params = (m, self.max_candidates or 0)
        return Message(self.method, params, seed, sample, payload, nbits, info)

    def decode(self, blob: bytes, p: Distribution, seed: int | None = None) -> np.ndarray:
        """Regenerate the encoder's sample from ``blob`` and the shared prior ``p``, in O(d).

        ``seed`` (optional) must equal the seed in the blob. Raises :class:`rcc.DecodeError` for
        any malformed, corrupted or mismatched blob.
        """
        c = unpack(blob, expect_method=self.method)
        p = check_prior(p, c.shape, seed, c.seed)
        if len(c.params) != 2:
            raise DecodeError(f"pfr message has {len(c.params)} parameters, expected 2")
        m, max_candidates = c.params
        if not 1 <= m <= 4096:
            raise DecodeError(f"pfr Golomb parameter {m} out of range")
        rd = BitReader(c.payload, c.payload_bits)
        index = read_zipf_index(rd, m)
        rd.finish()
        if max_candidates and index > max_candidates:
            raise DecodeError(f"index {index} exceeds the message's max_candidates {max_candidates}")
        return candidate(p, seed_key(c.seed), 0, index - 1).reshape(c.shape)
