"""Diffusion on photos: the data split, the data space, the UNet denoiser protocol, the zoo, and
lossless image files with both hierarchies (bit-exact in a fresh process)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import diffusion
import diffusion.train
import rcc
from diffusion import codec
from diffusion.images import TEST_PHOTOS, TRAIN_PHOTOS, center_crop, photo, random_crops
from diffusion.space import DataSpace, image_space, swirl_space


def test_split_is_by_photo_and_photos_ship_in_the_wheels():
    assert len(TEST_PHOTOS) >= 3 and not set(TEST_PHOTOS) & set(TRAIN_PHOTOS)
    for name in TRAIN_PHOTOS + TEST_PHOTOS:
        x = photo(name)
        assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[0] == 3 and min(x.shape[1:]) >= 256
    with pytest.raises(ValueError, match="unknown photo"):
        photo("lena")


def test_random_crops_are_seeded_flipped_training_crops():
    a = random_crops(64, np.random.default_rng(5), size=16)
    b = random_crops(64, np.random.default_rng(5), size=16)
    assert a.shape == (64, 3, 16, 16) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    # every crop is a (possibly flipped) window of one training photo
    crop = a[0]
    found = False
    for name in TRAIN_PHOTOS:
        img = photo(name)
        for c in (crop, crop[:, :, ::-1]):
            win = np.lib.stride_tricks.sliding_window_view(img[0], (16, 16))
            hits = np.argwhere((win == c[0]).all(axis=(2, 3)))
            found |= any(np.array_equal(img[:, i:i + 16, j:j + 16], c) for i, j in hits)
    assert found


def test_data_space_shapes_and_round_trip():
    s = image_space()
    assert s.event_rank == 3 and s.describe() == "(3, *, *)"
    assert s.check_shape((2, 3, 5, 7)) == (2, 3, 5, 7)
    for bad in [(3, 5, 7), (2, 4, 5, 7), (0, 3, 5, 7), (2, 3, 0, 7)]:
        with pytest.raises(ValueError, match="shape"):
            s.check_shape(bad)
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 5, 7), dtype=np.uint8)
    f = s.to_model(x)
    assert float(f.min()) >= -1 and float(f.max()) <= 1
    np.testing.assert_array_equal(s.to_uint8(f), x)
    # the flat grid is the value grid broadcast to the data and flattened
    full = s.value_grid().expand(2, 3, 5, 7, 256).reshape(-1, 256)
    torch.testing.assert_close(s.flat_grid(x.shape, 17, 101), full[17:101], rtol=0, atol=0)
    assert swirl_space().event_rank == 1
    with pytest.raises(ValueError):
        DataSpace([1.0], [0.0])


@pytest.mark.parametrize("learned", [True, False])
def test_denoiser_protocol_for_both_networks(learned):
    """forward(z, gamma) -> (eps_hat, scale or None), shapes of z, scale positive and 1 at init."""
    for den, z in [(diffusion.FourierMLP(dim=2, hidden=16, learned_scale=learned), torch.randn(5, 2)),
                   (diffusion.UNet((8, 8, 8), learned_scale=learned), torch.randn(2, 3, 9, 13))]:
        eps, scale = den(z, torch.zeros(z.shape[0]))
        assert eps.shape == z.shape
        torch.testing.assert_close(eps, z)  # zero-initialised head: eps_hat = z
        if learned:
            assert scale.shape == z.shape
            torch.testing.assert_close(scale, torch.ones_like(z))
        else:
            assert scale is None
        eps2, _ = den(z, 0.5)  # a scalar gamma broadcasts
        assert eps2.shape == z.shape


def test_unet_is_local_away_from_the_borders():
    """No normalisation layer: a pixel's output depends on its receptive field only, so a crop and
    the whole image agree far from the crop's border (float64, trained-like random weights)."""
    torch.manual_seed(0)
    net = diffusion.UNet((8, 8, 8)).double()
    for p in net.parameters():
        p.data.normal_(0, 0.1)
    z = torch.randn(1, 3, 192, 192, dtype=torch.float64)
    full = net(z, torch.zeros(1, dtype=torch.float64))[0]
    crop = net(z[:, :, 32:160, 32:160], torch.zeros(1, dtype=torch.float64))[0]  # receptive field < 56 px
    torch.testing.assert_close(crop[:, :, 56:72, 56:72], full[:, :, 88:104, 88:104], rtol=0, atol=1e-12)


def test_zoo_ships_image_checkpoints():
    have = diffusion.train.shipped_checkpoints("images")
    assert ("uniform", 4) in have and ("gaussian", 4) in have
    m = diffusion.load_pretrained("uniform", 4, data="images")
    assert m.config()["data"] == "images" and m.event_rank == 3
    assert 2e5 <= sum(p.numel() for p in m.parameters()) <= 1e6
    assert m.info["command"].startswith("rcc-diffusion train --data images")
    with pytest.raises(ValueError, match="no shipped images checkpoint"):
        diffusion.load_pretrained("uniform", 99, data="images")


@pytest.fixture(scope="module")
def image_models():
    return {h: diffusion.load_pretrained(h, 4, data="images") for h in ("uniform", "gaussian")}


X8 = center_crop(photo("astronaut"), 8)

_FRESH = """
import sys, numpy as np, diffusion
from diffusion import codec
from diffusion.images import photo, center_crop
m = diffusion.load_pretrained(sys.argv[1], 4, data="images")
res = codec.encode(m, center_crop(photo("astronaut"), 8), seed=3)
sys.stdout.buffer.write(res.blob)
"""


@pytest.mark.parametrize("hierarchy", ["uniform", "gaussian"])
def test_image_round_trip_is_bit_exact_across_processes(image_models, hierarchy):
    m = image_models[hierarchy]
    blob = subprocess.run([sys.executable, "-c", _FRESH, hierarchy], capture_output=True, check=True).stdout
    res = codec.encode(m, X8, seed=3)
    assert res.blob == blob and res.shape == (1, 3, 8, 8)
    out = codec.decode(blob, m)
    assert out.complete and out.x.shape == (1, 3, 8, 8)
    np.testing.assert_array_equal(out.x[0], X8)
    part = codec.decode(blob[: res.prefix_bytes[1]], m, reconstruct=True)
    np.testing.assert_array_equal(part.z, res.latents[1])
    assert part.denoised.shape == (1, 3, 8, 8)


def test_image_files_refuse_wrong_models_and_corruption(image_models):
    m = image_models["uniform"]
    res = codec.encode(m, X8, seed=0)
    with pytest.raises(rcc.DecodeError, match="hierarchy"):
        codec.decode(res.blob, image_models["gaussian"])
    swirl = diffusion.load_pretrained("uniform", 5)
    with pytest.raises(rcc.DecodeError, match="shape"):
        codec.decode(res.blob, swirl)
    bad = bytearray(res.blob)
    bad[len(bad) // 2] ^= 1
    with pytest.raises(rcc.DecodeError):
        codec.decode(bytes(bad), m)
    with pytest.raises(rcc.DecodeError, match="max_elements"):
        codec.decode(res.blob, m, max_elements=100)
    with pytest.raises(ValueError, match="shape"):
        codec.encode(m, np.zeros((1, 4, 8, 8), np.uint8))


@pytest.mark.parametrize("hierarchy", ["uniform", "gaussian"])
def test_a_few_training_steps_on_tiny_crops(tmp_path, hierarchy):
    model, info = diffusion.train.train(hierarchy, steps=2, iters=3, batch_size=2, data="images", crop_size=8,
                                        warmup=1, progress=False, channels=(4, 4, 4),
                                        export_path=tmp_path / "m.safetensors")
    assert np.isfinite(info["nelbo_bpd"]) and info["iterations"] == 3 and info["data"] == "images"
    back = diffusion.load_checkpoint(tmp_path / "m.safetensors")
    assert back.config() == model.config()


def test_thread_count_changes_nothing_but_time(image_models):
    """The float64 passes give the same bits with one thread or two, so a file made with any
    thread count decodes with any other."""
    m = image_models["uniform"]
    x = photo("chelsea")[:, 60:108, 150:190]  # 48 x 40: several rows of convolution work per thread
    one = codec.encode(m, x, seed=5, threads=1)
    two = codec.encode(m, x, seed=5, threads=2)
    assert one.blob == two.blob
    np.testing.assert_array_equal(codec.decode(one.blob, m, threads=2).x[0], x)
    with pytest.raises(ValueError, match="threads"):
        codec.encode(m, x, threads=0)
