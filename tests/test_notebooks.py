"""The teaching notebooks in examples/notebooks run from top to bottom without an error.

Each notebook is a jupytext ``py:percent`` file: read it with jupytext, execute it in a fresh
``python3`` kernel with nbclient (non-interactive matplotlib backend, a temporary working
directory), and check its shape: a jupytext header, prose with equations, at least one plot and
no stored outputs.
"""

import os
import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "examples" / "notebooks").glob("*.py"))
PLOT_CALL = re.compile(r"\b(plt|ax|axes|fig)\w*(\[[^\]]*\])?\.(plot|hist|scatter|step|bar|semilogy|loglog|imshow)\(")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path):
    text = path.read_text()
    assert text.startswith("# ---\n# jupyter:\n#   jupytext:"), "missing jupytext header"
    assert "format_name: percent" in text.split("# ---", 2)[1]
    nb = jupytext.reads(text, fmt="py:percent")
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(re.search(r"\$[^$]+\$", m) for m in markdown), "no markdown cell with an equation"
    assert any(PLOT_CALL.search(c) for c in code), "no plot call"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, "stored output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(path, fmt="py:percent")
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
        allow_errors=False,
    )
    client.execute(cwd=str(tmp_path), env={**os.environ, "MPLBACKEND": "Agg"})
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    warnings_out = [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "stream" and o.get("name") == "stderr"
    ]
    assert not any("Warning" in t for t in warnings_out), warnings_out
