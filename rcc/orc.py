"""Ordered random coding (ORC): N candidates, the index entropy-coded.

Theis & Yosri, "Algorithms for the Communication of Samples" (ICML 2022). Like minimal random
coding, ORC picks one of N candidates X_1..X_N ~ p with probability proportional to
r(X_i) = dq/dp(X_i) -- its output law is exactly MRC's for the same N -- but it does so with a
race over *sorted* exponential arrival times

    T_n = sum_{i<=n} E_i * N / (N - i + 1)   (the order statistics of N i.i.d. Exp(1)),
    K = argmin_n T_n / r(X_n),

so that small indices win far more often: the index is entropy-coded (here with the Zipf-law
code of :mod:`rcc.coding`) in fewer than log2 N bits. The race stops early, as PFR's does, once
T_n / r_max exceeds the best score, where D_inf is finite. ORC is approximate: its bias shrinks
as N grows past 2^KL.
"""

from __future__ import annotations

import math

from ._checks import pair_dinf_bits
from ._chunk_codes import BitLengthCode
from ._kernels import Pair
from ._race import poisson_race, scorer
from .channel import SelectionChannel, check_num_candidates, expect_params
from .coding import BitReader, BitWriter, golomb_param_for_kl, read_zipf_index, write_zipf_index
from .errors import DecodeError

__all__ = ["ORC"]

_LN2 = math.log(2.0)


class ORC(SelectionChannel):
    """Ordered random coding with ``num_candidates`` candidates (Theis & Yosri, 2022).

    Parameters
    ----------
    num_candidates : int
        N, the number of candidates; about 2^(KL + a few) keeps the bias small.

    Example
    -------
    >>> import rcc
    >>> q, p = rcc.Gaussian(1.0, 1.0), rcc.Gaussian(0.0, 1.0)  # D_inf infinite: PFR cannot be exact
    >>> msg = rcc.ORC(num_candidates=2**10).encode(q, p, seed=5)
    >>> bool(rcc.ORC(num_candidates=2**10).decode(msg.to_bytes(), p, seed=5) == msg.sample)
    True

    ``msg.info`` holds ``kl_bits``, ``index`` (1-based), ``num_scored`` and ``truncated`` (False
    when the ordered race stopped early, certified; see :mod:`rcc.channel`). The header carries
    the Golomb parameter of the index code and N.
    """

    method = "orc"
    method_code = 3

    def __init__(self, num_candidates: int = 2**16):
        self.num_candidates = check_num_candidates("num_candidates", num_candidates)

    def __repr__(self) -> str:
        return f"ORC(num_candidates={self.num_candidates})"

    def select(self, pair: Pair, seed: int, chunk: int) -> tuple[int, dict]:
        log_rmax = float(pair_dinf_bits(pair.q, pair.p)) * _LN2
        index, scored, stopped = poisson_race(scorer(pair, seed, chunk), seed, chunk, log_rmax, self.num_candidates, ordered=True)
        return index, {"num_scored": scored, "truncated": not stopped}

    def expected_candidates(self, kl: float, dinf: float, size: int = 1) -> float:
        expected = 2.0 ** min(dinf, 1000.0) if math.isfinite(dinf) else math.inf
        return min(expected, float(self.num_candidates))

    def index_params(self, kl: float) -> tuple[int, ...]:
        return (golomb_param_for_kl(kl), self.num_candidates)

    def chunk_code(self) -> BitLengthCode:
        return BitLengthCode(self.num_candidates)

    @classmethod
    def chunk_code_from(cls, params: tuple[int, ...]) -> BitLengthCode:
        (count,) = params
        if not 1 <= count < 2**63:
            raise DecodeError(f"candidate count {count} out of range for orc")
        return BitLengthCode(count)

    def write_index(self, w: BitWriter, index: int, params: tuple[int, ...]) -> None:
        write_zipf_index(w, index, params[0])

    def read_index(self, rd: BitReader, params: tuple[int, ...]) -> int:
        expect_params(params, 2, self.method)
        m, n = params
        if not 1 <= n < 2**63:
            raise DecodeError(f"orc header parameters {params} out of range")
        index = read_zipf_index(rd, m)
        if index > n:
            raise DecodeError(f"index {index} exceeds the message's {n} candidates")
        return index
