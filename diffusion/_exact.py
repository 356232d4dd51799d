"""What encoder and decoder must compute bit for bit (private): the float64 single-thread copy
of the model and its fingerprint, the grid the priors are rounded to, the blocks the model runs
on, and the shared randomness (the channel seeds, from :mod:`rcc.random` under
``rcc.random.derive_seed``). See "Determinism" and "Shared randomness" in :mod:`diffusion.codec`."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import zlib

import numpy as np
import torch

import rcc
import rcc.random

from .distributions import GaussianStep, LogisticUniformStep

#: Grid the prior parameters that feed a coder are rounded to (see "Determinism" in diffusion.codec).
_GRID = 2.0**-32
#: The float64 model runs on blocks of rows (examples) of about this many values, so its
#: activations stay small (swirl: 2^14 points, hidden 512: 64 MiB a layer); a row larger than
#: that (a photo) is a block of its own.
BLOCK_ELEMENTS = 2**15
#: Shared randomness: the file's seed feeds nothing directly; every stream is Philox
#: (:mod:`rcc.random`) under a seed derived from it by ``rcc.random.derive_seed(seed, path...)``
#: (path 0 drew z_1 in formats 5 and 6; z_1 is sent since format 7).
_PATH_STREAM, _PATH_STEP = 1, 2


def _rows_per_block(row_size: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, int(row_size)))


def _blocks(n: int, row_size: int = 1) -> list[slice]:
    """Slices of ``n`` rows of ``row_size`` values each, about ``BLOCK_ELEMENTS`` values a block."""
    k = _rows_per_block(row_size)
    return [slice(a, min(a + k, n)) for a in range(0, n, k)]


def _blockwise(fn, z: torch.Tensor, *rest):
    """``fn(z, *rest)`` on blocks of rows of z (:func:`_blocks`; and of each tensor in ``rest``
    with as many rows), joined again: a step distribution (fields (N, *S)) or a tensor."""
    n, k = z.shape[0], _rows_per_block(z[0].numel())
    if n <= k:
        return fn(z, *rest)
    parts = [fn(z[a : a + k], *(r[a : a + k] if torch.is_tensor(r) and r.dim() and r.shape[0] == n else r for r in rest))
             for a in range(0, n, k)]
    if torch.is_tensor(parts[0]):
        return torch.cat(parts)
    joined = {}
    for f in dataclasses.fields(parts[0]):
        vals = [getattr(p, f.name) for p in parts]
        full = all(v.dim() and v.shape[0] == b.shape[0] for v, b in zip(vals, (p.loc for p in parts)))
        joined[f.name] = torch.cat(vals) if full else vals[0]
    return type(parts[0])(**joined)


def _grid(t: torch.Tensor) -> torch.Tensor:
    return torch.round(t / _GRID) * _GRID


@contextlib.contextmanager
def _threads(num: int = 1):
    """Run the block with ``num`` torch threads (restored after). The float64 network passes have
    given the same bits with 1 and 2 threads (the 512 x 512 astronaut's priors, and
    ``tests/test_diffusion_images.py`` on every run), so threads change only the speed."""
    n = torch.get_num_threads()
    torch.set_num_threads(num)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _model64(model):
    """A float64 CPU copy of ``model`` in eval mode (cached on the model)."""
    cache = getattr(model, "_codec_model64", None)
    sig = _fingerprint(model)
    if cache is not None and cache[0] == sig:
        return cache[1]
    m = copy.deepcopy(model).to("cpu").double().eval()
    m.__dict__.pop("_codec_model64", None)
    object.__setattr__(model, "_codec_model64", (sig, m))
    return m


def _fingerprint(model) -> int:
    crc = 0
    for k, v in sorted(model.state_dict().items()):
        crc = zlib.crc32(k.encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(v.detach().cpu().to(torch.float64).numpy()).tobytes(), crc)
    return crc & 0xFFFFFFFF


def _shared_uniforms(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniforms in (0, 1), float64 of ``shape`` (N, *S), from shared randomness: row n (its
    D = prod S values in C order) is ``rcc.random.uniforms(seed, DOMAIN_CANDIDATE, 0, n, D)``
    (Philox4x32-10, 53 bits each), so an example's noise depends on its row alone, not on N.
    Computed in blocks of rows (:func:`_blocks`)."""
    n, d = int(shape[0]), int(np.prod(shape[1:], dtype=np.int64))
    out = np.empty((n, d))
    for sl in _blocks(n, d):
        out[sl] = rcc.random.uniforms(seed, rcc.random.DOMAIN_CANDIDATE, 0, np.arange(sl.start, sl.stop), d)
    return out.reshape(tuple(shape))


def _shared_normals(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals, float64 of ``shape`` (N, *S): scipy's inverse normal CDF ``ndtri`` of
    :func:`_shared_uniforms` (never numpy's ziggurat, which eats a variable number of draws)."""
    from scipy.special import ndtri

    return ndtri(_shared_uniforms(seed, shape))


def _stream_seed(seed: int) -> int:
    """Seed of the ``uq`` channel's one UQStream (push k's dither is its Philox chunk k):
    ``rcc.random.derive_seed(seed, 1)``."""
    return rcc.random.derive_seed(seed, _PATH_STREAM)


def _step_seed(seed: int, i: int) -> int:
    """Seed of step i's channel (i = T + 1 for z_1, then T .. 1; ``rcc.compress`` and the ideal channel):
    ``rcc.random.derive_seed(seed, 2, i)``."""
    return rcc.random.derive_seed(seed, _PATH_STEP, i)


def _prior64(model64, z: torch.Tensor, i: int):
    """The prior of step i that feeds the coder, float64, on the grid: the reverse prior
    ``p(z_s | z_t)`` for i = T .. 1, the top prior ``p(z_1)`` for i = T + 1 (then only z's
    shape is used)."""
    if i == model64.num_steps + 1:
        p = model64.top_prior(torch.zeros(z.shape, dtype=torch.float64))
    else:
        p = _blockwise(lambda zb: model64.reverse_prior(zb, i), z)
    if isinstance(p, GaussianStep):
        return GaussianStep(_grid(p.loc), _grid(p.scale))
    return LogisticUniformStep(_grid(p.loc), _grid(p.scale), p.delta)
