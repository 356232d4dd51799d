"""Golden diffusion files: the bytes of a tiny file per channel family are pinned, so a change of
the diffusion file format (docs/format.md) or of anything that feeds it (the shared randomness,
the rcc channels, the model's float64 priors) is always deliberate.

The files are the first 16 points of the seed-0 swirl set, seed 0, with the shipped T = 3
checkpoints: uniform through the ``uq`` channel (one rcc.UQStream) and Gaussian through ``pfr``
(rcc.compress per step). Regenerate them only on purpose, after a deliberate format change
(bump ``codec.VERSION`` and say so in the commit)::

    RCC_REGEN_GOLDEN=1 python -m pytest tests/test_diffusion_golden.py
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import diffusion
from diffusion import codec, data
from diffusion.images import photo

torch.set_num_threads(1)

GOLDEN = Path(__file__).parent / "golden"
CASES = {"uniform": "uq", "gaussian": "pfr"}
POINTS, STEPS, SEED = 16, 3, 0


def _path(hierarchy: str) -> Path:
    return GOLDEN / f"swirl16_{hierarchy}_T{STEPS}_{CASES[hierarchy]}.rccd"


@pytest.mark.parametrize("hierarchy", sorted(CASES))
def test_golden_diffusion_file(hierarchy):
    model = diffusion.load_pretrained(hierarchy, STEPS)
    x = data.swirl()[:POINTS]
    res = codec.encode(model, x, channel=CASES[hierarchy], seed=SEED)
    path = _path(hierarchy)
    if os.environ.get("RCC_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(res.blob)
        pytest.skip(f"regenerated {path.name} ({len(res.blob)} bytes)")
    golden = path.read_bytes()
    assert golden[:2] == codec.MAGIC and golden[2] >> 4 == codec.VERSION
    assert res.blob == golden, "the diffusion bitstream changed: deliberate? see this module's docstring"
    out = codec.decode(golden, model)
    assert out.complete and out.steps_decoded == STEPS
    np.testing.assert_array_equal(out.x, x)
    np.testing.assert_array_equal(out.z, res.latents[-1])
    for k, n in enumerate(res.prefix_bytes, start=1):  # every prefix of the golden file decodes its steps
        np.testing.assert_array_equal(codec.decode(golden[:n], model).z, res.latents[k - 1])


IMAGE_STEPS = 4


def _image_path(hierarchy: str) -> Path:
    return GOLDEN / f"chelsea10x12_{hierarchy}_T{IMAGE_STEPS}_{CASES[hierarchy]}.rccd"


@pytest.mark.parametrize("hierarchy", sorted(CASES))
def test_golden_image_file(hierarchy):
    model = diffusion.load_pretrained(hierarchy, IMAGE_STEPS, data="images")
    x = photo("chelsea")[:, 100:110, 200:212]
    res = codec.encode(model, x, channel=CASES[hierarchy], seed=SEED)
    path = _image_path(hierarchy)
    if os.environ.get("RCC_REGEN_GOLDEN") == "1":
        path.write_bytes(res.blob)
        pytest.skip(f"regenerated {path.name} ({len(res.blob)} bytes)")
    golden = path.read_bytes()
    assert res.blob == golden, "the diffusion bitstream changed: deliberate? see this module's docstring"
    assert codec.read_header(golden)["shape"] == (1, 3, 10, 12)
    out = codec.decode(golden, model)
    assert out.complete
    np.testing.assert_array_equal(out.x[0], x)
    part = codec.decode(golden[: res.prefix_bytes[1]], model)
    np.testing.assert_array_equal(part.z, res.latents[1])
