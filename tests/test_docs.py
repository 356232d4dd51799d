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


def test_readme_diffusion_tour_runs():
    """The README's diffusion block: one switch, a real file, and a lossless round trip."""
    import numpy as np

    from diffusion import data

    text = (ROOT / "README.md").read_text()
    code = text.split("## Diffusion in one switch", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    np.testing.assert_array_equal(namespace["x"], data.swirl())
    assert len(namespace["result"].blob) > 0


def test_rcc_demo_command_is_registered():
    """`rcc demo` is the README's main job: the CLI knows it (the run itself is the slow test in
    test_diffusion_examples / the CI-free main job)."""
    from rcc.cli import main

    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0
