"""Every documented example is a test: the README tour and the docstring examples of rcc."""

import doctest
import importlib
from pathlib import Path

import pytest

import rcc

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
    chunked = [v for v in namespace.values() if isinstance(v, rcc.Message) and v.method == "chunked"]
    assert chunked, "the tour shows rcc.compress, which returns an rcc.Message"
    for msg in chunked:
        assert msg.num_bits > 0.9 * msg.info["kl_bits"]
        assert msg.overhead_bits > 0


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
    np.testing.assert_array_equal(namespace["img_back"], namespace["img"])


def test_rcc_diffusion_demo_main_job(tmp_path):
    """`rcc-diffusion demo`, the README's main job: both hierarchies decode losslessly from real
    files, the uniform file stays near its NELBO, and the report files are written."""
    import json

    from diffusion.cli import main

    assert main(["demo", "-q", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "diffusion_report.json").read_text())
    assert {(r["hierarchy"], r["channel"]) for r in rows} >= {("uniform", "uq"), ("gaussian", "pfr")}
    assert all(r["lossless"] for r in rows)
    uniform = next(r for r in rows if r["channel"] == "uq")
    assert uniform["real_total"] <= 1.05 * uniform["nelbo"]["total"]
    assert uniform["real_total"] < 8.0  # UQDM paper: about 8 bits/dim at T = 5
    for name in ("rate_distortion.png", "bits_vs_T.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_format_document_matches_the_bitstreams():
    """docs/format.md: its method-code table is rcc's, and its worked examples are the bytes rcc
    writes today (the PFR message and the rcc.compress blob of the golden tests)."""
    import re

    text = (ROOT / "docs" / "format.md").read_text()
    table = {name: int(code) for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", text, re.M)}
    assert set(table) == {"uq", "pfr", "orc", "mrc", "hybrid", "uq_stream", "chunked"}
    assert all(rcc.container.METHODS[name] == code for name, code in table.items())
    first_lines = {block.strip().split("\n")[0].replace(" ", "") for block in text.split("```")[1::2]}
    p = rcc.Gaussian(0.0, 1.0)
    pfr = rcc.PFR().encode(rcc.Gaussian(1.0, 0.5), p, seed=1234).to_bytes()
    chunked = rcc.compress(rcc.Gaussian([0.5, -0.25, 1.0, 0.0, -0.75, 0.25], 0.5), p, seed=2024, chunk_bits=3.0)
    assert pfr.hex() in first_lines
    assert chunked.to_bytes().hex() in first_lines
