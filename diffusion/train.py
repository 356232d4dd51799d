"""Training on swirl (CPU), resumable checkpoints with EMA weights, and the shipped exports.

``rcc-diffusion train`` calls :func:`train`. A run is seeded (model initialisation, batches, the
noise of the NELBO estimate all come from ``seed``), logs through a tqdm progress bar, and saves
a *training state* (model, EMA and optimiser state, iteration, generator state) every
``save_every`` iterations, from which ``--resume`` continues the same run bit for bit.

:func:`export` writes the small file that ships in ``diffusion/checkpoints``: the EMA weights only,
large tensors in float16 and small ones (the schedule) in float64, plus the config and the command
that trained it. :func:`load_model` loads either kind of file into a float32 model in eval mode;
float16 -> float32 is exact, so loading is deterministic.

Objective: the one-step-per-example unbiased NELBO estimate of :meth:`Hierarchy.loss` (bits/dim),
minimised with Adam, linear warm-up then cosine decay, gradient clipping at norm 1; EMA decay
0.999 (with the usual ``(1 + n) / (10 + n)`` warm-up).
"""
from __future__ import annotations

import copy
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import data as _data

__all__ = ["train", "export", "load_model", "load_pretrained", "checkpoint_path", "EXPORT_FORMAT"]

EXPORT_FORMAT = "rcc-diffusion-ema/1"
STATE_FORMAT = "rcc-diffusion-train/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


def checkpoint_path(hierarchy: str, steps: int) -> Path:
    """Path of the shipped checkpoint for (hierarchy, T)."""
    return CHECKPOINT_DIR / f"{hierarchy}_T{int(steps)}.pt"


class EMA:
    """Exponential moving average of a model's parameters (buffers are copied)."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay must be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        params = dict(model.named_parameters())
        for k, v in model.state_dict().items():
            if k in params:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:  # buffers (standardisation constants, frequencies) are copied, not averaged
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay = state["decay"]
        self.num_updates = state["num_updates"]
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


def _lr_at(it: int, iters: int, lr: float, warmup: int) -> float:
    if it < warmup:
        return lr * (it + 1) / warmup
    frac = (it - warmup) / max(1, iters - warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train(
    hierarchy: str = "uniform",
    steps: int = 5,
    iters: int = 6000,
    batch_size: int = 512,
    lr: float = 2e-3,
    seed: int = 0,
    learned_variance: bool = True,
    learned_schedule: bool = True,
    state_path: str | os.PathLike | None = None,
    resume: bool = False,
    export_path: str | os.PathLike | None = None,
    ema_decay: float = 0.999,
    warmup: int = 200,
    save_every: int = 1000,
    pool_sets: int = 100,
    threads: int = 1,
    schedule_lr_mult: float = 10.0,
    progress: bool = True,
    command: str | None = None,
    **model_kwargs,
):
    """Train a hierarchy on swirl data drawn with seeds 1..pool_sets; returns (model_ema, info).

    Parameters
    ----------
    hierarchy, steps, learned_variance, learned_schedule, **model_kwargs
        Passed to :func:`diffusion.make`.
    iters, batch_size, lr, warmup, ema_decay
        Optimisation: Adam, ``warmup`` linear warm-up iterations then cosine decay to 5 % of lr.
    schedule_lr_mult : float
        Learning-rate multiplier of gamma's two end points (they live on a scale of ~10).
    seed : int
        Seeds initialisation, batches and the noise of the loss.
    state_path : path, optional
        Where the resumable training state is saved every ``save_every`` iterations and at the end.
    resume : bool
        Continue from ``state_path`` if it exists (same arguments expected).
    export_path : path, optional
        Write the shipped EMA export (float16) there at the end.
    threads : int
        ``torch.set_num_threads`` for the run.

    Returns the EMA model (float32, eval mode) and a dict with the final EMA NELBO on the seed-0
    set (bits/dim), the iteration count and wall time.
    """
    from . import make

    for name, v in (("iters", iters), ("batch_size", batch_size), ("steps", steps)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    model = make(
        hierarchy,
        steps=steps,
        learned_variance=learned_variance,
        learned_schedule=learned_schedule,
        **model_kwargs,
    )
    ema = EMA(model, ema_decay)
    sched_params = list(model.schedule.parameters())
    sched_ids = {id(q) for q in sched_params}
    groups = [{"params": [q for q in model.parameters() if id(q) not in sched_ids], "mult": 1.0}]
    if sched_params:
        groups.append({"params": sched_params, "mult": float(schedule_lr_mult)})
    opt = torch.optim.Adam(groups, lr=lr)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    start, history, elapsed = 0, [], 0.0
    if resume and state_path is not None and Path(state_path).exists():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if st.get("format") != STATE_FORMAT or st["config"] != model.config():
            raise ValueError(f"{state_path} holds a different run (config {st.get('config')})")
        model.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["generator"])
        start, history, elapsed = st["iteration"], st["history"], st.get("elapsed", 0.0)
    pool = torch.as_tensor(_data.swirl_pool(pool_sets, first_seed=1).astype(np.int64))

    def save_state(it):
        if state_path is None:
            return
        Path(state_path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(state_path) + ".tmp")
        torch.save(
            {
                "format": STATE_FORMAT,
                "config": model.config(),
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "iteration": it,
                "history": history,
                "elapsed": elapsed + time.time() - t0,
                "train_args": dict(iters=iters, batch_size=batch_size, lr=lr, seed=seed, warmup=warmup, schedule_lr_mult=schedule_lr_mult),
            },
            tmp,
        )
        os.replace(tmp, state_path)

    model.train()
    t0 = time.time()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=iters, initial=start, desc=f"{hierarchy} T={steps}", file=sys.stderr)
    running = None
    for it in range(start, iters):
        idx = torch.randint(0, pool.shape[0], (batch_size,), generator=gen)
        for g in opt.param_groups:
            g["lr"] = _lr_at(it, iters, lr, warmup) * g["mult"]
        opt.zero_grad(set_to_none=True)
        loss, metrics = model.loss(pool[idx].numpy(), gen)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at iteration {it}: {metrics}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        running = metrics["bpd"] if running is None else 0.98 * running + 0.02 * metrics["bpd"]
        if (it + 1) % 50 == 0:
            history.append((it + 1, running))
            if bar is not None:
                bar.set_postfix(bpd=f"{running:.3f}", g0=f"{model.schedule.endpoints()[0]:.2f}")
        if bar is not None:
            bar.update(1)
        if (it + 1) % save_every == 0 and it + 1 < iters:
            save_state(it + 1)
    if bar is not None:
        bar.close()
    save_state(iters)
    ema_model = copy.deepcopy(model)
    ema_model.load_state_dict(ema.shadow)
    ema_model.eval()
    with torch.no_grad():
        nelbo = ema_model.nelbo(_data.swirl(), torch.Generator().manual_seed(0))
    info = {
        "nelbo_bpd": nelbo["total"],
        "iterations": iters,
        "wall_seconds": elapsed + time.time() - t0,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "gamma_endpoints": ema_model.schedule.endpoints(),
        "command": command,
    }
    if export_path is not None:
        export(ema_model, export_path, info)
    return ema_model, info


def export(model, path, info: dict | None = None, half: bool = True) -> None:
    """Write the shipped form of ``model``: its weights (float16 if ``half``; tensors with fewer
    than 16 elements, e.g. the schedule, in float64), config and ``info``."""
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if v.dtype.is_floating_point:
            v = v.to(torch.float64) if (v.numel() < 16 or not half) else v.to(torch.float16)
        state[k] = v.clone()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": EXPORT_FORMAT, "config": model.config(), "state": state, "info": info or {}}, path)


def load_model(path, dtype: torch.dtype = torch.float32):
    """Load an export or a training state (its EMA weights) as a model in eval mode.

    Raises ValueError if the file is not one of ours.
    """
    from . import make

    path = Path(path)
    if not path.exists():
        raise ValueError(f"no checkpoint at {path}")
    st = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(st, dict) or st.get("format") not in (EXPORT_FORMAT, STATE_FORMAT):
        raise ValueError(f"{path} is not an rcc-diffusion checkpoint")
    cfg = dict(st["config"])
    hierarchy, steps = cfg.pop("hierarchy"), cfg.pop("steps")
    model = make(hierarchy, steps=steps, **cfg)
    weights = st["state"] if st["format"] == EXPORT_FORMAT else st["ema"]["shadow"]
    own = model.state_dict()
    if set(weights) != set(own):
        raise ValueError(f"{path}: weights do not match the model ({sorted(set(weights) ^ set(own))})")
    model.load_state_dict({k: weights[k].to(own[k].dtype) for k in own})
    model.to(dtype)
    model.eval()
    model.info = st.get("info", {})
    return model


def load_pretrained(hierarchy: str, steps: int):
    """Load the shipped checkpoint ``diffusion/checkpoints/{hierarchy}_T{steps}.pt``."""
    p = checkpoint_path(hierarchy, steps)
    if not p.exists():
        have = sorted(q.name for q in CHECKPOINT_DIR.glob("*.pt"))
        raise ValueError(f"no shipped checkpoint for {hierarchy!r} T={steps}; have {have}")
    return load_model(p)
