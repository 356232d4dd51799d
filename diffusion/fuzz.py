"""Fuzzing the diffusion file decoder: ``rcc-diffusion fuzz --cases N`` (the runner, the raw
mutations and the outcomes are :mod:`rcc.fuzz`'s; figures in docs/reliability.md).

Files of the seed-0 swirl set's first 64 points, encoded once per process with the shipped
uniform (T = 3, UQ stream) and Gaussian (T = 3, chunked PFR) checkpoints, are mutated:

* ``file`` -- raw byte mutations of a complete file. Must raise (CRC-32 over file and model),
  except where the mutation cut the file inside its steps: that is a byte prefix, which decodes
  the steps it holds (counted as ``decoded`` when they equal the encoder's).
* ``prefix`` -- raw byte mutations of a byte prefix holding k of the T steps (a progressive
  file). The decoder may return steps, but every latent it returns must equal the encoder's.
* ``points`` -- the header's point count N replaced by 2^11 .. 2^22 in a complete file or a
  prefix. Must raise DecodeError (the header check) before the network runs on N points.
* ``huge`` -- as ``points`` with N = 2^24 .. 2^40 and the header check forged with the model in
  hand, as a deliberate attacker would. Must raise DecodeError (``max_elements``) before
  allocating.
"""

from __future__ import annotations

import functools

import numpy as np

from rcc.coding import decode_varint, encode_varint
from rcc.fuzz import mutate_bytes, outcome, run_cases

__all__ = ["run", "jobs", "fuzz_case", "TARGETS"]

_NUM_POINTS = 64
_STEPS = 3
TARGETS = tuple(f"{h}-{m}" for h in ("uniform", "gaussian") for m in ("file", "prefix", "points", "huge"))


def run(cases: int = 200, seed: int = 0, json_path: str | None = None, progress: bool = True) -> int:
    """Fuzz ``cases`` diffusion cases spread evenly over :data:`TARGETS` (each a decode of a
    64-point file: about 0.1 s); print the outcome table (:func:`rcc.fuzz.run_cases`); 0 if no
    case failed, else 1."""
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise ValueError(f"cases must be a positive int; got {cases!r}")
    return run_cases(jobs(cases), fuzz_case, seed=seed, json_path=json_path, progress=progress)


def jobs(cases: int) -> list[tuple[str, int]]:
    """The ``(target, case)`` pairs of ``cases`` cases, the targets in turn."""
    return [(TARGETS[i % len(TARGETS)], i) for i in range(cases)]


@functools.lru_cache(maxsize=None)
def _encoded(hierarchy: str):
    from . import codec, data, load_pretrained

    model = load_pretrained(hierarchy, _STEPS)
    x = data.swirl()[:_NUM_POINTS]
    return model, x, codec.encode(model, x, seed=0)


def _with_points(blob: bytes, n: int, model=None) -> bytes:
    """The blob with its header's point count N replaced (magic 2, flags 1, varint T, varint N);
    with ``model``, its header check recomputed (forged) too."""
    from . import codec

    r = codec._Reader(blob, len(blob))
    r.pos = codec.read_header(blob)["_offset"]
    codec.make_channel(codec.read_header(blob)["channel"]).read_header(r)
    head_end = r.pos  # the header check follows
    pos = 3
    _, pos = decode_varint(blob, pos)
    start = pos
    _, pos = decode_varint(blob, pos)
    new = blob[:start] + encode_varint(n) + blob[pos:]
    if model is None:
        return new
    end = head_end + len(new) - len(blob)
    return new[:end] + codec._header_check(codec._fingerprint(model), new[:end]) + new[end + codec.CHECK_BYTES:]


def fuzz_case(target: str, case_seed: int, seed: int):
    """Run one diffusion case; return (mutation, outcome, seconds) as :func:`rcc.fuzz.fuzz_case`
    (``target`` in :data:`TARGETS`, e.g. "uniform-prefix")."""
    from . import codec

    hierarchy, mutation = target.split("-")
    model, x, enc = _encoded(hierarchy)
    rng = np.random.default_rng([seed, 1_000_003, case_seed])
    T = enc.num_steps
    if mutation == "file":
        blob = mutate_bytes(rng, enc.blob)
    elif mutation == "prefix":
        k = int(rng.integers(1, T + 1))
        blob = mutate_bytes(rng, enc.blob[: enc.prefix_bytes[k - 1]])
    else:
        base = enc.blob if rng.random() < 0.5 else enc.blob[: enc.prefix_bytes[0]]
        if mutation == "points":
            blob = _with_points(base, int(rng.integers(2**11, 2**22 + 1)))
        else:
            blob = _with_points(base, 2 ** int(rng.integers(24, 41)), model)
    kind, res, elapsed = outcome(lambda: codec.decode(blob, model), 60.0, 512 * 2**20)
    if kind == "returned":
        kind = _check(res, enc, x, mutation)
    return mutation, kind, elapsed


def _check(res, enc, x, mutation: str) -> str:
    if mutation in ("points", "huge"):
        return "accepted"
    s = res.steps_decoded
    if s > 0 and not np.array_equal(res.z, enc.latents[s - 1]):
        return "wrong"
    if res.x is not None and not np.array_equal(res.x, x):
        return "wrong"
    return "decoded"
