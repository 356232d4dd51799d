"""Hybrid coding: dithered quantization in CDF space, then a Poisson race inside one bin.

Theis & Yosri, "Algorithms for the Communication of Samples" (ICML 2022), section on hybrid
coding; compare their reference notebook ``google-research/rcc_algorithms/hybrid_coding.ipynb``.

The picture, per coordinate (q and p factorise)::

    x ──F_p──▶ u in [0, 1) (a circle)      p becomes U(0, 1); q becomes r(u) = q/p (F_p^-1(u))
                │
     shared dither delta ~ U(0, 1), M bins  W_k = ((k + delta + (0, 1)) / M) mod 1,  k = 0..M-1
                │
     encoder:   K ~ Q_k = q-mass of W_k     (encoder-private uniform, DOMAIN_SELECT)
                │                            sent with a truncated binary code: ~log2 M bits
     encoder:   PFR race over candidates     u_i = ((K + delta + V_i) / M) mod 1, V_i shared
                                             (DOMAIN_CANDIDATE), i.e. i.i.d. U(W_K), scored by
                                             r(u_i); index N sent with the Zipf-law code
     decoder:   x = F_p^-1(((K + delta + V_N) / M) mod 1)

**Why it is exact** (inner PFR, finite D_inf). Fix the dither. The bins partition the circle.
Given K = k the candidates are i.i.d. uniform on W_k, which is p restricted to F_p^-1(W_k) in x,
and the arrival times are a unit-rate Poisson process independent of them; the race
argmin_i T_i / r(u_i) is then the Poisson functional representation (Li & El Gamal, 2018) of the
conditional target r(u) 1{u in W_k} / Q_k against that proposal (the constant 1 / (M Q_k) of the
density ratio changes neither the argmin nor, applied to the bound too, the stopping rule). Its
output is therefore exactly distributed as r 1_{W_k} / Q_k, and mixing over P(K = k) = Q_k gives
sum_k Q_k r 1_{W_k} / Q_k = r: the sample is exactly q, for every dither. The race stops once
T_i >= best * sup_{W_K} r, so it needs the supremum of q/p over one bin, which is computed in
closed form (log q/p is concave for Gaussian pairs, piecewise linear for Laplace pairs and
quasi-convex on q's support for a Uniform q against a unimodal p).

**Costs.** With KL = KL[q || p] and H(K) the entropy of the bin law (given the dither),
KL = log2 M - H(K) + E KL[q_K || U(W_K)] per coordinate, so the race runs at about
KL - log2 M + H(K) bits of KL and scores about sup_{W_K} r / (M Q_K) candidates -- about M times
fewer than PFR's 2^D_inf when q fits in a bin -- while the integer costs log2 M bits under its law
when x ~ p (uniform over the bins). The total is about PFR's plus H(K), at most about one bit when
q's width in u is below 1/M. M much wider than q's width in u gains no more candidates and only
costs bits: choose M up to about 2^(D_inf - a few).

This is the two-stage form of hybrid coding. The paper's own scheme centres one bin-wide window
on q's (truncated) support and sends the lattice integer k = round(c - u) of the winner; it avoids
the H(K) term but is exact only for targets whose support fits in the window (Gaussians are
truncated there). Here the bin is chosen by its q-mass instead, so Gaussian targets stay exact.

Scope: factorised pairs of size d <= 64 (``num_bins`` bins per coordinate, d integers sent, about
M^d fewer candidates). Tight per-bin bounds exist for Gaussian||Gaussian, Laplace||Laplace and a
Uniform q against any prior (the pairs with a finite D_inf); other pairs run only with a
candidate limit (``inner="orc"`` or ``max_candidates``), without a stopping rule.
"""

from __future__ import annotations

import math

import numpy as np

from . import _densities
from ._checks import check_pair, pair_dinf_bits
from ._densities import GAUSSIAN, LAPLACE, UNIFORM
from ._chunk_codes import HybridCode
from ._hybrid_kernels import hybrid_candidate, hybrid_score_batch
from ._kernels import Pair
from ._race import poisson_race
from .channel import Channel, check_num_candidates
from .coding import (
    BitReader,
    BitWriter,
    golomb_param_for_kl,
    read_truncated_binary,
    read_zipf_index,
    write_truncated_binary,
    write_zipf_index,
)
from .container import DEFAULT_MAX_ELEMENTS, Message, Payload, check_payload, prior_fingerprint
from .distributions import Distribution
from .errors import DecodeError
from .random import DOMAIN_HYBRID, DOMAIN_SELECT, seed_key, uniforms

__all__ = ["Hybrid"]

_LN2 = math.log(2.0)
#: Largest ``num_bins`` accepted (bins per coordinate).
MAX_BINS = 2**24
#: Largest number of coordinates of one hybrid message.
MAX_DIM = 64
#: Exact hybrid refuses pairs whose race promises more than about 2**MAX_EXACT_DINF candidates.
MAX_EXACT_DINF_BITS = 32.0
_INNER = {"pfr": 0, "orc": 1}
_INNER_NAMES = {v: k for k, v in _INNER.items()}


# ----------------------------------------------------------------------------------------------
# bins, their q-masses and the supremum of q/p over one bin (encoder side, plain numpy)
# ----------------------------------------------------------------------------------------------


def bin_edges(p: Distribution, dither: np.ndarray, num_bins: int) -> np.ndarray:
    """Lower edges in x of the M bins, shape (M, d): ``F_p^-1((k + dither) / M)``, k = 0..M-1.

    Bin k < M-1 is [edge_k, edge_{k+1}]; bin M-1 wraps: [edge_{M-1}, inf) and (-inf, edge_0].
    """
    k = np.arange(num_bins, dtype=np.float64)[:, None]
    return p.ppf((k + dither[None, :]) / num_bins)


def bin_masses(q: Distribution, edges: np.ndarray) -> np.ndarray:
    """q-mass Q_k of every bin, shape (M, d), from the bins' x edges (rows sum to 1)."""
    cdf, sf = q.cdf(edges), q.sf(edges)
    lower = cdf[1:] < 0.5
    inner = np.where(lower, cdf[1:] - cdf[:-1], sf[:-1] - sf[1:])  # no cancellation in the tails
    wrap = cdf[:1] + sf[-1:]
    return np.maximum(np.concatenate([inner, wrap], axis=0), 0.0)


def _log_ratio(qfam, qa, qb, pfam, pa, pb, x) -> float:
    if qfam == UNIFORM:  # the density on the closed support, also at its ends
        return -math.log(qb - qa) - _densities.logpdf(pfam, pa, pb, x)
    return _densities.logpdf(qfam, qa, qb, x) - _densities.logpdf(pfam, pa, pb, x)


def sup_log_ratio(qfam, qa, qb, pfam, pa, pb, lo: float, hi: float, bounded: bool) -> float:
    """sup of log q(x)/p(x) (nats) over the interval [lo, hi] of one coordinate.

    ``bounded`` says whether q/p is bounded on the whole line (finite D_inf); an infinite end of
    the interval then adds nothing (q/p does not grow towards it for the supported pairs),
    otherwise it makes the bound infinite. Exact for Gaussian||Gaussian (log q/p is a
    quadratic: the clipped mode or an end), Laplace||Laplace (piecewise linear: an end or a kink)
    and Uniform q (q/p is quasi-convex on q's support for a unimodal p: an end of the
    intersection); ``inf`` (no bound) for other pairs.
    """
    ends = [x for x in (lo, hi) if math.isfinite(x)]
    if len(ends) < 2 and not bounded:
        return math.inf
    if qfam == UNIFORM:
        a, b = max(lo, qa), min(hi, qb)
        if a > b:
            return -math.inf
        pts = [a, b]
    elif qfam == GAUSSIAN and pfam == GAUSSIAN:
        pts = list(ends)
        if qb < pb:
            mode = (pb * pb * qa - qb * qb * pa) / ((pb - qb) * (pb + qb))
            pts.append(min(max(mode, lo), hi))
        elif qb == pb and qa == pa:
            return 0.0
    elif qfam == LAPLACE and pfam == LAPLACE:
        pts = list(ends) + [x for x in (qa, pa) if lo <= x <= hi]
    else:
        return math.inf
    return max(_log_ratio(qfam, qa, qb, pfam, pa, pb, x) for x in pts)


def bin_sup_log_ratio(q: Distribution, p: Distribution, edges: np.ndarray, kbins: np.ndarray, bounded: bool) -> float:
    """sup over the product bin ``kbins`` of log q/p in nats (a sum over coordinates)."""
    m = edges.shape[0]
    total = 0.0
    for j, k in enumerate(kbins):
        args = (int(q.family), float(q.a[j]), float(q.b[j]), int(p.family), float(p.a[j]), float(p.b[j]))
        if k < m - 1:
            s = sup_log_ratio(*args, float(edges[k, j]), float(edges[k + 1, j]), bounded)
        else:
            s = max(
                sup_log_ratio(*args, float(edges[m - 1, j]), math.inf, bounded),
                sup_log_ratio(*args, -math.inf, float(edges[0, j]), bounded),
            )
        total += s
    return total


# ----------------------------------------------------------------------------------------------
# the channel
# ----------------------------------------------------------------------------------------------


class Hybrid(Channel):
    """Hybrid coding: dithered quantization in CDF space + a PFR (or ORC) race in one bin.

    Theis & Yosri, "Algorithms for the Communication of Samples" (ICML 2022); see the module
    docstring for the construction and why it is exact.

    Parameters
    ----------
    num_bins : int
        M in [1, 2**24], bins per coordinate. The race scores about M times fewer candidates per
        coordinate than PFR while q fits in a bin; the integer costs log2 M bits per coordinate.
        ``num_bins=1`` is PFR run in CDF space. The encoder evaluates p's quantile function and
        q's cdf at the M bin edges of each coordinate in turn: O(M d) time, O(M) memory.
    inner : {"pfr", "orc"}
        ``"pfr"`` (default): exact, with the per-bin D_inf stopping rule (needs a finite D_inf).
        ``"orc"``: ordered random coding with ``num_candidates`` candidates, approximate.
    max_candidates : int, optional
        PFR only: truncate the race at N candidates (biased, flagged in ``info["truncated"]``).
    num_candidates : int, optional
        ORC only: N (default 2**16).

    Shapes and units
    ----------------
    q, p broadcast to one shape S of size d <= 64; the sample has shape S (float64). Bits are
    payload bits: d truncated-binary bins (``info["integer_bits"]``) then the Zipf-coded 1-based
    index (``info["index_bits"]``); M, the inner scheme, the Golomb parameter and N travel in the
    header. ``info`` also holds ``kl_bits``, ``dinf_bits`` (of the pair),
    ``window_dinf_bits`` (log2 sup of the race's density ratio in the chosen bin),
    ``window_mass`` (its q-mass), ``integer_entropy_bits`` (H(K) given the dither),
    ``index`` (1-based), ``integer`` (the bin; an int if d == 1, else a tuple),
    ``num_scored`` and ``truncated`` (the race was not certified; see :mod:`rcc.channel`).
    ``rcc.compress(method=Hybrid(...))`` chunks larger pairs (at most 64 coordinates a chunk).

    Example
    -------
    >>> import rcc
    >>> q, p = rcc.Gaussian(2.0, 0.3), rcc.Gaussian(0.0, 1.0)
    >>> ch = rcc.Hybrid(num_bins=4)
    >>> msg = ch.encode(q, p, seed=1234)
    >>> x = ch.decode(msg.to_bytes(), p, seed=1234)
    >>> bool((x == msg.sample).all()), msg.info["integer_bits"]
    (True, 2)
    """

    method = "hybrid"
    method_code = 5

    def __init__(
        self,
        num_bins: int = 4,
        inner: str = "pfr",
        max_candidates: int | None = None,
        num_candidates: int | None = None,
    ):
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or not 1 <= num_bins <= MAX_BINS:
            raise ValueError(f"num_bins must be an int in [1, {MAX_BINS}]; got {num_bins!r}")
        if inner not in _INNER:
            raise ValueError(f"inner must be 'pfr' or 'orc'; got {inner!r}")
        self.num_bins = int(num_bins)
        self.inner = inner
        if inner == "pfr":
            if num_candidates is not None:
                raise ValueError("num_candidates is for inner='orc'; use max_candidates to truncate PFR")
            self.max_candidates = check_num_candidates("max_candidates", max_candidates, allow_none=True)
            self.num_candidates = None
        else:
            if max_candidates is not None:
                raise ValueError("max_candidates is for inner='pfr'; ORC takes num_candidates")
            self.max_candidates = None
            self.num_candidates = check_num_candidates("num_candidates", 2**16 if num_candidates is None else num_candidates)

    def __repr__(self) -> str:
        n = f"max_candidates={self.max_candidates}" if self.inner == "pfr" else f"num_candidates={self.num_candidates}"
        return f"Hybrid(num_bins={self.num_bins}, inner={self.inner!r}, {n})"

    # ------------------------------------------------------------------------------------------
    def refusal(self, kl: float, dinf: float, size: int) -> str | None:
        """Why hybrid coding refuses a pair (or chunk) of ``size`` coordinates (None: it takes it)."""
        if not math.isfinite(kl):
            return "KL[q || p] is infinite for this pair: q puts mass where p has none"
        if self.inner != "pfr" or self.max_candidates is not None:
            return None
        if not math.isfinite(dinf):
            return (
                "exact hybrid coding needs a finite D_inf = log2 sup dq/dp, but it is infinite (or "
                "unknown) for this pair; pass max_candidates=N or inner='orc'"
            )
        if dinf - size * math.log2(self.num_bins) > MAX_EXACT_DINF_BITS:
            return (
                f"exact hybrid coding would score about 2^{dinf - size * math.log2(self.num_bins):.1f} candidates "
                f"(D_inf = {dinf:.1f} bits, {self.num_bins} bins); raise num_bins or split the pair"
            )
        return None

    def expected_candidates(self, kl: float, dinf: float, size: int) -> float:
        """About 2^(D_inf - size log2 M) candidates, capped by the budget (inf: no bound)."""
        limit = self.max_candidates if self.inner == "pfr" else self.num_candidates
        expected = 2.0 ** min(1000.0, max(0.0, dinf - size * math.log2(self.num_bins))) if math.isfinite(dinf) else math.inf
        return min(expected, math.inf if limit is None else float(limit))

    def select(self, pair: Pair, seed: int, chunk: int) -> tuple[tuple[np.ndarray, int], dict]:
        """Choose the bins and race inside them, for ``chunk`` of the shared stream.

        Returns ((bins int64 (d,), 0-based index), info): the dither is drawn at (seed,
        DOMAIN_HYBRID, chunk), the encoder's bin uniforms at (seed, DOMAIN_SELECT, chunk), the
        candidates and arrival times at ``chunk``. ``info`` holds what the class docstring lists
        but ``kl_bits``, ``index`` and the bit counts.
        """
        qf, pf, d, m = pair.q, pair.p, pair.d, self.num_bins
        dinf = float(pair_dinf_bits(qf, pf))
        limit = self.max_candidates if self.inner == "pfr" else self.num_candidates
        dither = uniforms(seed, DOMAIN_HYBRID, chunk, 0, d)
        kbins, log_window_mass, h_k, log_rmax = _choose_bins(qf, pf, dither, uniforms(seed, DOMAIN_SELECT, chunk, 0, d), m,
                                                             math.isfinite(dinf))
        key = seed_key(seed)
        score = lambda start, count: hybrid_score_batch(key, chunk, start, count, kbins, dither, m, qf, pf)  # noqa: E731
        index, scored, certified = poisson_race(score, seed, chunk, log_rmax, limit, ordered=self.inner == "orc")
        return (kbins, index), {
            "dinf_bits": dinf,
            "window_dinf_bits": (log_rmax - log_window_mass - d * math.log(m)) / _LN2,
            "window_mass": math.exp(log_window_mass),
            "integer_entropy_bits": h_k,
            "integer": int(kbins[0]) if d == 1 else tuple(int(k) for k in kbins),
            "num_scored": scored,
            "truncated": not certified,
            "inner": self.inner,
        }

    def encode(self, q: Distribution, p: Distribution, seed: int) -> Message:
        """Send one sample of q given the shared prior p (see the class docstring for ``info``)."""
        shape = check_pair(q, p)
        d = int(np.prod(shape, dtype=np.int64))
        if d > MAX_DIM:  # before any per-coordinate work
            raise ValueError(f"Hybrid takes pairs of at most {MAX_DIM} coordinates; got shape {shape} (use rcc.compress)")
        shape, seed, kl, dinf = self.prepare(q, p, seed)
        m = self.num_bins
        pair = Pair(q, p)
        (kbins, index), info = self.select(pair, seed, 0)
        params = self.index_params(max(0.0, kl - d * math.log2(m) + info["integer_entropy_bits"]))
        w = BitWriter()
        for k in kbins:
            write_truncated_binary(w, int(k), m)
        integer_bits = w.num_bits
        write_zipf_index(w, index + 1, params[2])
        payload, nbits = w.getvalue()
        dither = uniforms(seed, DOMAIN_HYBRID, 0, 0, d)
        sample = hybrid_candidate(seed_key(seed), 0, index, kbins, dither, m, pair.p).reshape(shape)
        info = {"kl_bits": kl, "index": index + 1, **info, "integer_bits": integer_bits, "index_bits": nbits - integer_bits}
        return Message(self.method, params, seed, sample, payload, nbits, info, prior_fingerprint(p.broadcast_to(shape)))

    def chunk_code(self) -> HybridCode:
        """Chunks of at most 64 coordinates: their bins in the preamble, race indices by bit length."""
        n = self.max_candidates if self.inner == "pfr" else self.num_candidates
        return HybridCode(_INNER[self.inner], self.num_bins, n)

    @classmethod
    def chunk_code_from(cls, params: tuple[int, ...]) -> HybridCode:
        inner, m, n = params
        if inner not in _INNER_NAMES or not 1 <= m <= MAX_BINS or not n < 2**63 or (_INNER_NAMES[inner] == "orc" and n < 1):
            raise DecodeError(f"hybrid chunk parameters {params} out of range")
        return HybridCode(inner, m, n or None)

    #: (inner scheme code, num_bins, N or 0) in a chunked header.
    num_chunk_params = 3

    def index_params(self, kl: float) -> tuple[int, int, int, int]:
        """Header parameters (inner code, num_bins, Golomb parameter of the index code, N or 0)
        for a race of ``kl`` bits of KL (that of the pair within the chosen bin)."""
        n = (self.max_candidates or 0) if self.inner == "pfr" else self.num_candidates
        return (_INNER[self.inner], self.num_bins, golomb_param_for_kl(kl), n)

    # ------------------------------------------------------------------------------------------
    def decode_payload(self, payload: Payload, p: Distribution, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
        """Regenerate the encoder's sample from a hybrid :class:`rcc.Payload` and the prior, in O(d).

        The payload's own parameters (M, inner scheme, N) count; this instance's settings are
        not consulted. :class:`rcc.DecodeError` for bad parameters, a shape of more than 64 (or
        ``max_elements``) elements, a prior that does not broadcast to it, or a malformed payload.
        """
        pb = check_payload(payload, self.method, p, max_elements)
        if len(payload.params) != 4:
            raise DecodeError(f"a hybrid message has 4 header parameters, this one {len(payload.params)}")
        inner, m, golomb, n = payload.params
        if inner not in _INNER_NAMES:
            raise DecodeError(f"unknown inner scheme code {inner}")
        if not 1 <= m <= MAX_BINS:
            raise DecodeError(f"num_bins {m} out of range")
        if _INNER_NAMES[inner] == "orc" and n < 1:
            raise DecodeError("an orc-inner hybrid message needs its number of candidates")
        d = int(np.prod(payload.shape, dtype=np.int64))
        if d > MAX_DIM:
            raise DecodeError(f"shape {payload.shape} has more than {MAX_DIM} coordinates")
        rd = BitReader(payload.data, payload.num_bits)
        kbins = np.array([read_truncated_binary(rd, m) for _ in range(d)], dtype=np.int64)
        index = read_zipf_index(rd, golomb)
        rd.finish()
        if n and index > n:
            raise DecodeError(f"index {index} exceeds the message's {n} candidates")
        dither = uniforms(payload.seed, DOMAIN_HYBRID, 0, 0, d)
        x = hybrid_candidate(seed_key(payload.seed), 0, index - 1, kbins, dither, m, pb.ravel())
        return x.reshape(payload.shape)


def _choose_bins(qf: Distribution, pf: Distribution, dither: np.ndarray, sel: np.ndarray, m: int, bounded: bool):
    """The encoder's bins K_j ~ Q_j, one coordinate at a time (memory O(M), not O(M d)).

    qf, pf: the pair flattened to (d,); dither, sel: (d,) shared dither and encoder-private
    uniforms. Returns (kbins int64 (d,), log q-mass of the product bin (nats), H(K) in bits,
    log sup of q/p over the product bin (nats)).
    """
    d = dither.shape[0]
    kbins = np.zeros(d, dtype=np.int64)
    log_window_mass, h_k, log_rmax = 0.0, 0.0, 0.0
    for j in range(d):
        qj, pj = qf.take([j]), pf.take([j])
        edges = bin_edges(pj, dither[j:j + 1], m)  # (M, 1)
        masses = bin_masses(qj, edges)[:, 0]
        cum = np.cumsum(masses)
        k = min(int(np.searchsorted(cum, sel[j] * cum[-1], side="right")), m - 1)
        kbins[j] = k
        log_window_mass += math.log(masses[k] / cum[-1]) if masses[k] > 0 else -math.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            pr = masses / cum[-1]
            h_k += max(0.0, float(-np.sum(np.where(pr > 0, pr * np.log2(pr), 0.0))))
        log_rmax += bin_sup_log_ratio(qj, pj, edges, kbins[j:j + 1], bounded)
    return kbins, log_window_mass, h_k, log_rmax
