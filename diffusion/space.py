"""The data space of a model: 8-bit values <-> the model's standardised space, and the value grid.

Data is uint8 of shape (B, *S): B coding units' leading batch, S the shape of one example the
denoiser sees (the ``coding_rank`` idea of tensorflow-compression): a swirl point is S = (2,), a
photo S = (3, H, W) with H and W free. The constants ``mean`` and ``std`` are float64 tensors
that broadcast against S: (2,) for swirl (per coordinate), (3, 1, 1) for images (per colour
channel), so their rank is the event rank.

The model works on ``f = (x - mean) / std``; the 256 values of each element sit at
``(v - mean) / std``, v = 0..255 (:meth:`DataSpace.value_grid`), where VDM's categorical
``p(x | z_0)`` puts its mass (Kingma et al., 2021, Sec. 3.3).
"""
from __future__ import annotations

import numpy as np
import torch

from . import data as _data

__all__ = ["DataSpace", "swirl_space", "image_space"]


class DataSpace:
    """uint8 data of shape (B, *S) <-> standardised float tensors of the same shape.

    Parameters
    ----------
    mean, std : array-like, float64
        Broadcastable against S (one entry per fixed axis, 1 on a free axis such as an image's
        height and width); ``std > 0``.
    """

    def __init__(self, mean, std):
        mean = torch.as_tensor(np.asarray(mean, dtype=np.float64))
        std = torch.as_tensor(np.asarray(std, dtype=np.float64))
        if mean.ndim < 1 or mean.shape != std.shape or not bool((std > 0).all()):
            raise ValueError("mean and std must have one shape of rank >= 1, with std > 0")
        self.mean, self.std = mean, std

    @property
    def event_rank(self) -> int:
        """Rank of S (1 for swirl points, 3 for images)."""
        return self.mean.ndim

    def describe(self) -> str:
        """S as text, free axes as ``*``: ``(2,)`` or ``(3, *, *)``."""
        return "(" + ", ".join("*" if n == 1 else str(n) for n in self.mean.shape) + ("," if self.event_rank == 1 else "") + ")"

    def check_shape(self, shape) -> tuple[int, ...]:
        """``shape`` (B, *S) as a tuple if it fits this space (B >= 1, every axis >= 1, fixed axes
        equal), else a ValueError that names the expected shape."""
        shape = tuple(int(n) for n in shape)
        fixed = tuple(self.mean.shape)
        ok = len(shape) == 1 + len(fixed) and min(shape) >= 1
        ok = ok and all(m == 1 or n == m for n, m in zip(shape[1:], fixed))
        if not ok:
            raise ValueError(f"data must have shape (B, *S) with S = {self.describe()}, got {shape}")
        return shape

    def to_model(self, x, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """uint8 values (B, *S) -> ``(x - mean) / std`` of the same shape in ``dtype``."""
        x = np.asarray(x)
        x = torch.as_tensor(x if x.flags.writeable else x.copy())  # torch refuses read-only memory
        self.check_shape(x.shape)
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise ValueError(f"data must hold integer values 0..255, got dtype {x.dtype}")
        if int(x.min()) < 0 or int(x.max()) > 255:
            raise ValueError("data must hold values in 0..255")
        return ((x.to(torch.float64) - self.mean) / self.std).to(dtype)

    def to_uint8(self, f: torch.Tensor) -> np.ndarray:
        """Standardised values -> the nearest 8-bit values (rounded and clipped), uint8."""
        v = f.detach().to(torch.float64) * self.std + self.mean
        return np.clip(np.rint(v.cpu().numpy()), 0, 255).astype(np.uint8)

    def value_grid(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Standardised positions of the 256 values, shape ``mean.shape + (256,)``, in ``dtype``."""
        v = torch.arange(_data.VOCAB_SIZE, dtype=torch.float64)
        return ((v - self.mean[..., None]) / self.std[..., None]).to(dtype)

    def flat_grid(self, shape, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of the value grid broadcast to data of ``shape`` (B, *S) and
        flattened in C order: float64 (stop - start, 256). Lets a coder walk a large image in
        blocks of elements without materialising (B * prod S, 256)."""
        idx = np.arange(start, stop)
        coords = np.unravel_index(idx, tuple(shape))[1:]
        sel = tuple(torch.as_tensor(c if m > 1 else np.zeros_like(c)) for c, m in zip(coords, self.mean.shape))
        mean, std = self.mean[sel], self.std[sel]
        v = torch.arange(_data.VOCAB_SIZE, dtype=torch.float64)
        return (v[None, :] - mean[:, None]) / std[:, None]


def swirl_space() -> DataSpace:
    """Swirl points, S = (2,): per-coordinate mean and std of the seed-0 set (:func:`diffusion.data.swirl_stats`)."""
    return DataSpace(*_data.swirl_stats())


#: 8-bit images are mapped to [-1, 1]: f = (x - 127.5) / 127.5 (VDM's convention)
IMAGE_MEAN, IMAGE_STD = 127.5, 127.5


def image_space(channels: int = 3) -> DataSpace:
    """Images, S = (channels, H, W) with H, W free: ``f = (x - 127.5) / 127.5``, in [-1, 1]."""
    return DataSpace(np.full((channels, 1, 1), IMAGE_MEAN), np.full((channels, 1, 1), IMAGE_STD))
