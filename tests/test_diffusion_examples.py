"""The diffusion example runs in smoke mode; the demo runs (slow)."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from diffusion.train import checkpoint_path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.skipif(not checkpoint_path("uniform", 5).exists(), reason="no shipped uniform_T5")
def test_diffusion_swirl_example_smoke(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["diffusion_swirl.py", "--smoke"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(EXAMPLES / "diffusion_swirl.py"), run_name="__main__")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "lossless round trip: ok" in out and "PSNR denoised" in out


def test_image_roundtrip_example(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["image_roundtrip.py", "uniform", "16", "2"])
    runpy.run_path(str(EXAMPLES / "image_roundtrip.py"), run_name="__main__")  # asserts the round trip
    out = capsys.readouterr().out
    assert "uniform T=4 astronaut 16x16: file" in out and "per step, real bits/dim" in out


@pytest.mark.slow
def test_demo_runs(tmp_path):
    import diffusion

    results = diffusion.demo(tmp_path, verbose=False)
    assert all(r["lossless"] for r in results)
    assert (tmp_path / "bits_vs_T.png").exists() and (tmp_path / "rate_distortion.png").exists()
    uq = next(r for r in results if r["channel"] == "uq")
    assert uq["real_total"] < 8.0 and uq["real_over_nelbo"] < 1.05
