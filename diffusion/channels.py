"""The rcc channels a diffusion step goes through (``channel=`` of :func:`diffusion.codec.encode`):
"ideal", "uq" (one :class:`rcc.UQStream` for all steps), "pfr" / "orc" / "mrc" (``rcc.compress``
per step). Each turns a step's pair (q, p) into bytes of the file and the decoder's sample;
:func:`make_channel` builds one by name."""
from __future__ import annotations

import warnings

import numpy as np
import torch

import rcc
from rcc.coding import encode_varint

from ._exact import _shared_normals, _shared_uniforms
from ._framing import CHECK_BYTES, _is_int, _put_varint, _raise, _Reader, _Truncated
from .distributions import GaussianStep, LogisticUniformStep, UniformStep
from .metrics import sample_lean

__all__ = ["make_channel", "IdealChannel", "UQChannel", "ChunkedChannel", "CHANNELS", "DEFAULT_CHUNK_BITS",
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


class _Channel:
    name = "base"
    #: True when the file's step bytes are the cost; False when the cost is the KL (ideal)
    counts_bytes = True

    def encode(self, q, p, seed: int) -> tuple[bytes, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def decode(self, payload: bytes, p, seed: int, size: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def header(self) -> bytes:
        """Channel parameters the file header carries (after the common fields); called after
        every step was encoded."""
        return b""

    def record(self, payload) -> bytes:
        """The bytes of a step record (after :meth:`header`) for what :meth:`encode` returned."""
        return payload

    def read_header(self, r) -> None:
        """Read what :meth:`header` wrote."""


class IdealChannel(_Channel):
    """Samples q exactly from shared randomness and reports KL[q || p] as its cost (reference).

    The payload is the float64 sample itself (so files round-trip), not a code.
    """

    name = "ideal"
    counts_bytes = False

    def encode(self, q, p, seed):
        shape = tuple(q.loc.shape)
        if isinstance(q, GaussianStep):
            z = q.sample(torch.as_tensor(_shared_normals(seed, shape), dtype=q.loc.dtype))
        elif isinstance(q, UniformStep):
            z = q.sample(torch.as_tensor(_shared_uniforms(seed, shape) - 0.5, dtype=q.loc.dtype))
        else:  # pragma: no cover
            raise ValueError(f"ideal channel cannot sample {type(q).__name__}")
        s = z.detach().to(torch.float64).numpy().ravel()
        return s.astype("<f8").tobytes(), s

    def decode(self, payload, p, seed, size):
        if len(payload) != 8 * size:
            _raise(f"ideal-channel step holds {len(payload)} bytes, expected {8 * size}")
        return np.frombuffer(payload, dtype="<f8").astype(np.float64)


class UQChannel(_Channel):
    """``rcc.UQStream``: universal quantisation of every UQDM step in one ANS stream (exact;
    cost = index entropy under p, plus one stream's framing per file).

    The cell width Delta is known to the decoder (it comes from the schedule), so it is passed
    as ``width=`` and never sent; the logistic prior always uses UQ's table mode (no side
    information per step). The file keeps only the stream payload (the ANS words): method,
    parameters, seed and shape are implied (:meth:`rcc.UQStreamDecoder.from_top`).

    Encoder: ``start(seed)``, ``encode(q, p, seed)`` per step (returns ``(b"", sample)``),
    ``finish()`` -> the stream record. Decoder: ``read_record(reader, seed, T, size)``,
    ``decode(b"", p, seed, size)`` per step, ``finish_decode()`` after all T.
    """

    name = "uq"
    streaming = True

    def __init__(self):
        self._enc = self._dec = None

    @staticmethod
    def _width(q) -> np.ndarray:
        return q.delta.detach().to(torch.float64).expand_as(q.loc).numpy().ravel()

    def start(self, seed: int) -> None:
        self._enc = rcc.UQStream(seed=int(seed))

    def encode(self, q, p, seed):
        if not isinstance(q, UniformStep) or not isinstance(p, LogisticUniformStep):
            raise ValueError("the 'uq' channel needs the uniform hierarchy (UniformStep, LogisticUniformStep)")
        sample = self._enc.push(q.to_rcc(), p.to_rcc(), width=self._width(q))
        self.last_info = {"info_bits": float(self._enc.push_info[-1]["info_bits"])}
        return b"", np.asarray(sample, dtype=np.float64).ravel()

    def finish(self) -> tuple[bytes, bytes, list, np.ndarray]:
        """The stream record in two parts and each step's share of it in bits (the ANS stream's
        growth while coding the step, plus an equal part of the framing).

        Returns ``(table, payload, need, bits)``: ``table`` is varint L (payload bytes) and T - 1
        varints (the stream words needed to decode steps 1..k, as increments:
        ``rcc.UQStream.pop_words``; step T needs them all); ``payload`` is the stream payload
        back to front, so that the top of the stack, which holds the first steps, comes first;
        ``need[k - 1]`` is how many leading bytes of ``payload`` decode steps 1..k. The file puts
        the per-step checks between the two.
        """
        payload = self._enc.payload
        table = bytearray()
        _put_varint(table, len(payload))
        words = self._enc.pop_words  # the last step needs the whole stream: not sent
        for v in np.diff(np.concatenate([[0], words[:-1]])):
            _put_varint(table, int(v))
        need = self._need(len(payload), words)
        bits = self._enc.push_bits
        bits += (8.0 * (len(table) + len(payload)) - bits.sum()) / max(len(bits), 1)
        return bytes(table), payload[::-1], need, bits

    @staticmethod
    def _need(length: int, words) -> list[int]:
        """Payload bytes (stored top first) that decode steps 1..k: the top word is short by the
        zero bytes the payload dropped."""
        short = -length % 4
        return [min(length, 4 * int(w) - short) for w in words]

    def read_record(self, r: "_Reader", seed: int, num_steps: int, size: int) -> dict:
        """Read the stream record from ``r``: all of it, or the part a file prefix holds.

        Returns ``table`` (the (start, end) offsets of L and the word table), ``checks`` (T
        2-byte checks), ``payload_start`` (offset of the stored payload), ``need`` (payload bytes
        for steps 1..k) and ``held`` (how many steps the bytes present decode). Makes the
        stream decoder when ``held`` > 0. A record cut short in its table or checks holds 0 steps.
        """
        start = r.pos
        try:
            length = r.varint()
            total, words = -(-length // 4), [0]
            for _ in range(num_steps - 1):
                words.append(words[-1] + r.varint())
                if words[-1] > total:
                    _raise("bad step-stream table: corrupted file")
            table_end = r.pos
            raw = r.take(CHECK_BYTES * num_steps)
        except _Truncated:
            return {"held": 0}
        checks = [raw[j : j + CHECK_BYTES] for j in range(0, len(raw), CHECK_BYTES)]
        need = self._need(length, words[1:] + [total])
        payload_start = r.pos
        have = min(length, r.end - r.pos)
        top = r.take(have)[::-1]
        held = sum(n <= have for n in need)
        if held:
            try:
                self._dec, _ = rcc.UQStreamDecoder.from_top(top, length, int(seed), int(num_steps), int(num_steps) * int(size))
            except ValueError as exc:
                _raise(f"the step stream does not decode: {exc}")
            if self._dec is None:
                held = 0
        return {"table": (start, table_end), "checks": checks, "payload_start": payload_start, "need": need,
                "held": held, "complete": have == length}

    def decode(self, payload, p, seed, size):
        return np.asarray(self._dec.pop(p.to_rcc(), width=self._width(p)), dtype=np.float64).ravel()

    def finish_decode(self) -> None:
        self._dec.finish()


class ChunkedChannel(_Channel):
    """``rcc.compress`` / ``rcc.decompress`` with ``method`` in pfr | orc | mrc, chunked across
    all N * D coordinates of a step (``chunk_bits`` of KL per chunk on average).

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
    (``num_truncated``): their samples are slightly biased towards the prior. Each step is an
    ``rcc.compress`` message in its headerless form (:class:`rcc.Payload`): the file keeps its
    payload bits and payload and the parameters that differ from the steps' common ones (in the
    file header); method, seed and shape are implied, and :func:`rcc.decode` decodes it.
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
        self.params = None  # the parameters common to all steps (set by header / read_header)
        self._step_params = []

    def encode(self, q, p, seed):
        """One step through ``rcc.compress``: returns its headerless :class:`rcc.Payload` (made
        into a record by :meth:`record` once :meth:`header` knows the steps' common parameters)
        and the sample."""
        if not isinstance(q, GaussianStep) or not isinstance(p, GaussianStep):
            raise ValueError(f"the {self.name!r} channel needs the Gaussian hierarchy")
        qr, pr = q.to_rcc(), p.to_rcc()
        msg = rcc.compress(qr, pr, method=self.method, seed=seed, chunk_bits=self.chunk_bits, layout=self.layout,
                           size_multiple=self.size_multiple)
        payload = msg.headerless()
        sample = np.asarray(msg.sample, dtype=np.float64).ravel()
        lean, lean_se = sample_lean(sample, qr.loc, qr.scale, pr.loc)
        self._step_params.append(payload.params)
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
        }
        return payload, sample

    def header(self) -> bytes:
        """The container parameters every step shares (``params``: after encoding, the longest
        common prefix of the steps' ``Payload.params``): varint count, then the values."""
        if self._step_params:
            common = list(self._step_params[0])
            for params in self._step_params[1:]:
                n = next((j for j, (a, b) in enumerate(zip(common, params)) if a != b), min(len(common), len(params)))
                del common[n:]
            self.params = tuple(common)
        return encode_varint(len(self.params)) + b"".join(encode_varint(v) for v in self.params)

    def read_header(self, r: "_Reader") -> None:
        n = r.varint()
        if n > _MAX_PARAMS:
            _raise(f"bad chunked-channel parameter count {n}")
        self.params = tuple(r.varint() for _ in range(n))

    def record(self, payload) -> bytes:
        """A step's record (after :meth:`header`): varint payload bits, varint e and the e
        parameters after the common ones, the payload bytes."""
        extra = payload.params[len(self.params):]
        return (encode_varint(payload.num_bits) + encode_varint(len(extra))
                + b"".join(encode_varint(v) for v in extra) + payload.data)

    def decode(self, record, p, seed, size):
        r = _Reader(record, len(record))
        bits, n = r.varint(), r.varint()
        if len(self.params) + n > _MAX_PARAMS:
            _raise(f"bad step parameter count {n}")
        extra = tuple(r.varint() for _ in range(n))
        data = r.take(len(record) - r.pos)
        if len(data) != (bits + 7) // 8:
            _raise(f"step payload holds {len(data)} bytes for {bits} bits")
        payload = rcc.Payload(_COMPRESS_METHOD, self.params + extra, int(seed), (int(size),), data, bits)
        return np.asarray(rcc.decode(payload, p.to_rcc()), dtype=np.float64).ravel()


def make_channel(name: str, chunk_bits: float = DEFAULT_CHUNK_BITS, num_candidates: int | None = None,
                 size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
                 headroom_bits: float | None = DEFAULT_HEADROOM_BITS, layout: str = DEFAULT_LAYOUT, *,
                 size_step=None) -> _Channel:
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
