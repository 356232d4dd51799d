"""Every documented example is a test: the README tour and the docstring examples of rcc."""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["rcc", "rcc.random", "rcc.coding", "rcc.pfr", "rcc.orc", "rcc.mrc", "rcc.uq", "rcc.hybrid",
           "rcc.chunked", "rcc.distributions", "rcc._densities"]


def test_readme_tour_runs():
    """The README's Python tour runs as written (it asserts nothing itself, so check its results)."""
    text = (ROOT / "README.md").read_text()
    code = text.split("## A short tour", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["x"].shape == (4096,)
    report = namespace["report"]
    assert report.payload_bits > 0.9 * report.kl_bits
    assert report.header_bits > 0


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
