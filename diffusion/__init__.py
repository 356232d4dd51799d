"""diffusion: Gaussian (VDM) and uniform (UQDM) diffusion hierarchies that compress data with `rcc`.

    import diffusion
    model = diffusion.make(hierarchy="uniform", steps=5)        # or hierarchy="gaussian"
    model = diffusion.load_pretrained("uniform", steps=5)       # shipped EMA checkpoint
    blob = diffusion.codec.encode(model, x, channel="uq").blob  # x: uint8 (N, 2)
    x_rec = diffusion.codec.decode(blob, model).x
    photo_model = diffusion.load_pretrained("uniform", steps=4, data="images")  # x: uint8 (3, H, W)

Modules: ``data`` (swirl), ``images`` (photos and crops), ``space`` (uint8 <-> model space),
``schedules`` (gamma), ``gaussian`` / ``uniform`` (hierarchies), ``models`` / ``unet``
(denoisers), ``train`` (safetensors checkpoints, the zoo), ``codec`` (the file, encode, decode),
``channels`` (the rcc channel of each step), ``metrics`` (PSNR, sliced Wasserstein, bias),
``report`` / ``image_report``, ``fuzz``, ``cli`` (``rcc-diffusion``, also ``python -m diffusion``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .gaussian import GaussianDiffusion
from .hierarchy import Hierarchy
from .models import FourierMLP
from .schedules import LinearGamma
from .space import DataSpace, image_space, swirl_space
from .uniform import UniformDiffusion
from .unet import UNet

__all__ = [
    "make",
    "load_pretrained",
    "load_checkpoint",
    "demo",
    "Hierarchy",
    "GaussianDiffusion",
    "UniformDiffusion",
    "FourierMLP",
    "UNet",
    "DataSpace",
    "LinearGamma",
]

HIERARCHIES = {"gaussian": GaussianDiffusion, "uniform": UniformDiffusion}


def _check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer (Python or numpy, not bool) in [minimum, maximum],
    else a ValueError naming the argument: no silent ``int()`` truncation of 3.9 or True."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _check_real(name: str, value, positive: bool = False) -> float:
    """``value`` as a float if it is a finite real number (not bool; > 0 if ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


def _check_bool(name: str, value) -> bool:
    """``value`` if it is a bool (Python or numpy), else a ValueError naming the argument."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


DATA = ("swirl", "images")


def make(
    hierarchy: str = "uniform",
    steps: int = 5,
    learned_variance: bool = True,
    learned_schedule: bool = True,
    hidden: int = 512,
    num_layers: int = 2,
    gamma_min: float = -13.3,
    gamma_max: float = 5.0,
    data: str = "swirl",
    channels=(24, 48, 96),
    **kwargs,
) -> Hierarchy:
    """Build a diffusion hierarchy; ``hierarchy`` ("gaussian" | "uniform") is the one switch.

    Parameters
    ----------
    hierarchy : str
        "gaussian" (VDM, discrete time) or "uniform" (UQDM).
    steps : int
        Number of reverse steps T.
    learned_variance : bool
        Learned per-element reverse scale (UQDM) or the fixed one.
    learned_schedule : bool
        Learn gamma's end points (VDM's learned linear schedule) or keep them fixed.
    hidden, num_layers : int
        Swirl: denoiser MLP width and depth (paper: 512 x 2).
    data : str
        "swirl" (2-D points, S = (2,), :class:`FourierMLP`) or "images" (8-bit RGB, S = (3, H, W),
        :class:`UNet`); fixes the data space (:mod:`diffusion.space`).
    channels : (int, int, int)
        Images: the UNet's widths at full, half and quarter resolution (default 24, 48, 96:
        about 0.6 M parameters).
    gamma_min, gamma_max : float
        Initial gamma(0), gamma(1).
    **kwargs
        Passed to the hierarchy (e.g. ``base_variance`` for uniform).

    Raises ValueError naming the argument for a value of the wrong type or range (``steps=3.9``
    or ``steps=True`` are errors, not truncated).
    """
    if not isinstance(hierarchy, str) or hierarchy not in HIERARCHIES:
        raise ValueError(f"hierarchy must be one of {sorted(HIERARCHIES)}, got {hierarchy!r}")
    steps = _check_int("steps", steps, minimum=1)
    learned_variance = _check_bool("learned_variance", learned_variance)
    learned_schedule = _check_bool("learned_schedule", learned_schedule)
    hidden = _check_int("hidden", hidden, minimum=1)
    num_layers = _check_int("num_layers", num_layers, minimum=1)
    gamma_min, gamma_max = _check_real("gamma_min", gamma_min), _check_real("gamma_max", gamma_max)
    if not gamma_min < gamma_max:
        raise ValueError(f"gamma_min must be below gamma_max, got {gamma_min!r} and {gamma_max!r}")
    if not isinstance(data, str) or data not in DATA:
        raise ValueError(f"data must be one of {DATA}, got {data!r}")
    if data == "swirl":
        den = FourierMLP(dim=2, hidden=hidden, num_layers=num_layers, learned_scale=learned_variance,
                         gamma_range=(gamma_min, gamma_max))
        space = swirl_space()
    else:
        if not isinstance(channels, (tuple, list)) or len(channels) != 3:
            raise ValueError(f"channels must be three widths, got {channels!r}")
        channels = tuple(_check_int("channels", c, minimum=1, maximum=1024) for c in channels)
        den = UNet(channels, learned_scale=learned_variance, gamma_range=(gamma_min, gamma_max))
        space = image_space()
    sched = LinearGamma(gamma_min, gamma_max, learned=learned_schedule)
    return HIERARCHIES[hierarchy](
        steps, learned_variance=learned_variance, denoiser=den, schedule=sched, data_mean=space.mean,
        data_std=space.std, **kwargs
    )


def load_checkpoint(path, **kwargs):
    """Load a model from a checkpoint file (shipped EMA export or training state); see train."""
    from .train import load_model

    return load_model(path, **kwargs)


def load_pretrained(hierarchy: str = "uniform", steps: int = 5, data: str = "swirl"):
    """Load a shipped checkpoint of (data, hierarchy, T) from ``diffusion/checkpoints`` (EMA weights, eval mode).

    ``steps`` must be an int (numpy ints too); a hierarchy or T that does not ship is a
    ValueError listing what ships (:func:`diffusion.train.shipped_checkpoints`).
    """
    from .train import load_pretrained as _lp

    return _lp(hierarchy, steps, data)


def demo(*args, **kwargs):
    """Compress the seed-0 swirl set with both hierarchies from the shipped checkpoints; see
    :func:`diffusion.report.demo`."""
    from .report import demo as _demo

    return _demo(*args, **kwargs)
