"""Training on swirl or photos (CPU), resumable checkpoints with EMA weights, and the shipped exports.

``rcc-diffusion train`` calls :func:`train`. Swirl runs draw batches of points from swirl sets with
seeds 1..pool_sets; image runs (``data="images"``) draw random 32 x 32 crops with flips of the
training photos (:mod:`diffusion.images`; the test photos are never seen). A run is seeded (model initialisation, batches, the
noise of the NELBO estimate all come from ``seed``), logs through a tqdm progress bar, and saves
a *training state* (model, EMA and optimiser state, iteration, generator state) every
``save_every`` iterations, from which ``--resume`` continues the same run bit for bit.

:func:`export` writes the small file that ships in ``diffusion/checkpoints``: the EMA weights only,
large tensors in float16 and small ones (the schedule) in float64, plus the config and the command
that trained it. :func:`load_model` loads either kind of file into a float32 model in eval mode;
float16 -> float32 is exact, so loading is deterministic.

File format (both kinds): a `safetensors <https://github.com/huggingface/safetensors>`_ file, plain
tensors and no pickle, so reading a file never runs code. Its metadata holds one JSON string under
the key ``"rcc-diffusion"`` with ``format`` (``EXPORT_FORMAT`` or ``STATE_FORMAT``) and ``config``
(the arguments of :func:`diffusion.make`); an export adds ``info`` (the training run) and its
tensors are the model's state dict; a training state names its tensors ``model/<key>``,
``ema/<key>``, ``optimizer/<param index>/<name>`` and ``generator`` (torch's uint8 generator
state) and keeps its scalars (iteration, history, EMA decay and count, Adam's param groups) in
the JSON.

Objective: the one-step-per-example unbiased NELBO estimate of :meth:`Hierarchy.loss` (bits/dim),
minimised with Adam, linear warm-up then cosine decay, gradient clipping at norm 1; EMA decay
0.999 (with the usual ``(1 + n) / (10 + n)`` warm-up).
"""
from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import _check_bool, _check_int, _check_real
from . import data as _data

__all__ = ["train", "export", "load_model", "load_pretrained", "checkpoint_path", "shipped_checkpoints",
           "EXPORT_FORMAT", "STATE_FORMAT"]

EXPORT_FORMAT = "rcc-diffusion-ema/2"  # 2: safetensors + JSON metadata (1 was a torch pickle)
STATE_FORMAT = "rcc-diffusion-train/2"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
SUFFIX = ".safetensors"
_META_KEY = "rcc-diffusion"
#: The arguments of :func:`diffusion.make` a checkpoint's config may hold.
_CONFIG_KEYS = {"hierarchy", "steps", "learned_variance", "learned_schedule", "hidden", "num_layers",
                "base_variance", "data", "channels"}


def _zoo_dir(data: str) -> Path:
    if data not in ("swirl", "images"):
        raise ValueError(f"data must be 'swirl' or 'images', got {data!r}")
    return CHECKPOINT_DIR if data == "swirl" else CHECKPOINT_DIR / data


def checkpoint_path(hierarchy: str, steps: int, data: str = "swirl") -> Path:
    """Path of the shipped checkpoint for (data, hierarchy, T): ``checkpoints/{hierarchy}_T{steps}.safetensors``
    for swirl, ``checkpoints/images/{hierarchy}_T{steps}.safetensors`` for photos (the model zoo)."""
    return _zoo_dir(data) / f"{hierarchy}_T{_check_int('steps', steps)}{SUFFIX}"


def shipped_checkpoints(data: str = "swirl") -> list[tuple[str, int]]:
    """The (hierarchy, T) pairs that ship in the zoo for ``data`` ("swirl" or "images"), sorted."""
    out = []
    for p in _zoo_dir(data).glob(f"*_T*{SUFFIX}"):
        h, _, t = p.name[: -len(SUFFIX)].partition("_T")
        if t.isdigit():
            out.append((h, int(t)))
    return sorted(out)


def _write(path, tensors: dict, meta: dict) -> None:
    """Write ``tensors`` (name -> tensor) and ``meta`` (JSON-able dict) as one safetensors file,
    atomically (a temporary file renamed over ``path``)."""
    from safetensors.torch import save

    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint metadata must be JSON-serialisable with finite numbers: {exc}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, metadata={_META_KEY: text})
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _read(path) -> tuple[dict, dict]:
    """Read a file written by :func:`_write`: (tensors, meta). Plain tensors and JSON only (no
    pickle: nothing in the file can run). ValueError naming the file and the problem otherwise."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise ValueError(f"no checkpoint at {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a checkpoint file")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            text = (f.metadata() or {}).get(_META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise ValueError(
            f"{path} is not an rcc-diffusion checkpoint: not a safetensors file ({exc}); "
            "pickled (.pt) checkpoints are refused because loading them can run code"
        ) from None
    if text is None:
        raise ValueError(f"{path} is not an rcc-diffusion checkpoint: no {_META_KEY!r} metadata")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: bad checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") not in (EXPORT_FORMAT, STATE_FORMAT):
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path} is not an rcc-diffusion checkpoint (format {found!r}; this reader knows "
                         f"{EXPORT_FORMAT!r} and {STATE_FORMAT!r})")
    return tensors, meta


def _model_from_config(path, cfg, num_elements: int):
    """Build the model a checkpoint's ``cfg`` describes (validated; its size bounded by the
    ``num_elements`` the file holds, so a crafted config cannot make us allocate more)."""
    from . import make

    if not isinstance(cfg, dict) or not {"hierarchy", "steps"} <= set(cfg) <= _CONFIG_KEYS:
        raise ValueError(f"{path}: bad model config {cfg!r} (keys must be among {sorted(_CONFIG_KEYS)})")
    cfg = dict(cfg)
    # the MLP's hidden layers alone hold num_layers * hidden biases and (num_layers - 1) * hidden^2
    # weights; every one of them must be in the file
    hidden, layers = cfg.get("hidden", 512), cfg.get("num_layers", 2)
    if cfg.get("data", "swirl") == "swirl" and isinstance(hidden, int) and isinstance(layers, int) and hidden > 0 and layers > 0:
        if (layers - 1) * hidden * hidden + layers * hidden > num_elements:
            raise ValueError(f"{path}: the config (hidden={hidden}, num_layers={layers}) needs more weights "
                             f"than the {num_elements} the file holds")
    # the UNet's middle blocks alone hold 4 * 9 * c2^2 weights
    ch = cfg.get("channels")
    if isinstance(ch, list) and len(ch) == 3 and all(isinstance(c, int) and 0 < c <= 1024 for c in ch):
        if 36 * ch[2] * ch[2] > num_elements:
            raise ValueError(f"{path}: the config (channels={ch}) needs more weights than the {num_elements} the file holds")
    elif ch is not None:
        raise ValueError(f"{path}: bad model config: channels must be three ints in [1, 1024], got {ch!r}")
    try:
        return make(cfg.pop("hierarchy"), steps=cfg.pop("steps"), **cfg)
    except (ValueError, TypeError) as exc:  # TypeError: a key the hierarchy does not take
        raise ValueError(f"{path}: bad model config: {exc}") from None


def _check_weights(path, model, weights: dict) -> dict:
    """``model``'s state dict, after checking that ``weights`` (name -> tensor) has its names,
    shapes and kinds of dtype (float for float); ValueError naming the file otherwise."""
    own = model.state_dict()
    if set(weights) != set(own):
        raise ValueError(f"{path}: weights do not match the model ({sorted(set(weights) ^ set(own))})")
    for k, v in own.items():
        w = weights[k]
        if w.shape != v.shape or not (w.dtype == v.dtype or (w.dtype.is_floating_point and v.dtype.is_floating_point)):
            raise ValueError(f"{path}: weight {k} is {w.dtype} {tuple(w.shape)}, the model's is "
                             f"{v.dtype} {tuple(v.shape)}")
    return own


def _load_weights(path, model, weights: dict) -> None:
    """Load ``weights`` into ``model`` after :func:`_check_weights`."""
    own = _check_weights(path, model, weights)
    model.load_state_dict({k: weights[k].to(own[k].dtype) for k in own})


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
    data: str = "swirl",
    crop_size: int = 32,
    init: str | os.PathLike | None = None,
    max_minutes: float | None = None,
    **model_kwargs,
):
    """Train a hierarchy on swirl points or photo crops; returns (model_ema, info).

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

    iters, batch_size = _check_int("iters", iters, minimum=1), _check_int("batch_size", batch_size, minimum=1)
    steps = _check_int("steps", steps, minimum=1)
    seed = _check_int("seed", seed, minimum=0, maximum=2**63 - 2)  # the batch generator takes seed + 1
    warmup, save_every = _check_int("warmup", warmup, minimum=0), _check_int("save_every", save_every, minimum=1)
    pool_sets, threads = _check_int("pool_sets", pool_sets, minimum=1), _check_int("threads", threads, minimum=1)
    lr = _check_real("lr", lr, positive=True)
    schedule_lr_mult = _check_real("schedule_lr_mult", schedule_lr_mult, positive=True)
    ema_decay = _check_real("ema_decay", ema_decay)
    resume, progress = _check_bool("resume", resume), _check_bool("progress", progress)
    crop_size = _check_int("crop_size", crop_size, minimum=4)
    if max_minutes is not None:
        max_minutes = _check_real("max_minutes", max_minutes, positive=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = make(
        hierarchy,
        steps=steps,
        learned_variance=learned_variance,
        learned_schedule=learned_schedule,
        data=data,
        **model_kwargs,
    )
    if init is not None:
        _warm_start(model, init)
    ema = EMA(model, ema_decay)
    sched_params = list(model.schedule.parameters())
    sched_ids = {id(q) for q in sched_params}
    groups = [{"params": [q for q in model.parameters() if id(q) not in sched_ids], "mult": 1.0}]
    if sched_params:
        groups.append({"params": sched_params, "mult": float(schedule_lr_mult)})
    opt = torch.optim.Adam(groups, lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)
    start, history, elapsed = 0, [], 0.0
    if resume and state_path is not None and Path(state_path).exists():
        start, history, elapsed = _load_state(state_path, model, ema, opt, gen)
    if data == "swirl":
        pool = torch.as_tensor(_data.swirl_pool(pool_sets, first_seed=1).astype(np.int64))

    def batch(it):
        if data == "swirl":
            return pool[torch.randint(0, pool.shape[0], (batch_size,), generator=gen)].numpy()
        from .images import random_crops

        return random_crops(batch_size, np.random.default_rng([seed, it]), crop_size)

    def save_state(it):
        if state_path is None:
            return
        train_args = dict(iters=iters, batch_size=batch_size, lr=lr, seed=seed, warmup=warmup,
                          schedule_lr_mult=schedule_lr_mult)
        _save_state(state_path, model, ema, opt, gen, iteration=it, history=history,
                    elapsed=elapsed + time.time() - t0, train_args=train_args)

    model.train()
    t0 = time.time()
    bar = None
    if progress:
        from tqdm import tqdm  # text bars on stderr (tqdm.auto warns in Jupyter without ipywidgets)

        bar = tqdm(total=iters, initial=start, desc=f"{hierarchy} T={steps}", file=sys.stderr)
    running, done, stopped_early = None, iters, False
    for it in range(start, iters):
        if max_minutes is not None and elapsed + time.time() - t0 > 60.0 * max_minutes:
            done, stopped_early = it, True
            break
        xb = batch(it)
        for g in opt.param_groups:
            g["lr"] = _lr_at(it, iters, lr, warmup) * g["mult"]
        opt.zero_grad(set_to_none=True)
        loss, metrics = model.loss(xb, gen)
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
    save_state(done)
    ema_model = copy.deepcopy(model)
    ema_model.load_state_dict(ema.shadow)
    ema_model.eval()
    with torch.no_grad():
        if data == "swirl":
            nelbo = ema_model.nelbo(_data.swirl(), torch.Generator().manual_seed(0))
        else:
            from .images import TEST_PHOTOS, center_crop, photo

            test = np.stack([center_crop(photo(n), 64) for n in TEST_PHOTOS])
            nelbo = ema_model.nelbo(test, torch.Generator().manual_seed(0))
    info = {
        "data": data,
        "nelbo_bpd": nelbo["total"],
        "nelbo_on": "seed-0 swirl set" if data == "swirl" else "central 64 x 64 crops of the test photos",
        "iterations": done,
        "planned_iterations": iters,
        "stopped_early": stopped_early,
        "init": None if init is None else str(init),
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


def _warm_start(model, path) -> None:
    """Copy the weights of the checkpoint at ``path`` into ``model`` (ValueError unless its data
    and network match; its T may differ)."""
    src = load_model(path)
    mine, theirs = dict(model.config()), dict(src.config())
    mine.pop("steps"), theirs.pop("steps")
    if mine != theirs:
        raise ValueError(f"--init {path}: its model ({theirs}) differs from this run's ({mine}) beyond T")
    model.load_state_dict(src.state_dict())


def _save_state(path, model, ema: EMA, opt, gen, **scalars) -> None:
    """Write a resumable training state (see the module docstring for the layout)."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema/{k}": v for k, v in ema.shadow.items()})
    opt_state = opt.state_dict()
    opt_scalars = {}
    for i, st in opt_state["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optimizer/{i}/{name}"] = v
            else:
                opt_scalars.setdefault(str(i), {})[name] = v
    tensors["generator"] = gen.get_state()
    meta = {"format": STATE_FORMAT, "config": model.config(), "ema": {"decay": ema.decay, "num_updates": ema.num_updates},
            "optimizer": {"param_groups": opt_state["param_groups"], "scalars": opt_scalars}, **scalars}
    _write(path, tensors, meta)


def _load_state(path, model, ema: EMA, opt, gen) -> tuple[int, list, float]:
    """Restore a state written by :func:`_save_state` into (model, ema, opt, gen); returns
    (iteration, history, elapsed seconds). ValueError naming the file if it is not a state of
    this run."""
    tensors, meta = _read(path)
    if meta["format"] != STATE_FORMAT or meta.get("config") != model.config():
        raise ValueError(f"{path} holds a different run (format {meta['format']!r}, config {meta.get('config')})")
    try:
        parts: dict[str, dict] = {"model": {}, "ema": {}, "optimizer": {}}
        for name, v in tensors.items():
            head, _, rest = name.partition("/")
            if head in parts:
                parts[head][rest] = v
        _load_weights(path, model, parts["model"])
        own = _check_weights(path, model, parts["ema"])
        ema.shadow = {k: parts["ema"][k].to(v.dtype).clone() for k, v in own.items()}
        ema.decay = _check_real("ema decay", meta["ema"]["decay"])
        ema.num_updates = _check_int("ema num_updates", meta["ema"]["num_updates"], minimum=0)
        state: dict[int, dict] = {}
        for name, v in parts["optimizer"].items():
            i, _, key = name.partition("/")
            state.setdefault(int(i), {})[key] = v
        for i, extra in meta["optimizer"]["scalars"].items():
            state.setdefault(int(i), {}).update(extra)
        groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
                  for g in meta["optimizer"]["param_groups"]]
        opt.load_state_dict({"state": state, "param_groups": groups})
        gen.set_state(tensors["generator"])
        history = [tuple(h) for h in meta["history"]]
        return (_check_int("iteration", meta["iteration"], minimum=0), history,
                _check_real("elapsed", meta["elapsed"]))
    except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path} is not a usable training state of this run ({type(exc).__name__}: {exc})") from None


def export(model, path, info: dict | None = None, half: bool = True) -> None:
    """Write the shipped form of ``model`` to ``path`` (a safetensors file; see the module
    docstring): its weights (float16 if ``half``; tensors with fewer than 16 elements, e.g. the
    schedule, in float64), config and ``info`` (a JSON-able dict, e.g. the training run)."""
    state = {}
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            v = v.to(torch.float64) if (v.numel() < 16 or not half) else v.to(torch.float16)
        state[k] = v
    _write(path, state, {"format": EXPORT_FORMAT, "config": model.config(), "info": info or {}})


def load_model(path, dtype: torch.dtype = torch.float32):
    """Load an export or a training state (its EMA weights) as a model in eval mode.

    Only safetensors files written by :func:`export` or :func:`train` are read (no pickle, so
    nothing in the file runs). Raises ValueError naming the file and the problem otherwise.
    ``model.info`` holds the export's ``info`` dict.
    """
    tensors, meta = _read(path)
    if meta["format"] == EXPORT_FORMAT:
        weights = tensors
    else:
        weights = {k[len("ema/"):]: v for k, v in tensors.items() if k.startswith("ema/")}
    model = _model_from_config(path, meta.get("config"), sum(v.numel() for v in weights.values()))
    _load_weights(path, model, weights)
    model.to(dtype)
    model.eval()
    info = meta.get("info", {})
    model.info = info if isinstance(info, dict) else {}
    return model


def load_pretrained(hierarchy: str, steps: int, data: str = "swirl"):
    """Load the shipped checkpoint of (data, hierarchy, T) (:func:`checkpoint_path`).

    ``steps`` must be an int (numpy ints too: 3.9 or True are errors, not truncated); a pair that
    does not ship is a ValueError listing the ones that do."""
    have = shipped_checkpoints(data)
    steps = _check_int("steps", steps)
    if (hierarchy, steps) not in have:
        listing = ", ".join(f"{h} T={t}" for h, t in have)
        raise ValueError(f"no shipped {data} checkpoint for hierarchy={hierarchy!r}, steps={steps!r}; shipped: {listing}")
    return load_model(checkpoint_path(hierarchy, steps, data))
