"""diffusion: Gaussian (VDM) and uniform (UQDM) diffusion hierarchies that compress data with `rcc`.

    import diffusion
    model = diffusion.make(hierarchy="uniform", steps=5)        # or hierarchy="gaussian"
    model = diffusion.load_pretrained("uniform", steps=5)       # shipped EMA checkpoint
    blob = diffusion.codec.encode(model, x, channel="uq")       # x: uint8 (N, 2)
    x_rec = diffusion.codec.decode(blob, model).x

Modules: ``data`` (swirl), ``schedules`` (gamma), ``gaussian`` / ``uniform`` (hierarchies),
``models`` (denoiser), ``train``, ``codec``, ``report``, ``cli`` (``rcc-diffusion``).
"""
from __future__ import annotations

from .gaussian import GaussianDiffusion
from .hierarchy import Hierarchy
from .models import FourierMLP
from .schedules import LinearGamma
from .uniform import UniformDiffusion

__all__ = [
    "make",
    "load_pretrained",
    "load_checkpoint",
    "demo",
    "Hierarchy",
    "GaussianDiffusion",
    "UniformDiffusion",
    "FourierMLP",
    "LinearGamma",
]

HIERARCHIES = {"gaussian": GaussianDiffusion, "uniform": UniformDiffusion}


def make(
    hierarchy: str = "uniform",
    steps: int = 5,
    learned_variance: bool = True,
    learned_schedule: bool = True,
    hidden: int = 512,
    num_layers: int = 2,
    gamma_min: float = -13.3,
    gamma_max: float = 5.0,
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
        Denoiser MLP width and depth (paper: 512 x 2).
    gamma_min, gamma_max : float
        Initial gamma(0), gamma(1).
    **kwargs
        Passed to the hierarchy (e.g. ``base_variance`` for uniform).
    """
    if hierarchy not in HIERARCHIES:
        raise ValueError(f"hierarchy must be one of {sorted(HIERARCHIES)}, got {hierarchy!r}")
    den = FourierMLP(
        dim=2,
        hidden=hidden,
        num_layers=num_layers,
        learned_scale=learned_variance,
        gamma_range=(gamma_min, gamma_max),
    )
    sched = LinearGamma(gamma_min, gamma_max, learned=learned_schedule)
    return HIERARCHIES[hierarchy](
        steps, learned_variance=learned_variance, denoiser=den, schedule=sched, **kwargs
    )


def load_checkpoint(path, **kwargs):
    """Load a model from a checkpoint file (shipped EMA export or training state); see train."""
    from .train import load_model

    return load_model(path, **kwargs)


def load_pretrained(hierarchy: str = "uniform", steps: int = 5):
    """Load a shipped checkpoint from ``diffusion/checkpoints`` (EMA weights, eval mode)."""
    from .train import load_pretrained as _lp

    return _lp(hierarchy, steps)


def demo(*args, **kwargs):
    """Compress the seed-0 swirl set with both hierarchies from the shipped checkpoints; see
    :func:`diffusion.report.demo`."""
    from .report import demo as _demo

    return _demo(*args, **kwargs)
