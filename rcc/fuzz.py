"""Fuzzing the decoders: ``rcc fuzz --cases N`` (figures in docs/reliability.md).

A decoder meets its contract on a mutated or crafted input when it either returns an array of the
declared shape or raises :class:`rcc.DecodeError`, in bounded time and memory; and, where the
input cannot be a valid message (the CRC-32 is broken, or the prior is not the encoder's), when it
raises. Every case starts from a valid message of a random pair (seeded by ``(seed, case)``) and
applies one of:

* ``raw`` -- bytes of the blob flipped, replaced, inserted, deleted, truncated or appended.
  Must raise (the CRC, or the framing).
* ``reframed`` -- a field of the parsed container (an :class:`rcc.Payload`: payload bits,
  parameters, seed, shape, ``num_bits``) changed and the blob re-packed with a valid CRC, so the mutation reaches the
  payload parser. May decode (the result must have the declared shape) or raise DecodeError.
* ``huge`` -- the container re-packed declaring a shape of 2^26 to 2^40 elements with a tiny
  payload. Must raise DecodeError before allocating.
* ``prior`` -- the intact blob decoded with another prior (shifted, rescaled or of another
  family). Must raise wherever the container's CRC covers the prior (every single-message
  channel and ``rcc.compress``). A :class:`rcc.UQStream` has no prior fingerprint (its priors
  come push by push); its check symbols catch most wrong priors, and a wrong sample there is
  counted as ``silent``, not as a failure (the documented promise).

The diffusion file has its own fuzzer, ``rcc-diffusion fuzz`` (:mod:`diffusion.fuzz`), built on
the public pieces here: :func:`mutate_bytes`, :func:`outcome` and :func:`run_cases`. Nothing in
``rcc`` imports ``diffusion``.

Outcomes per case: ``error`` (a DecodeError), ``decoded`` (an array of the right shape), and the
failures ``crash`` (any other exception), ``accepted`` (a raw or huge mutation decoded),
``wrong`` (a wrong prior or a mutated prefix decoded to another sample), ``slow`` (over
``time_limit`` seconds) and ``memory`` (over ``memory_limit`` bytes at peak, by tracemalloc).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import container as _container
from .chunked import compress, decompress
from .container import Payload
from .distributions import Gaussian, Laplace, Uniform
from .errors import DecodeError
from .hybrid import Hybrid
from .mrc import MRC
from .orc import ORC
from .pfr import PFR
from .uq import UQ, UQStream

__all__ = ["run", "run_cases", "outcome", "mutate_bytes", "Case", "FAILURES"]

FAILURES = ("crash", "accepted", "wrong", "slow", "memory")
_TIME_LIMIT = 10.0
_MEMORY_LIMIT = 256 * 2**20


@dataclass
class Case:
    """One valid message to mutate: its blob, the prior, the encoder's sample and a decoder."""

    target: str
    blob: bytes
    prior: object
    sample: np.ndarray
    decode: Callable  # decode(blob, prior) -> np.ndarray
    prior_checked: bool = True  # the CRC covers the prior: a wrong prior must raise


# ------------------------------------------------------------------------------------- targets
def _pair(rng, d: int, wide: bool = False):
    """q = N(loc, scale^2) on p = N(0, 1), a few bits of KL per coordinate (wide: scale 1)."""
    loc = rng.normal(0.0, 0.7, d)
    scale = rng.uniform(0.4, 0.9, d) if not wide else np.ones(d)
    return Gaussian(loc, scale), Gaussian(0.0, 1.0)


def _selection(name, channel):
    def make(rng, seed):
        q, p = _pair(rng, int(rng.integers(1, 4)))
        msg = channel.encode(q, p, seed=seed)
        return Case(name, msg.to_bytes(), p, msg.sample, lambda b, pr: channel.decode(b, pr))
    return make


def _uq(rng, seed):
    d = int(rng.integers(1, 64))
    width = float(rng.uniform(0.05, 1.0))
    mu = rng.normal(0.0, 1.0, d)
    p = Gaussian(0.0, 1.5) if rng.random() < 0.5 else Laplace(0.0, 1.0)
    msg = UQ().encode(Uniform(mu - width / 2, mu + width / 2), p, seed=seed)
    return Case("uq", msg.to_bytes(), p, msg.sample, lambda b, pr: UQ().decode(b, pr))


def _uq_stream(rng, seed):
    d = int(rng.integers(1, 64))
    width = np.full(d, float(rng.uniform(0.05, 1.0)))
    enc = UQStream(seed=seed)
    mu = rng.normal(0.0, 1.0, d)
    x1 = enc.push(Uniform(mu - width / 2, mu + width / 2), Gaussian(0.0, 1.5), width=width)
    x2 = enc.push(Uniform(x1 - width / 2, x1 + width / 2), Gaussian(x1, 1.0), width=width)
    p = Gaussian(0.0, 1.5)

    def decode(b, pr):
        dec = UQStream.decoder(b)
        y1 = dec.pop(pr, width=width)
        y2 = dec.pop(Gaussian(y1, 1.0), width=width)
        dec.finish()
        return np.concatenate([y1, y2])

    return Case("uq_stream", enc.to_bytes(), p, np.concatenate([x1, x2]), decode, prior_checked=False)


def _compress(name, method):
    def make(rng, seed):
        d = int(rng.integers(8, 128))
        if name.endswith("orc"):  # equal variances: D_inf is infinite, ORC's N bounds the work
            q, p = _pair(rng, d, wide=True)
        else:  # D_inf about twice the KL per coordinate: exact PFR scores ~2^8 candidates a chunk
            q, p = Gaussian(rng.normal(0.0, 0.3, d), rng.uniform(0.3, 0.6, d)), Gaussian(0.0, 1.0)
        msg = compress(q, p, method=method, seed=seed, chunk_bits=4.0)
        return Case(name, msg.to_bytes(), p, msg.sample, lambda b, pr: decompress(b, pr))
    return make


TARGETS = {
    "pfr": _selection("pfr", PFR()),
    "pfr-truncated": _selection("pfr-truncated", PFR(max_candidates=2**12)),
    "orc": _selection("orc", ORC(num_candidates=2**10)),
    "mrc": _selection("mrc", MRC(num_candidates=2**10)),
    "hybrid": _selection("hybrid", Hybrid(num_bins=4)),
    "uq": _uq,
    "uq_stream": _uq_stream,
    "compress-pfr": _compress("compress-pfr", "pfr"),
    "compress-orc": _compress("compress-orc", ORC(num_candidates=2**10)),
    "compress-hybrid": _compress("compress-hybrid", Hybrid(num_bins=4)),
}


# ----------------------------------------------------------------------------------- mutations
def mutate_bytes(rng: np.random.Generator, blob: bytes) -> bytes:
    """``blob`` with one raw mutation drawn from ``rng``: 1-3 bits flipped, a byte replaced, the
    bytes truncated, 1-8 bytes appended, a byte deleted or a byte inserted."""
    b = bytearray(blob)
    kind = int(rng.integers(6))
    if kind == 0:  # flip 1-3 bits
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(b)))
            b[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # replace a byte
        i = int(rng.integers(len(b)))
        b[i] = (b[i] + int(rng.integers(1, 256))) % 256
    elif kind == 2:  # truncate
        del b[int(rng.integers(len(b))):]
    elif kind == 3:  # append
        b += bytes(rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8))
    elif kind == 4:  # delete a byte
        del b[int(rng.integers(len(b)))]
    else:  # insert a byte
        b.insert(int(rng.integers(len(b) + 1)), int(rng.integers(256)))
    return bytes(b)


def _reframe(case: Case, change: Callable, fold_prior: bool = True) -> bytes:
    """Parse the valid blob, change a field, re-pack it with a valid CRC for the case's prior
    (``fold_prior=False``: a CRC without the prior, for shapes too large to fingerprint; the
    decoder must refuse the shape before it checks the CRC)."""
    prior = case.prior if case.prior_checked else None
    c = _container.unpack(case.blob, prior=prior)
    fields = change(dict(method=c.method, params=c.params, seed=c.seed, shape=c.shape, data=c.data,
                         num_bits=c.num_bits))
    return Payload(**fields).to_bytes(prior=prior if fold_prior else None)


def _mutate_fields(rng, f: dict) -> dict:
    kind = int(rng.integers(5))
    if kind == 0 and f["num_bits"] > 0:  # flip payload bits
        b = bytearray(f["data"])
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(f["num_bits"]))
            b[i // 8] ^= 0x80 >> (i % 8)
        f["data"] = bytes(b)
    elif kind == 1 and f["params"]:  # change a parameter
        params = list(f["params"])
        i = int(rng.integers(len(params)))
        values = [0, 1, params[i] + 1, max(params[i] - 1, 0), 2**31, 2**63 - 1, 2**64 - 1]
        params[i] = min(values[int(rng.integers(len(values)))], 2**64 - 1)
        f["params"] = tuple(params)
    elif kind == 2:  # another seed
        f["seed"] = int(rng.integers(2**62))
    elif kind == 3:  # shorter payload
        nbits = int(rng.integers(f["num_bits"] + 1))
        f["num_bits"], f["data"] = nbits, f["data"][: (nbits + 7) // 8]
        if nbits % 8:
            f["data"] = f["data"][:-1] + bytes([f["data"][-1] & (0xFF << (8 - nbits % 8)) & 0xFF])
    else:  # random payload of the same length
        f["data"] = bytes(rng.integers(0, 256, len(f["data"])).astype(np.uint8))
        if f["num_bits"] % 8:
            last = f["data"][-1] & (0xFF << (8 - f["num_bits"] % 8)) & 0xFF
            f["data"] = f["data"][:-1] + bytes([last])
    return f


def _huge(rng, f: dict) -> dict:
    n = 2 ** int(rng.integers(26, 41))
    f["shape"] = (n,) if rng.random() < 0.5 else (n // 1024, 1024)
    return f


def _wrong_prior(rng, p):
    a, b = np.asarray(p.a, float), np.asarray(p.b, float)
    kind = int(rng.integers(3))
    if kind == 0:
        return type(p)(a + rng.choice([-1, 1]) * rng.uniform(1e-6, 0.5), b)
    if kind == 1:
        return type(p)(a, b * rng.uniform(1.001, 1.5))
    return Laplace(a, b) if isinstance(p, Gaussian) else Gaussian(a, b)


# ------------------------------------------------------------------------------------- running
def outcome(fn: Callable, time_limit: float, memory_limit: int):
    """Call ``fn()``; return ``(kind, result, seconds)``: kind "returned", "error" (a
    DecodeError), "crash:<what>" (any other exception), "slow" (over ``time_limit`` seconds) or
    "memory" (over ``memory_limit`` bytes at peak, by tracemalloc, which sees numpy's allocations
    but not torch's); the limits win. Anything but a DecodeError is a crash, a constriction
    ``PanicException`` (a BaseException) included; only KeyboardInterrupt and SystemExit pass."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out, kind = fn(), "returned"
    except DecodeError:
        out, kind = None, "error"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the point is to catch everything else
        out, kind = None, f"crash:{type(exc).__name__}: {str(exc)[:80]}"
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if elapsed > time_limit:
        kind = "slow"
    elif peak > memory_limit:
        kind = "memory"
    return kind, out, elapsed


def fuzz_case(target: str, case_seed: int, seed: int, time_limit=_TIME_LIMIT, memory_limit=_MEMORY_LIMIT):
    """Run one case; return (mutation, outcome, seconds)."""
    rng = np.random.default_rng([seed, case_seed])
    case = TARGETS[target](rng, int(rng.integers(2**32)))
    mutation = ("raw", "reframed", "huge", "prior")[int(rng.integers(4))]
    if mutation == "raw":
        blob = mutate_bytes(rng, case.blob)
        fn = lambda: case.decode(blob, case.prior)  # noqa: E731
    elif mutation == "reframed":
        blob = _reframe(case, lambda f: _mutate_fields(rng, f))
        fn = lambda: case.decode(blob, case.prior)  # noqa: E731
    elif mutation == "huge":
        blob = _reframe(case, lambda f: _huge(rng, f), fold_prior=False)
        fn = lambda: case.decode(blob, case.prior)  # noqa: E731
    else:
        prior = _wrong_prior(rng, case.prior)
        fn = lambda: case.decode(case.blob, prior)  # noqa: E731
    kind, out, elapsed = outcome(fn, time_limit, memory_limit)
    if kind == "returned":
        kind = _classify(out, case, mutation, blob if mutation != "prior" else case.blob)
    return mutation, kind, elapsed


def _classify(out, case: Case, mutation: str, blob: bytes) -> str:
    if not isinstance(out, np.ndarray):
        return f"crash:decoder returned a {type(out).__name__}"
    same = out.shape == case.sample.shape and np.array_equal(out, case.sample)
    if mutation in ("raw", "huge"):
        return "decoded" if same else "accepted"
    if mutation == "prior":
        return "decoded" if same else ("wrong" if case.prior_checked else "silent")
    declared = _container.unpack(blob, prior=case.prior if case.prior_checked else None).shape
    return "decoded" if out.shape == declared else f"crash:decoded shape {out.shape}, declared {declared}"


def run(cases: int = 2000, seed: int = 0, json_path: str | None = None, progress: bool = True) -> int:
    """Fuzz ``cases`` cases spread evenly over :data:`TARGETS`; print a table; 0 if no failure, else 1."""
    _check_cases(cases)
    names = list(TARGETS)
    jobs = [(names[i % len(names)], i) for i in range(cases)]
    return run_cases(jobs, fuzz_case, seed=seed, json_path=json_path, progress=progress)


def _check_cases(cases) -> int:
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise ValueError(f"cases must be a positive int; got {cases!r}")
    return cases


def run_cases(jobs: list[tuple[str, int]], case_fn: Callable, seed: int = 0, json_path: str | None = None,
              progress: bool = True) -> int:
    """Run ``case_fn(target, case, seed) -> (mutation, outcome, seconds)`` on every ``(target,
    case)`` of ``jobs``; print the outcome counts per target and mutation (a "crash:<what>"
    outcome counts as "crash" and is listed); write them to ``json_path`` if given. Returns 0 if
    no case failed (:data:`FAILURES`), else 1."""
    table: dict = defaultdict(Counter)
    crashes: list = []
    slowest = defaultdict(float)
    bar = _progress(len(jobs), progress)
    t_start = time.perf_counter()
    for target, i in jobs:
        mutation, kind, elapsed = case_fn(target, i, seed)
        if kind.startswith("crash:"):
            crashes.append(f"{target}/{mutation} case {i}: {kind[6:]}")
            kind = "crash"
        table[(target, mutation)][kind] += 1
        slowest[target] = max(slowest[target], elapsed)
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t_start
    outcomes = ["error", "decoded", "silent", *FAILURES]
    rows = [{"target": t, "mutation": m, **{k: table[(t, m)][k] for k in outcomes}} for (t, m) in sorted(table)]
    failures = sum(r[k] for r in rows for k in FAILURES)
    width = max(len(f"{r['target']} / {r['mutation']}") for r in rows)
    print(f"{'target / mutation'.ljust(width)}  " + "  ".join(f"{k:>8}" for k in outcomes))
    for r in rows:
        print(f"{(r['target'] + ' / ' + r['mutation']).ljust(width)}  " + "  ".join(f"{r[k]:>8}" for k in outcomes))
    total = Counter()
    for r in rows:
        total.update({k: r[k] for k in outcomes})
    print(f"{'total'.ljust(width)}  " + "  ".join(f"{total[k]:>8}" for k in outcomes))
    print(f"{len(jobs)} cases in {seconds:.0f} s; slowest case {max(slowest.values()):.2f} s; failures: {failures}")
    for line in crashes[:20]:
        print("  crash:", line)
    if json_path:
        with open(json_path, "w") as fh:
            json.dump({"cases": len(jobs), "seed": seed, "seconds": seconds, "rows": rows, "crashes": crashes,
                       "slowest_seconds": dict(slowest)}, fh, indent=1)
    return 0 if failures == 0 else 1


def _progress(total: int, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the diffusion extra; rcc alone runs without a bar
        enabled = False
    if not enabled:
        class _Null:
            def update(self, n):
                pass

            def close(self):
                pass
        return _Null()
    return tqdm(total=total, desc="fuzz", unit="case", mininterval=1.0)
