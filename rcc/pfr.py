"""Poisson functional representation (PFR): exact channel simulation by a Poisson race.

Li & El Gamal, "Strong functional representation lemma and applications to coding theorems"
(IEEE Trans. IT, 2018). Encoder and decoder share candidates X_1, X_2, ... ~ p (the shared
stream of :mod:`rcc.random`). The encoder draws arrival times T_1 < T_2 < ... of a unit-rate
Poisson process (its own seeded stream) and sends

    K = argmin_i  T_i / r(X_i),        r = dq/dp,

whose candidate X_K is an exact sample of q. Since every later candidate has a larger arrival
time and r <= r_max = 2^D_inf, the race stops at the first i with T_i / r_max >= the best score so
far: about 2^D_inf candidates. E[log2 K] <= KL + 1.53 bits; K is sent with the Zipf-law code of
:mod:`rcc.coding` in about KL + log2(KL + 1) + 2 bits. Under :func:`rcc.compress` each chunk's
index is coded under K's own law instead (K - 1 given r(X_K) is geometric; the law for an
equal-variance Gaussian chunk of KL ``chunk_bits``, :mod:`rcc._index_law`), about H[K] bits.

Where D_inf is infinite (for example two Gaussians of equal variance) the race has no stopping
rule; ``max_candidates=N`` then truncates it at N candidates, and ``headroom_bits=h`` at
2^ceil(KL + h) candidates, a budget that follows each pair's (or chunk's) KL. A truncated sample
is biased (its law is that of minimal random coding with N candidates, roughly): every message
records ``info["truncated"]`` and benchmarks report the bias beside the bits.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import pair_dinf_bits
from ._chunk_codes import LawCode
from ._kernels import Pair
from ._race import poisson_race, scorer
from .channel import SelectionChannel, check_num_candidates, expect_params
from .coding import BitReader, BitWriter, golomb_param_for_kl, read_zipf_index, write_zipf_index
from .distributions import Distribution, kl_bits
from .errors import DecodeError

__all__ = ["PFR"]

_LN2 = math.log(2.0)
#: Exact PFR refuses pairs whose D_inf promises more than about 2**MAX_EXACT_DINF candidates.
MAX_EXACT_DINF_BITS = 32.0


class PFR(SelectionChannel):
    """Poisson functional representation channel (Li & El Gamal, 2018).

    Parameters
    ----------
    max_candidates : int, optional
        ``None`` (default): exact, with the D_inf stopping rule; the pair must have a finite
        D_inf of at most 32 bits. An int N: truncate the race at N candidates (needed where D_inf
        is infinite, e.g. equal-variance Gaussians); the sample is then only approximately
        distributed as q, and ``msg.info["truncated"]`` says whether this message was cut.
    headroom_bits : float, optional
        Also truncate at 2^ceil(KL + headroom_bits) candidates (KL of the pair, or of the chunk
        under :func:`rcc.compress`), and at ``max_candidates`` if given too. A candidate budget
        that grows with the KL keeps the truncation bias about even across chunks of uneven KL,
        where one fixed N starves the chunks of high KL; it is an encoder setting (the decoder
        never needs it) and does not travel in the header.

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
    header (``msg.overhead_bits``). ``msg.info`` holds ``kl_bits``, ``dinf_bits``, ``index``
    (1-based), ``num_scored`` and ``truncated`` (the budget cut the race: the sample is not
    exactly q; see :mod:`rcc.channel`).
    """

    method = "pfr"
    method_code = 2

    def __init__(self, max_candidates: int | None = None, *, headroom_bits: float | None = None):
        self.max_candidates = check_num_candidates("max_candidates", max_candidates, allow_none=True)
        if headroom_bits is not None:
            if isinstance(headroom_bits, bool) or not isinstance(headroom_bits, (int, float, np.integer, np.floating)) \
                    or not 0 <= float(headroom_bits) <= 62:
                raise ValueError(f"headroom_bits must be a number of bits in [0, 62] or None; got {headroom_bits!r}")
            headroom_bits = float(headroom_bits)
        self.headroom_bits = headroom_bits

    def __repr__(self) -> str:
        extra = "" if self.headroom_bits is None else f", headroom_bits={self.headroom_bits:g}"
        return f"PFR(max_candidates={self.max_candidates}{extra})"

    @property
    def exact(self) -> bool:
        """True when no candidate budget applies (the D_inf stopping rule alone ends the race)."""
        return self.max_candidates is None and self.headroom_bits is None

    def budget(self, q: Distribution, p: Distribution) -> int | None:
        """Candidates this channel scores at most for the pair (None: no limit)."""
        if self.headroom_bits is None:
            return self.max_candidates
        return self._budget(float(kl_bits(q, p)))

    def _budget(self, kl: float) -> int | None:
        if self.headroom_bits is None:
            return self.max_candidates
        if not math.isfinite(kl):
            return self.max_candidates
        n = 2 ** min(62, max(0, math.ceil(kl + self.headroom_bits)))
        return n if self.max_candidates is None else min(n, self.max_candidates)

    def refusal(self, kl: float, dinf: float, size: int = 1) -> str | None:
        if self._budget(kl) is not None:
            return None
        if not math.isfinite(dinf):
            return (
                "exact PFR needs a finite D_inf = log2 sup dq/dp, but it is infinite for this pair (e.g. q "
                "not narrower than p); pass PFR(max_candidates=N) to run a truncated (biased) race, or use "
                "rcc.ORC(num_candidates=N)"
            )
        if dinf > MAX_EXACT_DINF_BITS:
            return (
                f"exact PFR would score about 2^{dinf:.1f} candidates (D_inf = {dinf:.1f} bits, above "
                f"{MAX_EXACT_DINF_BITS:g}); split the pair with rcc.compress(chunk_bits=...) or pass max_candidates"
            )
        return None

    def select(self, pair: Pair, seed: int, chunk: int) -> tuple[int, dict]:
        q, p = pair.q, pair.p
        dinf = float(pair_dinf_bits(q, p))
        kl = float(kl_bits(q, p))
        reason = self.refusal(kl, dinf)
        if reason is not None:
            raise ValueError(reason)
        index, scored, certified = poisson_race(scorer(pair, seed, chunk), seed, chunk, dinf * _LN2, self._budget(kl))
        return index, {"dinf_bits": dinf, "num_scored": scored, "truncated": not certified}

    def expected_candidates(self, kl: float, dinf: float, size: int = 1) -> float:
        budget = self._budget(kl)
        if budget is None and not dinf <= MAX_EXACT_DINF_BITS:
            return math.inf  # refused by select: no estimate
        expected = 2.0 ** min(dinf, 1000.0) if math.isfinite(dinf) else math.inf
        return expected if budget is None else min(expected, float(budget))

    def index_params(self, kl: float) -> tuple[int, ...]:
        return (golomb_param_for_kl(kl), self.max_candidates or 0)

    def chunk_code(self) -> LawCode:
        """Chunk indices under exact PFR's own index law at the chunk KL (``rcc._chunk_codes.LawCode``)."""
        return LawCode(self.max_candidates)

    @classmethod
    def chunk_code_from(cls, params: tuple[int, ...]) -> LawCode:
        (count,) = params
        if not count < 2**63:
            raise DecodeError(f"candidate count {count} out of range for pfr")
        return LawCode(count or None)

    def write_index(self, w: BitWriter, index: int, params: tuple[int, ...]) -> None:
        write_zipf_index(w, index, params[0])

    def read_index(self, rd: BitReader, params: tuple[int, ...]) -> int:
        expect_params(params, 2, self.method)
        m, max_candidates = params
        index = read_zipf_index(rd, m)
        if max_candidates and index > max_candidates:
            raise DecodeError(f"index {index} exceeds the message's max_candidates {max_candidates}")
        return index
