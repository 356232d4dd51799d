"""Numba options of every jitted kernel in rcc, in one place (as stumpy's ``config.py``).

Every kernel is compiled by :func:`njit` (or, for a ``prange`` loop, :func:`serial_and_parallel`)
with :data:`NJIT_OPTIONS`:

* ``cache=True``: machine code is cached on disk next to the module (``__pycache__``), so a new
  process does not recompile;
* ``error_model="numpy"``: a float division by zero gives inf/nan as in numpy instead of raising
  (no zero check per division). It changes no result: the only divisions by a value known at run
  time are in :mod:`rcc._densities` and their arguments are validated by the public wrappers;
  every kernel is compared with its plain-numpy twin in ``tests/naive.py``.

No ``fastmath``: the kernels' floats must be the same on every machine (bitstreams depend on
them). Per-kernel options (``inline="always"`` for the Philox rounds, ``parallel=True``) are
passed as keywords and added to these.

Usage::

    from ._config import njit

    @njit
    def kernel(x): ...

    @njit(inline="always")
    def helper(x): ...
"""

from __future__ import annotations

import types

import numba

__all__ = ["NJIT_OPTIONS", "njit", "serial_and_parallel"]

#: Options of every rcc kernel (see the module docstring).
NJIT_OPTIONS = {"cache": True, "error_model": "numpy"}


def njit(fn=None, **options):
    """``numba.njit`` with :data:`NJIT_OPTIONS` plus ``options``; as ``@njit`` or ``@njit(...)``."""
    jit = numba.njit(**{**NJIT_OPTIONS, **options})
    return jit if fn is None else jit(fn)


def serial_and_parallel(loop, **options):
    """Compile one ``prange`` loop twice: serial (``range``) and parallel over threads.

    Returns ``(serial, parallel)`` dispatchers. Small batches run serially, where waking the
    thread pool (and waiting for a descheduled thread on a busy machine) costs more than the work.
    The two copies get distinct names because numba's on-disk cache keys its entries by qualified
    name and signature, not by the ``parallel`` flag: compiled from one function, the second
    dispatcher would load the first one's machine code. Both give identical results when each
    iteration writes only its own outputs.
    """

    def renamed(suffix: str):
        fn = types.FunctionType(loop.__code__, loop.__globals__, loop.__name__ + suffix, loop.__defaults__,
                                loop.__closure__)
        fn.__qualname__ = loop.__qualname__ + suffix
        fn.__module__ = loop.__module__
        return fn

    return njit(renamed("_serial"), **options), njit(renamed("_parallel"), parallel=True, **options)
