"""Shared randomness: Philox4x32-10 and the candidate stream addressed by (seed, chunk, index).

Every random number that encoder and decoder must agree on is a pure function of

    (seed, domain, chunk, index, coordinate)

computed with the counter-based generator Philox4x32-10 (Salmon, Moraes, Dror & Shaw,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011). Candidate ``index`` of ``chunk`` is
therefore computed directly, in O(d), without drawing the candidates before it: decoding index
2**40 costs what decoding index 1 costs.

Addressing (all counters are 64-bit where they can exceed 2**32):

* key   = (seed mod 2**32, seed // 2**32)                 -- seed is an integer in [0, 2**64)
* counter word 0 = coordinate block j (coordinates 2j and 2j+1 share one Philox call)
* counter word 1 = chunk (low 24 bits) | domain << 24       -- domain separates independent streams
* counter words 2, 3 = index (low and high 32 bits)

One Philox call gives four 32-bit words, i.e. two uniforms with 53 random bits each:
``u = (floor(w / 2**11) + 0.5) / 2**53`` from the 64-bit word ``w = hi << 32 | lo``, clamped to
the largest double below one (the top value would round up to 1.0), so ``0 < u < 1`` always.
Standard normals come from the Box--Muller transform of the pair, exponentials are ``-log(u)``. Nothing here uses numpy's generators (numpy's ``Philox`` is the 4x64
variant) or Python's ``hash``.

Seeds for many messages (one per dataset item and diffusion step, say) are derived from one seed
by :func:`derive_seed`, a Philox hash of (seed, item, step, ...).

The numba kernels (``_philox``, ``_uniform2``, ``_normal2``) and the plain-numpy twins
(:func:`philox4x32_10`, :func:`uniforms`, :func:`normals`, :func:`exponentials`) give the same
raw words; floats agree to the last bit on the platforms we test (both use the C library's
``log``, ``sqrt``, ``cos`` and ``sin`` through Python's ``math`` module or LLVM). Box--Muller folds
the angle into one octant (see ``_box_muller``), so ``cos`` and ``sin`` need no range reduction.
"""

from __future__ import annotations

import math

import numpy as np

from ._config import njit

__all__ = [
    "philox4x32_10",
    "uniforms",
    "normals",
    "exponentials",
    "DOMAIN_CANDIDATE",
    "DOMAIN_ARRIVAL",
    "DOMAIN_DITHER",
    "DOMAIN_SELECT",
    "DOMAIN_HYBRID",
    "DOMAIN_SEED",
    "derive_seed",
    "MAX_SEED",
    "MAX_CHUNK",
    "check_seed",
]

# Independent streams. Only the candidate and dither streams must be shared with the decoder;
# the others drive encoder-private choices (arrival times, selection noise) and are seeded so
# that encoding is reproducible.
DOMAIN_CANDIDATE = 1
DOMAIN_ARRIVAL = 2
DOMAIN_DITHER = 3
DOMAIN_SELECT = 4
DOMAIN_HYBRID = 5
#: Counter word 1 of the blocks of :func:`derive_seed` (``DOMAIN_SEED << 24``).
DOMAIN_SEED = 6

MAX_SEED = 2**64 - 1
MAX_CHUNK = 2**24 - 1

_M0 = 0xD2511F53
_M1 = 0xCD9E8D57
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK32 = 0xFFFFFFFF
_TWO_M53 = 2.0**-53
_MAX_U = 1.0 - 2.0**-53  # largest double below 1
_QUARTER_PI = 0.25 * math.pi


def check_seed(seed) -> int:
    """Return ``seed`` as a Python int, or raise ValueError if it is not an integer in [0, 2**64)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**64); got {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**64); got {seed}")
    return seed


# ----------------------------------------------------------------------------------------------
# numba kernels
# ----------------------------------------------------------------------------------------------


@njit(inline="always")
def _philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on one counter; all arguments and results are uint32 (as uint64 values)."""
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    mask = np.uint64(_MASK32)
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(_W0)) & mask
            k1 = (k1 + np.uint64(_W1)) & mask
        p0 = np.uint64(_M0) * c0
        p1 = np.uint64(_M1) * c2
        hi0 = p0 >> np.uint64(32)
        lo0 = p0 & mask
        hi1 = p1 >> np.uint64(32)
        lo1 = p1 & mask
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
    return c0, c1, c2, c3


@njit(inline="always")
def _uniform2(k0, k1, domain, chunk, index, block):
    """Two uniforms in (0, 1) for coordinates 2*block and 2*block+1 of (chunk, index)."""
    idx = np.uint64(index)
    c1 = (np.uint64(chunk) & np.uint64(0xFFFFFF)) | (np.uint64(domain) << np.uint64(24))
    w0, w1, w2, w3 = _philox(
        np.uint64(block) & np.uint64(_MASK32),
        c1,
        idx & np.uint64(_MASK32),
        idx >> np.uint64(32),
        k0,
        k1,
    )
    a = (w0 << np.uint64(21)) | (w1 >> np.uint64(11))
    b = (w2 << np.uint64(21)) | (w3 >> np.uint64(11))
    # a, b < 2**53: the signed conversion is exact and one instruction (unsigned is not).
    # (2**53 - 1 + 0.5) / 2**53 would round to 1.0: clamp to the largest double below one.
    u0 = min((np.float64(np.int64(a)) + 0.5) * _TWO_M53, _MAX_U)
    u1 = min((np.float64(np.int64(b)) + 0.5) * _TWO_M53, _MAX_U)
    return u0, u1


@njit
def _normal2(k0, k1, domain, chunk, index, block):
    """Two independent standard normals (Box--Muller) for coordinates 2*block, 2*block+1."""
    u0, u1 = _uniform2(k0, k1, domain, chunk, index, block)
    return _box_muller(u0, u1)


@njit(inline="always")
def _box_muller(u0, u1):
    """Box--Muller: radius sqrt(-2 log u0), angle 2 pi u1, with the angle folded into one octant.

    The octant o = floor(8 u1) and the angle b = (8 u1 - o) pi/4 in [0, pi/4) give the point
    (cos b, sin b); one of the eight symmetries of the square maps it into octant o. The angle is
    uniform on the circle as before, but cos and sin only see [0, pi/4), where the C library needs
    no argument reduction (about twice as fast).
    """
    r = math.sqrt(-2.0 * math.log(u0))
    v = 8.0 * u1
    o = int(v)
    b = (v - o) * _QUARTER_PI
    x = math.cos(b)
    y = math.sin(b)
    if (o + 1) & 2:  # octants 1, 2, 5, 6: reflect about the diagonal
        x, y = y, x
    if (o + 2) & 4:  # octants 2..5: left half-plane
        x = -x
    if o >= 4:  # octants 4..7: lower half-plane
        y = -y
    return r * x, r * y


@njit
def _fill_uniforms(k0, k1, domain, chunk, index, out):
    d = out.shape[0]
    for j in range((d + 1) // 2):
        u0, u1 = _uniform2(k0, k1, domain, chunk, index, j)
        out[2 * j] = u0
        if 2 * j + 1 < d:
            out[2 * j + 1] = u1


@njit
def _fill_normals(k0, k1, domain, chunk, index, out):
    d = out.shape[0]
    for j in range((d + 1) // 2):
        n0, n1 = _normal2(k0, k1, domain, chunk, index, j)
        out[2 * j] = n0
        if 2 * j + 1 < d:
            out[2 * j + 1] = n1


def seed_key(seed: int) -> tuple[int, int]:
    """Split a 64-bit seed into the two Philox key words."""
    seed = check_seed(seed)
    return seed & _MASK32, seed >> 32


# ----------------------------------------------------------------------------------------------
# plain-numpy reference (also the public, vectorised entry point for tests and teaching)
# ----------------------------------------------------------------------------------------------


def philox4x32_10(counter, key) -> np.ndarray:
    """Philox4x32-10 block function, plain numpy.

    Parameters
    ----------
    counter : array_like of uint32, shape (..., 4)
    key : array_like of uint32, shape (..., 2), broadcast against ``counter[..., :2]``

    Returns
    -------
    np.ndarray of uint32, shape (..., 4)

    Example
    -------
    >>> philox4x32_10([0, 0, 0, 0], [0, 0]).tolist()  # Random123 known answer
    [1713891541, 3781805453, 3159862348, 2600524760]
    """
    counter = np.asarray(counter)
    key = np.asarray(key)
    for name, arr, last in (("counter", counter, 4), ("key", key, 2)):
        if arr.shape[-1:] != (last,):
            raise ValueError(f"{name} must have shape (..., {last}); got {arr.shape}")
        if arr.dtype.kind not in "ui" or (arr.size and (arr.min() < 0 or arr.max() > _MASK32)):
            raise ValueError(f"{name} must hold uint32 values")
    c = [counter[..., i].astype(np.uint64) for i in range(4)]
    k0 = key[..., 0].astype(np.uint64)
    k1 = key[..., 1].astype(np.uint64)
    mask = np.uint64(_MASK32)
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(_W0)) & mask
            k1 = (k1 + np.uint64(_W1)) & mask
        p0 = np.uint64(_M0) * c[0]
        p1 = np.uint64(_M1) * c[2]
        c = [
            (p1 >> np.uint64(32)) ^ c[1] ^ k0,
            p1 & mask,
            (p0 >> np.uint64(32)) ^ c[3] ^ k1,
            p0 & mask,
        ]
    out = np.stack(np.broadcast_arrays(*c), axis=-1)
    return out.astype(np.uint32)


def _counters(domain: int, chunk, index, num_blocks: int) -> np.ndarray:
    chunk = np.asarray(chunk, dtype=np.uint64)
    index = np.asarray(index, dtype=np.uint64)
    if np.any(chunk > MAX_CHUNK):
        raise ValueError(f"chunk must be < 2**24; got {chunk.max()}")
    shape = np.broadcast_shapes(chunk.shape, index.shape)
    block = np.arange(num_blocks, dtype=np.uint64)
    ctr = np.empty(shape + (num_blocks, 4), dtype=np.uint64)
    ctr[..., 0] = block
    ctr[..., 1] = (np.broadcast_to(chunk, shape)[..., None] & np.uint64(0xFFFFFF)) | np.uint64(
        domain << 24
    )
    idx = np.broadcast_to(index, shape)[..., None]
    ctr[..., 2] = idx & np.uint64(_MASK32)
    ctr[..., 3] = idx >> np.uint64(32)
    return ctr


def uniforms(seed: int, domain: int, chunk, index, d: int) -> np.ndarray:
    """Uniforms in the open interval (0, 1) of candidate(s) ``index`` of ``chunk``, plain numpy.

    ``chunk`` and ``index`` broadcast; the result has shape ``broadcast(chunk, index).shape + (d,)``.
    """
    if d < 0:
        raise ValueError(f"d must be >= 0; got {d}")
    k0, k1 = seed_key(seed)
    nb = (d + 1) // 2
    words = philox4x32_10(_counters(domain, chunk, index, nb).astype(np.uint32), np.array([k0, k1], np.uint32))
    words = words.astype(np.uint64)
    a = (words[..., 0] << np.uint64(21)) | (words[..., 1] >> np.uint64(11))
    b = (words[..., 2] << np.uint64(21)) | (words[..., 3] >> np.uint64(11))
    u = np.stack([a, b], axis=-1).astype(np.float64)
    u = np.minimum((u + 0.5) * _TWO_M53, _MAX_U)
    return u.reshape(u.shape[:-2] + (2 * nb,))[..., :d]


def normals(seed: int, domain: int, chunk, index, d: int) -> np.ndarray:
    """Standard normals (Box--Muller on :func:`uniforms` pairs), shape ``(..., d)``, plain numpy."""
    nb = (d + 1) // 2
    u = uniforms(seed, domain, chunk, index, 2 * nb).reshape(-1, 2)
    # the kernel's own Python source (scalar math module calls), so the floats agree bit for bit
    out = np.array([_box_muller.py_func(float(u0), float(u1)) for u0, u1 in u]).reshape(u.shape)
    shape = np.broadcast_shapes(np.shape(chunk), np.shape(index))
    return out.reshape(shape + (2 * nb,))[..., :d]


def derive_seed(seed: int, *path: int) -> int:
    """A seed in [0, 2**63) derived from ``seed`` and a path of integers, e.g. (item, step).

    A hash, not arithmetic: one Philox4x32-10 block per path element, chained through the key.
    With ``s_0 = seed`` and path ``(e_0, .., e_{n-1})``, block i is keyed by ``s_i`` (split as in
    :func:`seed_key`) and its counter is ``(e_i mod 2**32, e_i // 2**32, i, DOMAIN_SEED << 24)``;
    its first two output words give ``s_{i+1} = w_0 * 2**32 + w_1``. The result is
    ``s_n // 2``, so it fits a signed 64-bit integer (torch, numpy int64).

    Distinct inputs give the same result with probability about 2**-63, so among n derived
    seeds some two coincide with probability about n**2 / 2**64 (5e-8 for n = 10**6 items x
    steps, 0.05 for n = 10**9). Unlike ``seed * K + i``, nearby inputs give unrelated outputs,
    and no (seed, item, step) meets another by arithmetic accident.

    Parameters
    ----------
    seed : int in [0, 2**64)
    *path : ints in [0, 2**64), at least one

    Example
    -------
    >>> derive_seed(0, 0)
    4788190090684445775
    """
    state = check_seed(seed)
    if not path:
        raise ValueError("derive_seed needs at least one path element after the seed")
    for i, element in enumerate(path):
        if isinstance(element, (bool, np.bool_)) or not isinstance(element, (int, np.integer)) \
                or not 0 <= int(element) <= MAX_SEED:
            raise ValueError(f"derive_seed: path element {i} must be an integer in [0, 2**64); got {element!r}")
        element = int(element)
        counter = np.array([element & _MASK32, element >> 32, i, DOMAIN_SEED << 24], dtype=np.uint32)
        w = philox4x32_10(counter, np.array(seed_key(state), dtype=np.uint32))
        state = (int(w[0]) << 32) | int(w[1])
    return state >> 1


def exponentials(seed: int, domain: int, chunk, index, d: int) -> np.ndarray:
    """Standard exponentials ``-log(u)`` of :func:`uniforms`, shape ``(..., d)``, plain numpy."""
    return -np.log(uniforms(seed, domain, chunk, index, d))
