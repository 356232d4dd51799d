"""Real 8-bit RGB photos that ship inside scikit-image and scikit-learn, split by photo.

Nothing is downloaded: every photo here is inside the installed wheels (``skimage.data`` loads
them from its package directory; ``sklearn.datasets.load_sample_image`` likewise). The split is
by photo, never by patch, and fixed in the code:

* :data:`TRAIN_PHOTOS`: coffee, rocket, hubble_deep_field, retina, immunohistochemistry,
  motorcycle_left, motorcycle_right (scikit-image), flower (scikit-learn);
* :data:`TEST_PHOTOS`: astronaut, chelsea (scikit-image), china (scikit-learn).

Training draws random 32 x 32 crops with random horizontal flips (:func:`random_crops`): a photo
uniformly, then a position uniformly inside it. Every array here is uint8 in the layout the models
use, channels first: a photo is (3, H, W), a batch of crops (B, 3, 32, 32).

Example
-------
>>> x = photo("astronaut")                 # (3, 512, 512) uint8
>>> crops = random_crops(16, np.random.default_rng(0))   # (16, 3, 32, 32) uint8, training photos
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["TRAIN_PHOTOS", "TEST_PHOTOS", "PHOTOS", "photo", "photos", "random_crops", "center_crop"]

#: photos the models are trained on (crops of them)
TRAIN_PHOTOS = ("coffee", "rocket", "hubble_deep_field", "retina", "immunohistochemistry",
                "motorcycle_left", "motorcycle_right", "flower")
#: held-out photos every figure is measured on (whole photos)
TEST_PHOTOS = ("astronaut", "chelsea", "china")
PHOTOS = TRAIN_PHOTOS + TEST_PHOTOS

_SKLEARN = {"china": "china.jpg", "flower": "flower.jpg"}


@functools.lru_cache(maxsize=None)
def _load(name: str) -> np.ndarray:
    if name in _SKLEARN:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(_SKLEARN[name])
    elif name in ("motorcycle_left", "motorcycle_right"):
        import skimage.data

        left, right, _ = skimage.data.stereo_motorcycle()
        img = left if name == "motorcycle_left" else right
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:  # pragma: no cover - guards the wheels
        raise RuntimeError(f"photo {name!r} is {img.dtype} {img.shape}, expected uint8 (H, W, 3)")
    out = np.ascontiguousarray(img.transpose(2, 0, 1))
    out.setflags(write=False)
    return out


def photo(name: str) -> np.ndarray:
    """The photo ``name`` (one of :data:`PHOTOS`) as uint8 (3, H, W), read-only."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; photos: {', '.join(PHOTOS)}")
    return _load(name)


def photos(split: str = "test") -> dict[str, np.ndarray]:
    """``{name: photo}`` of the ``"train"`` or ``"test"`` split, each uint8 (3, H, W)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return {n: photo(n) for n in (TRAIN_PHOTOS if split == "train" else TEST_PHOTOS)}


def center_crop(x: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` crop of a photo (3, H, W) (uint8 (3, size, size), a copy)."""
    x = np.asarray(x)
    if x.ndim != 3 or not (1 <= size <= min(x.shape[1:])):
        raise ValueError(f"size must be in [1, {min(x.shape[1:]) if x.ndim == 3 else 0}] for a (3, H, W) photo")
    h0, w0 = (x.shape[1] - size) // 2, (x.shape[2] - size) // 2
    return np.ascontiguousarray(x[:, h0 : h0 + size, w0 : w0 + size])


def random_crops(num: int, rng: np.random.Generator, size: int = 32, names=TRAIN_PHOTOS) -> np.ndarray:
    """``num`` random ``size`` x ``size`` crops of the photos ``names``, each flipped left-right
    with probability 1/2: uint8 (num, 3, size, size). A photo is drawn uniformly, then a position
    uniformly inside it, all from ``rng``."""
    if int(num) != num or num < 1 or int(size) != size or size < 1:
        raise ValueError(f"num and size must be positive integers, got {num!r}, {size!r}")
    imgs = [photo(n) for n in names]
    which = rng.integers(0, len(imgs), num)
    out = np.empty((num, 3, size, size), dtype=np.uint8)
    flips = rng.random(num) < 0.5
    for k in range(num):  # one slice per crop; the pixels are copied by numpy
        img = imgs[which[k]]
        h0 = rng.integers(0, img.shape[1] - size + 1)
        w0 = rng.integers(0, img.shape[2] - size + 1)
        c = img[:, h0 : h0 + size, w0 : w0 + size]
        out[k] = c[:, :, ::-1] if flips[k] else c
    return out
