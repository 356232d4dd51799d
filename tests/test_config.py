"""rcc._config: every jitted kernel in rcc is compiled with the one set of numba options."""

import importlib
import pkgutil

import numba
import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

import rcc
from rcc._config import NJIT_OPTIONS, njit, serial_and_parallel


def _kernels():
    """(module.name, dispatcher) of every numba kernel defined in an rcc module."""
    out = []
    for info in pkgutil.iter_modules(rcc.__path__):
        if info.name in ("__main__", "cli"):
            continue
        mod = importlib.import_module(f"rcc.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, Dispatcher) and obj.py_func.__module__ == mod.__name__:
                out.append((f"{mod.__name__}.{name}", obj))
    return out


def test_there_are_kernels_to_check():
    names = {name for name, _ in _kernels()}
    assert {"rcc.random._philox", "rcc._kernels._fill_candidate", "rcc._densities.logpdf",
            "rcc._hybrid_kernels._fill_candidate"} <= names


@pytest.mark.parametrize("name, kernel", _kernels(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_kernel_uses_the_config(name, kernel):
    opts = kernel.targetoptions
    assert opts.get("error_model") == NJIT_OPTIONS["error_model"], name
    assert not opts.get("fastmath"), name
    assert type(kernel._cache).__name__ != "NullCache", f"{name} is not cached on disk"


def test_njit_forms_and_extra_options():
    def add(a, b):
        return a + b

    for kernel in (njit(add), njit()(add), njit(add, inline="always")):
        assert kernel(2, 3) == 5
        assert kernel.targetoptions["error_model"] == "numpy"
    assert njit(add, inline="always").targetoptions["inline"] == "always"


def _halve(x, out):
    for i in numba.prange(x.shape[0]):
        out[i] = x[i] / 2.0


def test_serial_and_parallel_agree_and_have_distinct_names():
    serial, parallel = serial_and_parallel(_halve)
    assert serial.py_func.__qualname__ == "_halve_serial"
    assert parallel.py_func.__qualname__ == "_halve_parallel"
    assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")
    x = np.linspace(-3.0, 3.0, 1001)
    a, b = np.empty_like(x), np.empty_like(x)
    serial(x, a)
    parallel(x, b)
    np.testing.assert_array_equal(a, x / 2.0)
    np.testing.assert_array_equal(b, a)
