"""``rcc-diffusion report --data images``: real bits of whole test photos beside the NELBO, PNG and
WebP, per step, with times.

For every shipped image checkpoint and every test photo (:data:`diffusion.images.TEST_PHOTOS`,
whole images, never seen in training):

* the NELBO along one sampled forward chain (seed 0), per step, in bits per dimension
  (bits / (3 H W));
* for uniform checkpoints, the real file (one ``rcc.UQStream``), its size in bits per dimension,
  encode and decode times, and a check that the decoded photo equals the original;
* PNG (Pillow, ``optimize=True, compress_level=9``) and lossless WebP (``quality=100, method=6``).

Gaussian steps go through chunked PFR, whose cost grows with the candidates per chunk: a whole
photo would take hours, so the Gaussian real file is measured on the central 64 x 64 crop of
the first test photo (T = 4), beside the uniform file of the same crop. Times: the central
32 x 32 crop and the whole first photo with the uniform T = 4 checkpoint.

Outputs (in ``out_dir``): ``image_report.json``, ``image_report.txt`` (the tables, also
printed), ``image_bits.png`` (bits per dimension per photo) and ``image_steps.png`` (real bits
against KL per step, both hierarchies).
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from . import codec
from .images import TEST_PHOTOS, center_crop, photo
from .report import COLOURS as COLORS, _jsonable
from .train import checkpoint_path, load_model, shipped_checkpoints

__all__ = ["run_image_report", "baseline_bits"]



def baseline_bits(x: np.ndarray) -> dict:
    """Bits per dimension of the uint8 image ``x`` (3, H, W) as PNG (Pillow ``optimize=True,
    compress_level=9``) and lossless WebP (``quality=100, method=6``)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(x.transpose(1, 2, 0)))
    out = {}
    for name, kw in (("png", dict(format="PNG", optimize=True, compress_level=9)),
                     ("webp", dict(format="WEBP", lossless=True, quality=100, method=6))):
        buf = io.BytesIO()
        img.save(buf, **kw)
        out[name] = 8 * len(buf.getvalue()) / x.size
    return out


def _real(model, x, threads: int, **kw) -> dict:
    t = time.perf_counter()
    res = codec.encode(model, x, seed=0, threads=threads, **kw)
    t_enc = time.perf_counter() - t
    t = time.perf_counter()
    out = codec.decode(res.blob, model, threads=threads)
    t_dec = time.perf_counter() - t
    if not np.array_equal(out.x[0], x):
        raise AssertionError("the decoded photo differs from the original")  # pragma: no cover
    D = x.size
    return dict(bits_per_dim=8 * len(res.blob) / D, kl_plus_data=(res.prior_kl_bits + res.kl_bits.sum() + res.data_nll_bits) / D,
                prior_real=res.prior_bits / D, prior_kl=res.prior_kl_bits / D,
                step_real=(res.step_bits / D).tolist(), step_kl=(res.kl_bits / D).tolist(), encode_s=t_enc, decode_s=t_dec,
                channel=res.channel, shape=list(x.shape))


def run_image_report(out_dir="out/images", threads: int = 2, verbose: bool = True,
                     checkpoints: list[tuple[str, int]] | None = None, photos: dict | None = None,
                     crop: int = 64) -> dict:
    """Measure the figures above; returns them as a dict (bits per dimension, seconds).

    ``checkpoints``: (hierarchy, T) pairs of the image zoo (default all shipped); ``photos``:
    ``{name: uint8 (3, H, W)}`` (default the test photos); ``crop``: side of the crop the
    Gaussian real file is measured on. Takes about 15 minutes on 2 cores with the defaults
    (``threads`` torch threads for every network pass)."""
    from tqdm import tqdm  # text bars on stderr (tqdm.auto warns in Jupyter without ipywidgets)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    photos = photos or {n: photo(n) for n in TEST_PHOTOS}
    rep = {"photos": {n: {"shape": list(x.shape), **baseline_bits(x)} for n, x in photos.items()},
           "models": {}, "crops": {}}
    ckpts = checkpoints or shipped_checkpoints("images")
    bar = tqdm(total=len(ckpts) * len(photos), desc="image report", unit="photo", disable=not verbose)
    for h, T in ckpts:
        m = load_model(checkpoint_path(h, T, data="images"))
        rows = {}
        for name, x in photos.items():
            r = m.nelbo(x[None], generator=torch.Generator().manual_seed(0))
            rows[name] = {"nelbo": r["total"], "nelbo_steps": r["steps"].tolist(), "prior": r["prior"], "data": r["data"]}
            if h == "uniform":
                rows[name]["real"] = _real(m, x, threads)
            bar.update()
        rep["models"][f"{h}_T{T}"] = {"hierarchy": h, "T": T, "photos": rows,
                                      "iterations": m.info.get("iterations"), "command": m.info.get("command")}
    bar.close()
    first = next(iter(photos))
    for h in ("uniform", "gaussian"):
        if (h, 4) not in ckpts:
            continue
        m = load_model(checkpoint_path(h, 4, data="images"))
        rep["crops"][f"{h}_T4_{first}_{crop}"] = _real(m, center_crop(photos[first], crop), threads)
        if h == "uniform" and crop != 32 and min(photos[first].shape[1:]) >= 32:
            rep["crops"][f"{h}_T4_{first}_32"] = _real(m, center_crop(photos[first], 32), threads)
    rep["threads"] = threads
    text = format_image_report(rep)
    if verbose:
        print(text)
    (out / "image_report.txt").write_text(text + "\n")
    (out / "image_report.json").write_text(json.dumps(_jsonable(rep), indent=1))
    _plots(rep, out)
    return rep


def format_image_report(rep: dict) -> str:
    """The tables of :func:`run_image_report` as text (bits per dimension, seconds)."""
    names = list(rep["photos"])
    lines = ["bits/dim on whole test photos (real: the file's bytes; NELBO: one chain, seed 0)",
             f"{'model':<14}" + "".join(f"{n:>22}" for n in names)]
    for key in ("png", "webp"):
        lines.append(f"{key:<14}" + "".join(f"{rep['photos'][n][key]:>22.3f}" for n in names))
    for key, mr in rep["models"].items():
        cells = []
        for n in names:
            r = mr["photos"][n]
            cells.append(f"{r['real']['bits_per_dim']:.3f} / {r['nelbo']:.3f}" if "real" in r else f"- / {r['nelbo']:.3f}")
        lines.append(f"{key:<14}" + "".join(f"{c:>22}" for c in cells))
    lines.append("(cells: real / NELBO; Gaussian real files are measured on crops below)")
    lines.append("")
    lines.append(f"{'file':<28}{'real':>8}{'KL+data':>9}{'encode s':>10}{'decode s':>10}  per step real/KL")
    for key, r in [*((f"{k}:{n}", mr['photos'][n].get('real')) for k, mr in rep['models'].items() for n in names),
                   *rep["crops"].items()]:
        if r is None:
            continue
        steps = " ".join(f"{a:.3f}/{b:.3f}" for a, b in zip([r["prior_real"]] + r["step_real"], [r["prior_kl"]] + r["step_kl"]))
        lines.append(f"{key:<28}{r['bits_per_dim']:>8.3f}{r['kl_plus_data']:>9.3f}{r['encode_s']:>10.2f}"
                     f"{r['decode_s']:>10.2f}  z_1, then steps: {steps}")
    lines.append(f"(threads: {rep['threads']})")
    return "\n".join(lines)


def _plots(rep: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rep["photos"])
    bars = [("PNG", COLORS["png"], "", [rep["photos"][n]["png"] for n in names]),
            ("WebP lossless", COLORS["webp"], "", [rep["photos"][n]["webp"] for n in names])]
    for key, mr in rep["models"].items():
        h = mr["hierarchy"]
        if all("real" in mr["photos"][n] for n in names):
            bars.append((f"{h} T={mr['T']}, real file", COLORS[h], "", [mr["photos"][n]["real"]["bits_per_dim"]
                                                                       for n in names]))
        bars.append((f"{h} T={mr['T']}, NELBO", COLORS[h], "//" if h == "gaussian" else "..",
                     [mr["photos"][n]["nelbo"] for n in names]))
    fig, ax = plt.subplots(figsize=(9, 4))
    w = 0.8 / len(bars)
    for j, (label, color, hatch, vals) in enumerate(bars):
        alpha = 1.0 if "real" in label or hatch == "" else 0.45 + 0.1 * (j % 4)
        ax.bar(np.arange(len(names)) + (j - len(bars) / 2 + 0.5) * w, vals, w, color=color, hatch=hatch,
               alpha=alpha, edgecolor="black", linewidth=0.4, label=label)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("bits per dimension")
    ax.set_title("Lossless coding of whole test photos")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "image_bits.png", dpi=120)
    plt.close(fig)

    crops = [(k, r) for k, r in rep["crops"].items() if not k.endswith("_32")] or list(rep["crops"].items())
    fig, axes = plt.subplots(1, len(crops), figsize=(5 * len(crops), 3.5), squeeze=False)
    for ax, (key, r) in zip(axes[0], crops):
        h = key.split("_")[0]
        k = np.arange(len(r["step_kl"]) + 1)
        ax.bar(k - 0.2, [r["prior_kl"]] + r["step_kl"], 0.4, facecolor="none", edgecolor=COLORS[h], hatch="//",
               linestyle="--", label="dashed outline: KL")
        ax.bar(k + 0.2, [r["prior_real"]] + r["step_real"], 0.4, color=COLORS[h],
               label=f"solid: real bits ({r['channel']})")
        ax.set_xticks(k, ["z_1"] + [str(j) for j in k[1:]])
        ax.set_xlabel("step (in the order sent; z_1 first)")
        ax.set_ylabel("bits per dimension")
        ax.set_title(f"{h}, T = {len(k) - 1}, {r['shape'][1]} x {r['shape'][2]} crop")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "image_steps.png", dpi=120)
    plt.close(fig)
