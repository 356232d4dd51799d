"""Kernels of chunked coding (private): the greedy KL layout and the regeneration of every chunk.

Public wrappers live in :mod:`rcc.chunked`; plain-numpy references in ``tests/naive.py`` /
``tests/test_chunked.py``.
"""

from __future__ import annotations

import numpy as np

from ._config import njit
from ._kernels import _fill_candidate
from .distributions import Distribution
from .random import seed_key

__all__ = ["greedy_sizes", "even_sizes", "regenerate"]


@njit
def greedy_sizes(kl, chunk_bits, size_multiple, max_size, out):
    """Contiguous chunks of about ``chunk_bits`` of KL; returns the chunk count C.

    kl: float64 (d,) per-coordinate KL in bits; out: int64 (d,), sizes written to out[:C].
    size_multiple 1: a chunk closes as soon as its KL reaches ``chunk_bits``. size_multiple
    g > 1: sizes are multiples of g, and a chunk closes at the first multiple at which its KL
    reaches ``chunk_bits``, or at the multiple before it if that one's KL is closer to
    ``chunk_bits`` (so one block of g coordinates moves the chunk KL by at most half the block's
    KL). A chunk also closes once it holds ``max_size`` coordinates (a multiple of g; pass d or
    more for no limit). The last chunk takes what is left (fewer than max_size coordinates).
    """
    acc = 0.0  # KL of the open chunk
    size = 0
    before = 0.0  # KL of the open chunk at its previous multiple of size_multiple
    count = 0
    for j in range(kl.shape[0]):
        acc += kl[j]
        size += 1
        if size % size_multiple != 0:
            continue
        if acc >= chunk_bits:
            if size_multiple > 1 and size > size_multiple and chunk_bits - before < acc - chunk_bits:
                out[count] = size - size_multiple  # close at the previous multiple; the block opens the next
                count += 1
                acc -= before
                size = size_multiple
                if acc < chunk_bits:
                    before = acc
                    continue
            out[count] = size
            count += 1
            acc = 0.0
            size = 0
        elif size >= max_size:
            out[count] = size
            count += 1
            acc = 0.0
            size = 0
        before = acc
    if size > 0:
        out[count] = size
        count += 1
    return count


def even_sizes(d: int, num_chunks: int) -> np.ndarray:
    """Sizes (int64, shape (C,)) of the "even" layout: chunk c = [floor(c d / C), floor((c + 1) d / C))."""
    edges = (np.arange(num_chunks + 1, dtype=np.int64) * d) // num_chunks
    return np.diff(edges)


@njit
def _fill_chunks(k0, k1, pfam, pa, pb, sizes, index0, out):
    """Candidate index0[c] of chunk c into out[offset_c : offset_c + sizes[c]], for every chunk."""
    start = 0
    for c in range(sizes.shape[0]):
        end = start + sizes[c]
        _fill_candidate(k0, k1, c, index0[c], pfam, pa[start:end], pb[start:end], out[start:end])
        start = end


def regenerate(p: Distribution, seed: int, sizes: np.ndarray, index1: np.ndarray) -> np.ndarray:
    """The flat float64 (d,) sample: candidate index1[c] (1-based) of chunk c for every chunk.

    p: the prior flattened to (d,); sizes: int64 (C,) summing to d; index1: uint64 (C,).
    """
    k0, k1 = seed_key(seed)
    pa = np.ascontiguousarray(p.a, np.float64).ravel()
    pb = np.ascontiguousarray(p.b, np.float64).ravel()
    out = np.empty(pa.shape[0])
    index0 = np.asarray(index1, dtype=np.uint64) - np.uint64(1)
    _fill_chunks(k0, k1, int(p.family), pa, pb, np.asarray(sizes, np.int64), index0, out)
    return out
