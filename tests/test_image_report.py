"""The image report (``rcc-diffusion report --data images``) on tiny crops: every table cell and
plot is made, the baselines are real PNG / WebP sizes, and real files decode losslessly."""
from __future__ import annotations

import json

import numpy as np

from diffusion import image_report
from diffusion.images import center_crop, photo


def test_image_report_on_tiny_photos(tmp_path):
    photos = {"astronaut": center_crop(photo("astronaut"), 32), "chelsea": center_crop(photo("chelsea"), 12)}
    rep = image_report.run_image_report(tmp_path, threads=1, verbose=False, photos=photos, crop=8,
                                        checkpoints=[("uniform", 4), ("gaussian", 4)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image_bits.png", "image_report.json",
                                                           "image_report.txt", "image_steps.png"]
    u = rep["models"]["uniform_T4"]["photos"]["astronaut"]
    assert u["real"]["bits_per_dim"] > u["real"]["kl_plus_data"] > 0  # bytes cost at least the information
    np.testing.assert_allclose(u["nelbo"], u["prior"] + sum(u["nelbo_steps"]) + u["data"])
    assert "real" not in rep["models"]["gaussian_T4"]["photos"]["astronaut"]  # Gaussian: crops only
    assert set(rep["crops"]) == {"uniform_T4_astronaut_8", "uniform_T4_astronaut_32", "gaussian_T4_astronaut_8"}
    for name, x in photos.items():
        b = image_report.baseline_bits(x)
        assert rep["photos"][name]["png"] == b["png"] and 0 < b["webp"] < 24
    assert json.loads((tmp_path / "image_report.json").read_text())["threads"] == 1
    assert "chelsea" in (tmp_path / "image_report.txt").read_text()
