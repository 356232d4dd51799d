"""The contract every selection-based channel shares (PFR, ORC, MRC).

A selection channel draws candidates X_1, X_2, ... ~ p from the shared stream, picks an index K
with a rule of its own (:meth:`SelectionChannel.select`), and sends K with a prefix code of its
own law; the decoder regenerates candidate K in O(d). Subclasses define the rule, the index code
and the header parameters the decoder needs; this base class does validation, the container and
decoding.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_pair, open_blob, pair_dinf_bits, pair_kl_bits, warn_long_race
from ._kernels import Pair, candidate
from .coding import BitReader, BitWriter
from .container import DEFAULT_MAX_ELEMENTS, Message, prior_fingerprint
from .distributions import Distribution
from .errors import DecodeError
from .random import check_seed, seed_key

__all__ = ["SelectionChannel", "check_num_candidates"]


def check_num_candidates(name: str, value, allow_none: bool = False):
    """Validate a candidate count (an int in [1, 2**63)) and return it as an int."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}; got {value!r}")
    if not 1 <= value < 2**63:
        raise ValueError(f"{name} must be in [1, 2**63); got {value}")
    return int(value)


class SelectionChannel:
    """Base class: ``encode(q, p, seed) -> Message`` and ``decode(blob, p, seed) -> sample``."""

    method: str = ""

    # --- what a subclass defines --------------------------------------------------------------
    def select(self, pair: Pair, q: Distribution, p: Distribution, seed: int, chunk: int) -> tuple[int, dict]:
        """Pick a 0-based candidate index of ``chunk``; return it and diagnostics."""
        raise NotImplementedError

    def index_params(self, kl: float) -> tuple[int, ...]:
        """Header parameters of the index code for a pair whose KL is ``kl`` bits."""
        raise NotImplementedError

    def write_index(self, w: BitWriter, index: int, params: tuple[int, ...]) -> None:
        """Write the 1-based ``index``."""
        raise NotImplementedError

    def read_index(self, rd: BitReader, params: tuple[int, ...]) -> int:
        """Read a 1-based index; raise DecodeError if it or ``params`` cannot be valid."""
        raise NotImplementedError

    def expected_candidates(self, kl: float, dinf: float) -> float:
        """About how many candidates a race on a pair (or chunk) of this KL and D_inf (bits)
        scores: the stopping rule's 2^D_inf, capped by the candidate budget (inf: no bound)."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------
    def encode(self, q: Distribution, p: Distribution, seed: int) -> Message:
        """Send one sample of q given the shared prior p.

        q, p: rcc distributions broadcasting to one shape S; the sample has shape S.
        Returns a :class:`rcc.Message`; ``info`` holds ``kl_bits``, ``index`` (1-based) and the
        channel's diagnostics. ValueError for a pair without a closed-form KL (families that do
        not match, other than a Uniform q); a RuntimeWarning before the race if it is expected to
        take more than about 30 s (expected candidates x d at ~10 ns per candidate-coordinate).
        """
        shape = check_pair(q, p)
        seed = check_seed(seed)
        kl = float(pair_kl_bits(q, p))
        dinf = float(pair_dinf_bits(q, p))
        expected = self.expected_candidates(kl, dinf)
        warn_long_race(expected, expected * max(1, int(np.prod(shape, dtype=np.int64))), repr(self))
        pair = Pair(q, p)
        index, info = self.select(pair, q, p, seed, 0)
        params = self.index_params(kl)
        w = BitWriter()
        self.write_index(w, index + 1, params)
        payload, nbits = w.getvalue()
        sample = candidate(pair, seed_key(seed), 0, index).reshape(shape)
        info = {"kl_bits": kl, "index": index + 1, **info}
        fingerprint = prior_fingerprint(p.broadcast_to(shape))
        return Message(self.method, params, seed, sample, payload, nbits, info, fingerprint)

    def decode(
        self, blob: bytes, p: Distribution, seed: int | None = None, *, max_elements: int = DEFAULT_MAX_ELEMENTS
    ) -> np.ndarray:
        """Regenerate the encoder's sample from ``blob`` and the shared prior ``p``, in O(d).

        ``seed`` (optional) must equal the blob's. The prior's fingerprint is folded into the
        blob's checksum (:mod:`rcc.container`), so another prior -- another family, shape, or
        any parameter -- is a :class:`rcc.DecodeError`, as is any malformed or corrupted blob
        and one whose shape holds more than ``max_elements`` elements (default
        :data:`rcc.DEFAULT_MAX_ELEMENTS`; raise it for a trusted larger blob).
        """
        c, p = open_blob(blob, self.method, p, seed, max_elements)
        rd = BitReader(c.payload, c.payload_bits)
        index = self.read_index(rd, c.params)
        rd.finish()
        return candidate(p, seed_key(c.seed), 0, index - 1).reshape(c.shape)


def expect_params(params: tuple[int, ...], count: int, method: str) -> None:
    if len(params) != count:
        raise DecodeError(f"a {method} message has {count} header parameters, this one {len(params)}")
