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


@pytest.mark.slow
def test_dcs_unequal_variance_example_shows_the_equal_variance_form_overstating(capsys):
    """examples/dcs_unequal_variance.py (about a minute): every chunk's equal-variance D_CS is at
    least its exact D_CS, which is at least its KL."""
    runpy.run_path(str(EXAMPLES / "dcs_unequal_variance.py"), run_name="__main__")
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert len(rows) == 23
    for _, _, kl, exact, equal, gap in rows:
        assert float(kl) < float(exact) <= float(equal) and float(gap) >= 0.0
