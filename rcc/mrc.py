"""Minimal random coding (MRC): N candidates, the index sent with log2 N bits.

Havasi, Peharz & Hernandez-Lobato, "Minimal Random Code Learning" (ICLR 2019); Cuff (2008).
The encoder draws N candidates X_1..X_N ~ p from the shared stream and picks index K with
probability r(X_K) / sum_i r(X_i), r = dq/dp (Gumbel-max with its own seeded noise). The index is
uniform over 1..N, so it is sent with a fixed-width code of ceil(log2 N) bits. The sample is
approximately q; the bias is small once N is about 2^(KL + t) for a few bits t. This is the
baseline the other selection channels are compared with.
"""

from __future__ import annotations

from ._chunk_codes import FixedWidthCode
from ._kernels import Pair
from ._race import gumbel_max, scorer
from .channel import SelectionChannel, check_num_candidates, expect_params
from .coding import BitReader, BitWriter
from .errors import DecodeError

__all__ = ["MRC"]


def _width(n: int) -> int:
    return (n - 1).bit_length()


class MRC(SelectionChannel):
    """Minimal random coding with ``num_candidates`` candidates (Havasi et al., 2019).

    ``msg.num_bits`` is exactly ceil(log2 N); ``msg.info`` holds ``kl_bits``, ``index``,
    ``num_scored`` (N) and ``truncated`` (always True: no certificate, see :mod:`rcc.channel`).

    Example
    -------
    >>> import rcc
    >>> q, p = rcc.Gaussian(1.0, 1.0), rcc.Gaussian(0.0, 1.0)
    >>> msg = rcc.MRC(num_candidates=2**8).encode(q, p, seed=5)
    >>> msg.num_bits
    8
    """

    method = "mrc"
    method_code = 4

    def __init__(self, num_candidates: int = 2**16):
        self.num_candidates = check_num_candidates("num_candidates", num_candidates)

    def __repr__(self) -> str:
        return f"MRC(num_candidates={self.num_candidates})"

    def select(self, pair: Pair, seed: int, chunk: int) -> tuple[int, dict]:
        index = gumbel_max(scorer(pair, seed, chunk), seed, chunk, self.num_candidates)
        return index, {"num_scored": self.num_candidates, "truncated": True}

    def expected_candidates(self, kl: float, dinf: float, size: int = 1) -> float:
        return float(self.num_candidates)  # Gumbel-max scores all N

    def index_params(self, kl: float) -> tuple[int, ...]:
        return (self.num_candidates,)

    def chunk_code(self) -> FixedWidthCode:
        return FixedWidthCode(self.num_candidates)

    @classmethod
    def chunk_code_from(cls, params: tuple[int, ...]) -> FixedWidthCode:
        (count,) = params
        if not 1 <= count < 2**63:
            raise DecodeError(f"candidate count {count} out of range for mrc")
        return FixedWidthCode(count)

    def write_index(self, w: BitWriter, index: int, params: tuple[int, ...]) -> None:
        w.write(index - 1, _width(params[0]))

    def read_index(self, rd: BitReader, params: tuple[int, ...]) -> int:
        expect_params(params, 1, self.method)
        (n,) = params
        if not 1 <= n < 2**63:
            raise DecodeError(f"mrc candidate count {n} out of range")
        index = rd.read(_width(n)) + 1
        if index > n:
            raise DecodeError(f"index {index} exceeds the message's {n} candidates")
        return index
