"""The examples and teaching notebooks run (smoke mode: small sizes)."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["tour.py"])
def test_example_runs_in_smoke_mode(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [name, "--smoke"])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    assert "mean payload bits" in out and "KS p-value" in out
