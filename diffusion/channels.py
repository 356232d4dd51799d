"""The rcc channels a diffusion step goes through (``channel=`` of :func:`diffusion.codec.encode`):
"ideal", "uq" (one :class:`rcc.UQStream` for all steps), "pfr" / "orc" / "mrc" (``rcc.compress``
per step). All implement one streaming protocol, :class:`StepChannel` (push per step, finish;
pop per step, finish), which turns each step's pair (q, p) into bytes of the file and the
decoder's sample (the first latent z_1 is the first push, as step i = T + 1); :func:`make_channel` builds one by name."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

import rcc
from rcc.coding import encode_varint

from ._exact import _shared_normals, _shared_uniforms, _step_seed, _stream_seed
from ._framing import CHECK_BYTES, _is_int, _put_varint, _raise, _Reader, _Truncated
from .distributions import GaussianStep, LogisticUniformStep, UniformStep
from .metrics import sample_lean

__all__ = ["make_channel", "StepChannel", "StepBytes", "IdealChannel", "UQChannel", "ChunkedChannel", "CHANNELS", "DEFAULT_CHUNK_BITS",
           "DEFAULT_LAYOUT", "DEFAULT_SIZE_MULTIPLE", "DEFAULT_HEADROOM_BITS", "DEFAULT_NUM_CANDIDATES"]

CHANNELS = ("ideal", "uq", "pfr", "orc", "mrc")
_COMPRESS_METHOD = "chunked"  # rcc.Payload.method of an rcc.compress message
_MAX_PARAMS = 64  # container parameters of a step (rcc's own bound)
#: Gaussian steps (chunked PFR): round(KL / 10) chunks of equal size per diffusion step (no sizes
#: sent; ``rcc.compress(layout="even")``), and a race of at most 2^ceil(KL_chunk + 5) candidates
#: (never more than 2^22), so a chunk of high KL gets a larger budget. `rcc-diffusion tradeoff`
#: (T = 5) and docs/diffusion.md compare it with KL-balanced chunks (sizes sent), fixed budgets
#: and larger chunks.
DEFAULT_CHUNK_BITS = 10.0
DEFAULT_LAYOUT = "even"
DEFAULT_SIZE_MULTIPLE = "auto"
DEFAULT_HEADROOM_BITS = 5.0
#: Candidates per chunk when ``num_candidates`` is None: PFR's cap, ORC's and MRC's N.
DEFAULT_NUM_CANDIDATES = {"pfr": 2**22, "orc": 2**18, "mrc": 2**18}


def _renamed(size_step, size_multiple):
    """``size_multiple``, or ``size_step`` (its old name, with a DeprecationWarning) if given."""
    if size_step is None:
        return size_multiple
    warnings.warn("size_step= is renamed size_multiple= (the old name goes in the next release)",
                  DeprecationWarning, stacklevel=3)
    return size_step


def _check_num_candidates(num_candidates):
    if num_candidates is not None and (not _is_int(num_candidates) or num_candidates < 1):
        raise ValueError(f"num_candidates must be None or an int >= 1, got {num_candidates!r}")
    return num_candidates


class StepChannel:
    """The protocol every step channel implements: the T steps of a file go through one channel
    object as a stream.

    Encoder: :meth:`start` once, :meth:`push` once per step (in sending order: z_1 as
    i = T + 1, then i = T .. 1; it
    returns the decoder's sample, flat float64, and leaves diagnostics in ``last_info``), then
    :meth:`finish`, which returns the channel's part of the file as :class:`StepBytes`.

    Decoder: :meth:`read_header` (the header fields), :meth:`read_steps` (locates every step a
    file, or a prefix of one, holds), :meth:`pop` once per step, and :meth:`finish_decode` after
    all T steps of a complete file.

    File layout of the channel's part (format 7): the header fields (in the file header), a
    prelude, then per push (z_1, then each step) its bytes followed by its 2-byte check
    (written by the codec).
    """

    name = "base"
    #: True when the file's step bytes are the cost; False when the cost is the KL (ideal)
    counts_bytes = True

    # ---- encoder
    def start(self, seed: int, num_steps: int, size: int) -> None:
        """Begin a file: shared ``seed`` (the file's), ``num_steps`` pushes (T + 1: z_1 and the T
        steps), and ``size`` values per step."""
        self.seed, self.num_steps, self.size = int(seed), int(num_steps), int(size)
        self.last_info: dict = {}

    def push(self, q, p, i: int) -> np.ndarray:  # pragma: no cover - abstract
        """Send step ``i``'s sample of q under p; returns it, flat float64 (size,)."""
        raise NotImplementedError

    def finish(self) -> "StepBytes":  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- decoder
    def read_header(self, r: "_Reader") -> None:
        """Read the header fields :meth:`finish` wrote (``StepBytes.header``)."""

    def read_steps(self, r: "_Reader", seed: int, num_steps: int, size: int) -> list[tuple[int, int]]:  # pragma: no cover
        """From ``r.pos`` (the prelude) on: the (start, end) offsets of the bytes of each whole
        step (its check follows at ``end``) that ``r``'s bytes hold, in order; ``r.pos`` is left
        after the prelude. Prepares :meth:`pop`."""
        raise NotImplementedError

    def pop(self, p, i: int) -> np.ndarray:  # pragma: no cover - abstract
        """The next step's sample under prior p, flat float64 (size,)."""
        raise NotImplementedError

    def finish_decode(self) -> None:
        """After all T steps of a complete file: check that the channel's bytes end cleanly."""


@dataclass
class StepBytes:
    """A channel's part of the file: ``header`` (fields of the file header), ``prelude`` (bytes
    before the first step, counted with step 1), ``steps`` (each step's bytes, in sending order)
    and ``bits`` (uq: each step's share of the stream in bits, finer than its bytes; else None)."""

    header: bytes
    prelude: bytes
    steps: list
    bits: np.ndarray | None = None


class _FramedSteps(StepChannel):
    """Steps framed as ``varint len, record`` (no prelude): ideal and chunked channels."""

    def read_steps(self, r, seed, num_steps, size):
        self.seed, self.size, self._blob, self._k = int(seed), int(size), r.buf, 0
        start, self._spans = r.pos, []
        try:
            for _ in range(num_steps):
                a = r.pos
                r.take(r.varint())
                b = r.pos
                r.take(CHECK_BYTES)
                self._spans.append((a, b))
        except _Truncated:
            pass
        r.pos = start
        return self._spans

    def _next_record(self) -> bytes:
        """The next step's record (its length was checked by :meth:`read_steps`)."""
        a, b = self._spans[self._k]
        self._k += 1
        r = _Reader(self._blob, b)
        r.pos = a
        return r.take(r.varint())


class IdealChannel(_FramedSteps):
    """Samples q exactly from shared randomness and reports KL[q || p] as its cost (reference).

    A step's bytes are ``varint len`` and the float64 sample itself (so files round-trip), not a
    code; its cost is the KL, counted, not written. Step i's noise is Philox under
    ``derive_seed(seed, 2, i)``.
    """

    name = "ideal"
    counts_bytes = False

    def start(self, seed, num_steps, size):
        super().start(seed, num_steps, size)
        self._records = []

    def push(self, q, p, i):
        shape, seed = tuple(q.loc.shape), _step_seed(self.seed, i)
        if isinstance(q, GaussianStep):
            z = q.sample(torch.as_tensor(_shared_normals(seed, shape), dtype=q.loc.dtype))
        elif isinstance(q, UniformStep):
            z = q.sample(torch.as_tensor(_shared_uniforms(seed, shape) - 0.5, dtype=q.loc.dtype))
        else:  # pragma: no cover
            raise ValueError(f"ideal channel cannot sample {type(q).__name__}")
        s = z.detach().to(torch.float64).numpy().ravel()
        self._records.append(encode_varint(8 * s.size) + s.astype("<f8").tobytes())
        return s

    def finish(self):
        return StepBytes(b"", b"", self._records)

    def pop(self, p, i):
        payload = self._next_record()
        if len(payload) != 8 * self.size:
            _raise(f"ideal-channel step holds {len(payload)} bytes, expected {8 * self.size}")
        return np.frombuffer(payload, dtype="<f8").astype(np.float64)


class UQChannel(StepChannel):
    """``rcc.UQStream``: universal quantisation of every UQDM step in one ANS stream (exact;
    cost = index entropy under p, plus one stream's framing per file).

    The cell width Delta is known to the decoder (it comes from the schedule), so it is passed
    as ``width=`` and never sent; the logistic prior always uses UQ's table mode (no side
    information per step). The file keeps only the stream payload (the ANS words): method,
    parameters, seed and shape are implied (:meth:`rcc.UQStreamDecoder.from_top`). The stream's
    seed is ``derive_seed(seed, 1)``; push k's dither is its Philox chunk k.

    Layout: the prelude is varint L (payload bytes) and one varint per push but the last (the
    stream words that pushes 1..k need, as increments: ``rcc.UQStream.pop_words``; z_1 is push
    1); the stream payload is stored
    back to front (the top of the stack, which holds the first steps, first) and cut where each
    step's words end, so step k's bytes are the part of the payload that steps 1..k need beyond
    steps 1..k-1 (the last step's run to the payload's end).
    """

    name = "uq"

    @staticmethod
    def _width(q) -> np.ndarray:
        return q.delta.detach().to(torch.float64).expand_as(q.loc).numpy().ravel()

    def start(self, seed, num_steps, size):
        super().start(seed, num_steps, size)
        self._enc = rcc.UQStream(seed=_stream_seed(self.seed))

    def push(self, q, p, i):
        if not isinstance(q, UniformStep) or not isinstance(p, LogisticUniformStep):
            raise ValueError("the 'uq' channel needs the uniform hierarchy (UniformStep, LogisticUniformStep)")
        sample = self._enc.push(q.to_rcc(), p.to_rcc(), width=self._width(q))
        self.last_info = {"info_bits": float(self._enc.push_info[-1]["info_bits"])}
        return np.asarray(sample, dtype=np.float64).ravel()

    def finish(self):
        payload = self._enc.payload
        prelude = bytearray()
        _put_varint(prelude, len(payload))
        words = self._enc.pop_words  # the last step needs the whole stream: not sent
        for v in np.diff(np.concatenate([[0], words[:-1]])):
            _put_varint(prelude, int(v))
        need = self._need(len(payload), words)
        top = payload[::-1]
        steps = [top[a:b] for a, b in zip([0] + need[:-1], need)]
        # each step's share in bits: the stream's growth while coding it, plus an equal part of the framing
        bits = self._enc.push_bits
        bits += (8.0 * (len(prelude) + len(payload)) - bits.sum()) / max(len(bits), 1)
        return StepBytes(b"", bytes(prelude), steps, bits)

    @staticmethod
    def _need(length: int, words) -> list[int]:
        """Payload bytes (stored top first) that decode steps 1..k: the top word is short by the
        zero bytes the payload dropped."""
        short = -length % 4
        return [min(length, 4 * int(w) - short) for w in words]

    def read_steps(self, r, seed, num_steps, size):
        try:
            length = r.varint()
            total, words = -(-length // 4), [0]
            for _ in range(num_steps - 1):
                words.append(words[-1] + r.varint())
                if words[-1] > total:
                    _raise("bad step-stream table: corrupted file")
        except _Truncated:
            return []
        need = self._need(length, words[1:] + [total])
        after_prelude = r.pos
        spans, top = [], bytearray()
        try:
            for a, b in zip([0] + need[:-1], need):
                start = r.pos
                seg = r.take(b - a)
                r.take(CHECK_BYTES)
                top += seg
                spans.append((start, start + len(seg)))
        except _Truncated:
            pass
        r.pos = after_prelude
        self._complete = len(spans) == num_steps
        if spans:
            try:
                self._dec, _ = rcc.UQStreamDecoder.from_top(bytes(top[::-1]), length, _stream_seed(seed), int(num_steps),
                                                            int(num_steps) * int(size),
                                                            max_elements=max(1, int(num_steps) * int(size)))
            except ValueError as exc:
                _raise(f"the step stream does not decode: {exc}")
            if self._dec is None:
                spans = []
        return spans

    def pop(self, p, i):
        return np.asarray(self._dec.pop(p.to_rcc(), width=self._width(p)), dtype=np.float64).ravel()

    def finish_decode(self):
        try:
            self._dec.finish()
        except ValueError as exc:
            _raise(f"the step stream does not end cleanly: {exc}")


class ChunkedChannel(_FramedSteps):
    """``rcc.compress`` / ``rcc.decompress`` with ``method`` in pfr | orc | mrc, chunked across
    all values of a step (``chunk_bits`` of KL per chunk on average); step i's candidates come
    from ``derive_seed(seed, 2, i)`` (i = T + 1: z_1).

    ``layout`` (``rcc.compress(layout=)``): "even" (default), equal-size chunks, no sizes sent;
    "kl", chunks closed where their KL reaches ``chunk_bits``, sizes sent in multiples of
    ``size_multiple``. The ~1.4 bits of size per chunk buy little: the bit length of a chunk's index
    spreads by several bits from the race alone, so the wider spread of chunk KL in the even
    layout costs its code little (T = 5, 12-bit chunks: 3.12 bits per chunk above the KL against
    4.47). But the chunks of high KL in the tail need the most candidates; at 12 bits per chunk on average they hit the 2^22 cap often enough to bias the
    chain (badly at T = 3), at 10 bits rarely. docs/diffusion.md has the measurements.

    ``num_candidates``: an int N truncates PFR at N candidates per chunk (the Gaussian steps have a
    reverse scale close to the posterior's, so D_inf is huge or infinite and exact PFR would need
    astronomically many candidates) or sets N for ORC / MRC; None takes
    ``DEFAULT_NUM_CANDIDATES[method]``. ``headroom_bits`` (PFR only) also cuts chunk c's race at
    2^ceil(KL_c + headroom_bits) candidates, so chunks of high KL get more candidates and the
    bias stays about even across chunks. Truncated chunks are counted per step
    (``num_truncated``): their samples are slightly biased towards the prior.

    Layout: the header fields are the container parameters every step shares (varint count, then
    the values: the longest common prefix of the steps' ``rcc.Payload.params``); a step's bytes
    are ``varint len`` and its record: varint payload bits, varint e, the e parameters after the
    common ones, the payload bytes. Each step is an ``rcc.compress`` message in its headerless
    form (:class:`rcc.Payload`: method, seed and shape implied), decoded by :func:`rcc.decode`.
    """

    def __init__(self, method: str = "pfr", chunk_bits: float = DEFAULT_CHUNK_BITS,
                 num_candidates: int | None = None, layout: str = DEFAULT_LAYOUT,
                 size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
                 headroom_bits: float | None = DEFAULT_HEADROOM_BITS):
        if method not in ("pfr", "orc", "mrc"):
            raise ValueError(f"method must be pfr, orc or mrc, got {method!r}")
        if layout not in ("even", "kl"):
            raise ValueError(f"layout must be 'even' or 'kl', got {layout!r}")
        self.layout = layout
        if size_multiple != "auto" and (isinstance(size_multiple, bool) or not isinstance(size_multiple, (int, np.integer))
                                        or size_multiple < 1):
            raise ValueError(f"size_multiple must be an int >= 1 or 'auto', got {size_multiple!r}")
        self.size_multiple = size_multiple if size_multiple == "auto" else int(size_multiple)
        if not (chunk_bits > 0 and np.isfinite(chunk_bits)):
            raise ValueError(f"chunk_bits must be positive, got {chunk_bits!r}")
        self.name = method
        self.chunk_bits = float(np.float32(chunk_bits))
        n = DEFAULT_NUM_CANDIDATES[method] if _check_num_candidates(num_candidates) is None else int(num_candidates)
        if method == "pfr":
            self.method = rcc.PFR(n, headroom_bits=headroom_bits)
        else:
            self.method = {"orc": rcc.ORC, "mrc": rcc.MRC}[method](num_candidates=n)
        self.params = None  # the parameters common to all steps (set by finish / read_header)

    def start(self, seed, num_steps, size):
        super().start(seed, num_steps, size)
        self._payloads = []

    def push(self, q, p, i):
        if not isinstance(q, GaussianStep) or not isinstance(p, GaussianStep):
            raise ValueError(f"the {self.name!r} channel needs the Gaussian hierarchy")
        qr, pr = q.to_rcc(), p.to_rcc()
        msg = rcc.compress(qr, pr, method=self.method, seed=_step_seed(self.seed, i), chunk_bits=self.chunk_bits,
                           layout=self.layout, size_multiple=self.size_multiple)
        payload = msg.headerless()
        sample = np.asarray(msg.sample, dtype=np.float64).ravel()
        lean, lean_se = sample_lean(sample, qr.loc, qr.scale, pr.loc)
        self._payloads.append(payload)
        self.last_info = {
            "payload_bits": payload.num_bits,
            "num_chunks": int(msg.info["num_chunks"]),
            "num_scored": int(msg.info["num_scored"]),
            "num_truncated": int(msg.info["num_truncated"]),
            "size_multiple": int(msg.info["size_multiple"]),
            "lean": lean,
            "lean_se": lean_se,
            "chunk_kl_sd": float(np.std(msg.chunks.kl_bits)),
            "chunk_kl_p99": float(np.percentile(msg.chunks.kl_bits, 99)),
            "chunk_kl_bits": np.asarray(msg.chunks.kl_bits, dtype=np.float64).copy(),
            "chunk_sizes": np.asarray(msg.chunks.sizes, dtype=np.int64).copy(),
        }
        return sample

    def finish(self):
        common = list(self._payloads[0].params) if self._payloads else []
        for pl in self._payloads[1:]:
            n = next((j for j, (a, b) in enumerate(zip(common, pl.params)) if a != b), min(len(common), len(pl.params)))
            del common[n:]
        self.params = tuple(common)
        header = encode_varint(len(self.params)) + b"".join(encode_varint(v) for v in self.params)
        steps = []
        for pl in self._payloads:
            extra = pl.params[len(self.params):]
            rec = (encode_varint(pl.num_bits) + encode_varint(len(extra))
                   + b"".join(encode_varint(v) for v in extra) + pl.data)
            steps.append(encode_varint(len(rec)) + rec)
        return StepBytes(header, b"", steps)

    def read_header(self, r):
        n = r.varint()
        if n > _MAX_PARAMS:
            _raise(f"bad chunked-channel parameter count {n}")
        self.params = tuple(r.varint() for _ in range(n))

    def pop(self, p, i):
        record = self._next_record()
        r = _Reader(record, len(record))
        bits, n = r.varint(), r.varint()
        if len(self.params) + n > _MAX_PARAMS:
            _raise(f"bad step parameter count {n}")
        extra = tuple(r.varint() for _ in range(n))
        data = r.take(len(record) - r.pos)
        if len(data) != (bits + 7) // 8:
            _raise(f"step payload holds {len(data)} bytes for {bits} bits")
        payload = rcc.Payload(_COMPRESS_METHOD, self.params + extra, _step_seed(self.seed, i), (self.size,), data, bits)
        return np.asarray(rcc.decode(payload, p.to_rcc()), dtype=np.float64).ravel()


def make_channel(name: str, chunk_bits: float = DEFAULT_CHUNK_BITS, num_candidates: int | None = None,
                 size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
                 headroom_bits: float | None = DEFAULT_HEADROOM_BITS, layout: str = DEFAULT_LAYOUT, *,
                 size_step=None) -> StepChannel:
    """Channel by name: "ideal", "uq", or an ``rcc.compress`` method ("pfr", "orc", "mrc").

    ``num_candidates``: None (the method's default) or an int >= 1; ValueError otherwise.
    ``size_step=`` is the old name of ``size_multiple=`` (DeprecationWarning; removed in the next
    release).
    """
    size_multiple = _renamed(size_step, size_multiple)
    _check_num_candidates(num_candidates)
    if name == "ideal":
        return IdealChannel()
    if name == "uq":
        return UQChannel()
    if name in ("pfr", "orc", "mrc"):
        return ChunkedChannel(name, chunk_bits, num_candidates, layout=layout, size_multiple=size_multiple,
                              headroom_bits=headroom_bits)
    raise ValueError(f"channel must be one of {CHANNELS}, got {name!r}")
