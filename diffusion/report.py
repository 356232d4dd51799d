"""``rcc-diffusion report`` and :func:`demo`: real bits beside the KL, step by step.

For each shipped checkpoint (hierarchy, T) the seed-0 swirl set (1024 x 2 bytes) is compressed
with a real channel (UQ for uniform, chunked PFR for Gaussian) and with the ``ideal`` channel,
decoded again (the round trip is checked), and the figures are collected:

* per step: KL[q || p] along the coded chain, the model's NELBO term for that step (an
  independent forward chain), real bits, real / KL, encoder time - all in bits per dimension
  (bits / (N * D)) except the time;
* totals: NELBO (prior + steps + data), ideal file (KL + data-term bytes + header), real file;
* progressive: cumulative real bits after k steps vs PSNR and sliced-Wasserstein distance of
  the denoised, ancestral and flow reconstructions.

Outputs (in ``out_dir``): ``diffusion_report.json``, ``bits_vs_T.png``,
``rate_distortion.png``, ``steps_<hierarchy>_T<T>.png``, ``swirl_progressive.png`` (the data and
the reconstructions after k steps); the tables go to stdout. Every figure gives each hierarchy
and channel one colour (:data:`COLOURS`, shared with ``rcc bench --plot``) and each quantity one
line style (:data:`LINESTYLES`: solid = real bits, dashed = KL or NELBO).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from rcc.bench import COLOURS as _CHANNEL_COLOURS

from . import _exact, codec
from . import data as _data
from .train import checkpoint_path, load_model, shipped_checkpoints

__all__ = ["evaluate", "run_report", "demo", "format_steps", "format_totals", "grid_margin_report", "chunk_floors"]


def evaluate(model, x=None, channel: str | None = None, seed: int = 0, progressive: bool = True,
             recon_seed: int = 0, nelbo_seed: int = 0, progress: bool = False, dcs_chunks: int = 16,
             dcs_seed: int = 0) -> dict:
    """Compress ``x`` (default: seed-0 swirl) with ``model`` through ``channel``; decode; measure.
    ``progress``: a progress bar over the encoder's steps on stderr. ``dcs_chunks``: for chunked
    channels, the chunks per push whose D_CS is computed exactly (:func:`chunk_floors`; 0: none).

    Returns a JSON-ready dict (bits per dimension unless a key says otherwise):
    ``steps`` (list of per-step dicts: ``k``, ``i``, ``kl``, ``nelbo_term``, ``real``,
    ``real_over_kl``, ``seconds``, channel diagnostics), ``nelbo`` (model NELBO and its terms),
    ``prior`` (z_1: ``kl``, ``nelbo_term``, ``real``, ``seconds``), chunked channels: ``dcs`` and
    ``dcs_se`` in z_1's and every step's dict (:func:`chunk_floors`), ``kl_total`` (of the T
    steps), ``data_nll``, ``data_real``, ``header``, ``checks`` (the header, z_1 and per-step
    checks, 16 bits each: what the integrity of prefixes costs), ``real_total``, ``encode_seconds``,
    ``decode_seconds``, ``lossless`` (bool) and, if ``progressive``, ``progressive`` (list over
    k = 0..T of cumulative real bits and PSNR / sliced-Wasserstein of each reconstruction).
    """
    x = _data.swirl() if x is None else np.asarray(x)
    n = x.size
    t0 = time.perf_counter()
    res = codec.encode(model, x, channel=channel, seed=seed, progress=progress)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = codec.decode(res.blob, model)
    dec_s = time.perf_counter() - t0
    with torch.no_grad():
        nel = model.nelbo(x, torch.Generator().manual_seed(nelbo_seed))
    steps = []
    for k in range(model.num_steps):
        real = float(res.step_bits[k]) / n
        kl = float(res.kl_bits[k]) / n
        row = {
            "k": k + 1,
            "i": model.num_steps - k,
            "kl": kl,
            "nelbo_term": float(nel["steps"][k]),
            "real": real,
            "real_over_kl": real / kl if kl > 0 else math.nan,
            "seconds": float(res.step_seconds[k]),
        }
        info = res.step_info[k] if k < len(res.step_info) else {}
        for key, v in info.items():
            if key not in ("chunk_kl_bits", "chunk_sizes"):
                row[key] = v / n if key in ("info_bits", "payload_bits") else v
        steps.append(row)
    out = {
        "hierarchy": model.kind,
        "steps_T": model.num_steps,
        "channel": res.channel,
        "num_points": int(x.shape[0]),
        "dim": int(x.shape[1]),
        "seed": seed,
        "steps": steps,
        "nelbo": {"total": nel["total"], "prior": nel["prior"], "data": nel["data"],
                  "diffusion": float(np.sum(nel["steps"]))},
        "prior": {"kl": res.prior_kl_bits / n, "nelbo_term": nel["prior"], "real": res.prior_bits / n,
                  "seconds": res.prior_seconds},
        "kl_total": res.kl_bits_total / n,
        "data_nll": res.data_nll_bits / n,
        "data_real": 8.0 * res.data_bytes / n,
        "header": 8.0 * res.header_bytes / n,
        "checks": 8.0 * res.check_bytes / n,
        "check_bytes": res.check_bytes,
        "real_total": res.bits_per_dim(),
        "file_bytes": len(res.blob),
        "counts_bytes": res.counts_bytes,
        "encode_seconds": enc_s,
        "decode_seconds": dec_s,
        "lossless": bool(dec.x is not None and np.array_equal(dec.x, x)),
    }
    out["real_over_nelbo"] = out["real_total"] / nel["total"]
    if dcs_chunks and "chunk_sizes" in res.prior_info:
        floors = chunk_floors(model, x, res, dcs_chunks, seed=dcs_seed)
        for row, (v, se) in zip([out["prior"]] + steps, floors):
            row["dcs"], row["dcs_se"] = v / n, se / n
    if progressive:
        prog = []
        cums = prefix_bits(res)
        mdl = _exact._model64(model)
        with torch.no_grad(), _exact._threads(1):
            for k in _progressive_ks(model.num_steps):
                cum = float(cums[k])
                z = torch.as_tensor(_data_z(res, k))
                den, anc, flow = codec.reconstructions(mdl, z, model.num_steps - k, recon_seed)
                row = {"k": k, "bits": cum / n}
                for name, rec in (("denoised", den), ("ancestral", anc), ("flow", flow)):
                    row[f"psnr_{name}"] = codec.psnr(rec, x)
                    row[f"swd_{name}"] = codec.sliced_wasserstein(rec, x)
                prog.append(row)
        prog.append({"k": "lossless", "bits": out["real_total"], "psnr_denoised": math.inf,
                     "swd_denoised": 0.0})
        out["progressive"] = prog
    return out


@torch.no_grad()
def chunk_floors(model, x, res, sample: int = 16, seed: int = 0) -> list[tuple[float, float]]:
    """The channel-simulation floor of each chunked push of a file (z_1, then the T steps), in
    bits, with its standard error: ``(sum_c D_CS[q_c || p_c], se)``.

    :func:`rcc.chunked_dcs_bits` of each push's q and p cut as the file cut them
    (``chunk_sizes``): no exact scheme that simulates each chunk on its own pays less (Goc &
    Flamich, ISIT 2024). ``sample`` chunks per push are computed exactly (unequal variances: the
    learned reverse scale) and scaled to all, drawn by one numpy generator seeded with ``seed``
    across the pushes. The equal-variance form at a chunk's KL would overstate these floors by
    0.2-1.2 bits per chunk on the swirl steps (``examples/dcs_unequal_variance.py``), so it is not
    used. ``res``: an :func:`diffusion.codec.encode`
    result of a chunked channel on ``x`` with ``model``.
    """
    import rcc

    m = _exact._model64(model)
    f = m.encode_data(x)
    T, shape = model.num_steps, res.z1.shape
    chain = [res.z1] + res.latents
    rng = np.random.default_rng(seed)
    out = []
    with _exact._threads(1):
        for k, info in enumerate([res.prior_info] + res.step_info):
            i = T + 1 - k
            if k == 0:
                q, p = m.top_posterior(f), _exact._prior64(m, torch.zeros(shape, dtype=torch.float64), i)
            else:
                z = torch.as_tensor(chain[k - 1])
                q, p = _exact._blockwise(lambda zb, fb: m.posterior(zb, fb, i), z, f), _exact._prior64(m, z, i)
            out.append(rcc.chunked_dcs_bits(q.to_rcc(), p.to_rcc(), info["chunk_sizes"], sample=sample, rng=rng))
    return out


def prefix_bits(res) -> np.ndarray:
    """Bits of the file prefix that decodes z_1 and the first k steps, k = 0 .. T, (T + 1,):
    ``8 * head_bytes``, then ``8 * prefix_bytes``. The ideal channel writes raw float64 latents,
    so for it the latents' cost is their KL instead, with the header, its check and the 16-bit
    checks of z_1 and each step as a real file has them."""
    if res.counts_bytes:
        return 8.0 * np.array([res.head_bytes] + list(res.prefix_bytes), dtype=np.float64)
    check = 8.0 * codec.CHECK_BYTES
    head = 8.0 * (res.header_bytes - 4) + check + res.prior_kl_bits + check
    return head + np.concatenate([[0.0], np.cumsum(np.asarray(res.kl_bits, dtype=np.float64) + check)])


def _progressive_ks(T: int) -> list[int]:
    """Prefix lengths evaluated: all for T <= 20, else a log-spaced set (reconstructions from
    step k cost T - k more network passes each)."""
    if T <= 20:
        return list(range(T + 1))
    return sorted({0, T} | {T - max(1, round(T * f)) for f in (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)})


def _data_z(res, k):
    return res.z1 if k == 0 else res.latents[k - 1]


# ------------------------------------------------------------------------------------ tables
def format_steps(r: dict) -> str:
    """Per-step table of one :func:`evaluate` result."""
    z1 = r["prior"]
    dcs = "dcs" in z1 or any("dcs" in s for s in r["steps"])
    lines = [
        f"{r['hierarchy']} T={r['steps_T']} channel={r['channel']}  (bits/dim; N={r['num_points']}, D={r['dim']})",
        f"{'k':>4} {'i':>4} {'KL':>9}" + (f" {'D_CS':>9}" if dcs else "")
        + f" {'NELBO-term':>11} {'real':>9} {'real/KL':>8} {'time[s]':>8}"
        + (f" {'lean (t)':>16}" if any("lean" in s for s in r["steps"]) else ""),
    ]

    def cell(row):
        return f" {row['dcs']:>9.4f}" if "dcs" in row else (f" {'':>9}" if dcs else "")

    lines.append(f"{'z_1':>4} {'':>4} {z1['kl']:>9.4f}{cell(z1)} {z1['nelbo_term']:>11.4f} {z1['real']:>9.4f} "
                 f"{z1['real'] / z1['kl'] if z1['kl'] > 0 else math.nan:>8.4f} {z1['seconds']:>8.3f}")
    for s in r["steps"]:
        lines.append(
            f"{s['k']:>4} {s['i']:>4} {s['kl']:>9.4f}{cell(s)} {s['nelbo_term']:>11.4f} {s['real']:>9.4f} "
            f"{s['real_over_kl']:>8.4f} {s['seconds']:>8.3f}"
            + (f" {s['lean']:>8.4f} ({s['lean'] / s['lean_se']:+5.1f})" if "lean" in s else "")
        )
    dsum = z1.get("dcs", 0.0) + sum(s.get("dcs", 0.0) for s in r["steps"])
    lines.append(
        f"{'sum':>9} {z1['kl'] + r['kl_total']:>9.4f}" + (f" {dsum:>9.4f}" if dcs else "")
        + f" {z1['nelbo_term'] + r['nelbo']['diffusion']:>11.4f} "
        f"{z1['real'] + sum(s['real'] for s in r['steps']):>9.4f}"
    )
    if dcs:
        lines.append("  D_CS: the least any exact scheme pays for these chunks, each simulated on its own "
                     "(Goc & Flamich 2024; exact on sampled chunks, see report.chunk_floors)")
    lines.append(
        f"  data term: NLL {r['data_nll']:.4f}, real {r['data_real']:.4f};  header+CRC {r['header']:.4f};  "
        f"checks {r['checks']:.4f} ({r['check_bytes']} bytes: header, z_1 and steps)"
    )
    lines.append(
        f"  total: NELBO {r['nelbo']['total']:.4f}, KL+data {z1['kl'] + r['kl_total'] + r['data_nll']:.4f}, "
        f"real {r['real_total']:.4f} ({r['file_bytes']} bytes), real/NELBO {r['real_over_nelbo']:.4f}, "
        f"lossless {r['lossless']}, encode {r['encode_seconds']:.1f} s, decode {r['decode_seconds']:.1f} s"
    )
    return "\n".join(lines)


def format_totals(results: list[dict]) -> str:
    """One line per (hierarchy, T, channel): NELBO, KL + data, real, real/NELBO, time."""
    lines = [
        f"{'hierarchy':<9} {'T':>5} {'channel':<7} {'NELBO':>8} {'KL+data':>8} {'real':>8} {'checks':>7} "
        f"{'real/NELBO':>10} {'enc[s]':>7} {'dec[s]':>7} lossless",
    ]
    for r in results:
        real = r["real_total"]
        mark = " " if r["counts_bytes"] else "*"
        lines.append(
            f"{r['hierarchy']:<9} {r['steps_T']:>5} {r['channel']:<7} {r['nelbo']['total']:>8.4f} "
            f"{r['prior']['kl'] + r['kl_total'] + r['data_nll']:>8.4f} {real:>7.4f}{mark} {r['checks']:>7.4f} "
            f"{real / r['nelbo']['total']:>10.4f} "
            f"{r['encode_seconds']:>7.1f} {r['decode_seconds']:>7.1f} {r['lossless']}"
        )
    lines.append(
        "(bits/dim on the seed-0 swirl set, N=1024, D=2; real = file size in bits / (N D), checks included; "
        "checks = the 16-bit checks of the header, z_1 and each step; * ideal channel: KL counted for the steps, real bytes for "
        "checks, data term and header)"
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ plots
#: One colour per hierarchy and per channel in every figure of the project: the channels keep
#: the colours of ``rcc bench --plot`` (``rcc.bench.COLOURS``), each hierarchy takes the colour
#: of the channel that codes it by default (uniform: UQ, Gaussian: PFR), and the image baselines
#: (PNG, WebP) take colours that no channel uses. Line styles carry the quantity (:data:`LINESTYLES`).
COLOURS = {**_CHANNEL_COLOURS, "uniform": _CHANNEL_COLOURS["uq"], "gaussian": _CHANNEL_COLOURS["pfr"],
           "png": "tab:brown", "webp": "tab:olive"}
#: Line style of each quantity in the figures (solid: real bits, the bytes written; dashed: KL or
#: NELBO, what an ideal channel would cost; dotted: D_CS, the floor of any exact scheme per chunk) and
#: of each progressive reconstruction (solid:
#: denoised; dash-dot: ancestral; dotted: probability flow).
LINESTYLES = {"real": "-", "kl": "--", "dcs": ":", "denoised": "-", "ancestral": "-.", "flow": ":"}
_STYLE_WORDS = {"-": "solid", "--": "dashed", "-.": "dash-dot", ":": "dotted"}
_MARKER_WORDS = {"s": "squares", "o": "circles"}
_RECON_WORDS = {"denoised": "denoised (posterior mean)", "ancestral": "ancestral sampling",
                "flow": "probability flow (deterministic)"}
_DATA_GREY = "0.7"


def _colour(hierarchy: str) -> str:
    return COLOURS.get(hierarchy, "black")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style_handles(items) -> list:
    """Neutral grey legend handles that show a line style; ``items``: (line style, meaning) or
    (line style, meaning, marker)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color="0.3", linestyle=ls, linewidth=1.6, marker=rest[0] if rest else None,
                   label=f"{_STYLE_WORDS[ls]}{' with ' + _MARKER_WORDS[rest[0]] if rest else ''}: {text}")
            for ls, text, *rest in items]


def _colour_handles(items) -> list:
    """Legend handles of one colour each (a thick line, optionally a marker); ``items``:
    (colour, label) or (colour, label, marker)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=c, linewidth=5, marker=rest[0] if rest else None, markersize=7,
                   markeredgecolor="black", label=label) for c, label, *rest in items]


def plot_bits_vs_T(results: list[dict], path):
    """Lossless rate against the number of steps T (:func:`evaluate` results): per hierarchy (one
    colour each) the model's NELBO (dashed) and the real file size (solid), in bits per dimension.
    Writes ``path``; returns the (closed) matplotlib figure, as every ``plot_*`` function here does."""
    plt = _pyplot()
    from matplotlib.ticker import NullLocator, ScalarFormatter

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    hierarchies = []
    for h in ("uniform", "gaussian"):
        rs = [r for r in results if r["hierarchy"] == h]
        ts = sorted({r["steps_T"] for r in rs})
        if not ts:
            continue
        nel = [next(r for r in rs if r["steps_T"] == t)["nelbo"]["total"] for t in ts]
        ax.plot(ts, nel, marker="o", linestyle=LINESTYLES["kl"], color=_colour(h))
        real = sorted((r["steps_T"], r["real_total"], r["channel"]) for r in rs if r["counts_bytes"])
        chans = ""
        if real:
            chans = ", real file: " + "/".join(sorted({c.upper() for _, _, c in real}))
            ax.plot([a for a, _, _ in real], [b for _, b, _ in real], marker="s", linestyle=LINESTYLES["real"],
                    color=_colour(h))
        hierarchies.append((_colour(h), f"{h} hierarchy{chans}"))
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["steps_T"] for r in results}))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("number of steps T")
    ax.set_ylabel("bits per dimension")
    ax.set_title("Lossless rate of the swirl data set against the number of steps")
    ax.grid(alpha=0.3)
    ax.legend(handles=_colour_handles(hierarchies) + _style_handles(
        [(LINESTYLES["real"], "real file size (bits written)", "s"), (LINESTYLES["kl"], "NELBO (ideal channel)", "o")]),
        fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig


def _rd_runs(results: list[dict]) -> list[dict]:
    rd = [r for r in results if r.get("progressive")]
    # keep the plot readable: T = 5 real-channel runs and the ideal large-T run(s)
    if len(rd) > 3:
        rd = [r for r in rd if (r["steps_T"] == 5 and r["counts_bytes"]) or not r["counts_bytes"]] or rd[:3]
    return rd


def plot_rate_distortion(results: list[dict], path):
    """Progressive decoding (:func:`evaluate` results with ``progressive`` rows): PSNR (dB) and
    sliced Wasserstein distance to the data against the bits per dimension received; one colour
    per hierarchy, one marker per run, one line style per reconstruction (solid: denoised,
    dash-dot: ancestral, dotted: probability flow). Returns None, writing nothing, when no
    result has progressive rows."""
    rd = _rd_runs(results)
    if not rd:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    markers = ["o", "s", "^", "D", "v", "P"]
    runs = []
    for j, r in enumerate(rd):
        colour, marker = _colour(r["hierarchy"]), markers[j % len(markers)]
        prog = [p for p in r["progressive"] if p["k"] != "lossless"]
        bits = [p["bits"] for p in prog]
        for name in ("denoised", "ancestral", "flow"):
            for ax, key in ((axes[0], "psnr"), (axes[1], "swd")):
                ax.plot(bits, [p[f"{key}_{name}"] for p in prog], linestyle=LINESTYLES[name], color=colour,
                        marker=marker, markersize=4)
        what = "real bits" if r["counts_bytes"] else "ideal channel, bits = KL"
        runs.append((colour, f"{r['hierarchy']}, T = {r['steps_T']}, {r['channel']} ({what})", marker))
    axes[0].set_ylabel("PSNR (dB)")
    axes[0].set_title("Reconstruction quality (higher is better)")
    axes[1].set_ylabel("sliced Wasserstein distance to the data")
    axes[1].set_yscale("log")
    axes[1].set_title("Distance to the data's point cloud (lower is better)")
    for a in axes:
        a.set_xlabel("bits per dimension received")
        a.grid(alpha=0.3)
    axes[0].legend(handles=_colour_handles(runs) + _style_handles(
        [(LINESTYLES[n], _RECON_WORDS[n]) for n in ("denoised", "ancestral", "flow")]), fontsize=7)
    fig.suptitle("Progressive decoding of the swirl data set: quality against bits received")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig


def plot_steps(r: dict, path):
    """Per step of one :func:`evaluate` result, z_1 first: KL (dashed outline) beside real bits
    (solid bar), in the hierarchy's colour, bits per dimension; for chunked channels the D_CS
    floor of each step's chunks as a dotted black line over its real bar."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colour = _colour(r["hierarchy"])
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    rows = ([r["prior"]] if "prior" in r else []) + list(r["steps"])
    k = np.arange(len(rows)) if "prior" in r else np.array([s["k"] for s in r["steps"]])
    ax.bar(k - 0.2, [s["kl"] for s in rows], 0.4, facecolor="none", edgecolor=colour, hatch="//",
           linestyle=LINESTYLES["kl"], linewidth=1.4)
    ax.bar(k + 0.2, [s["real"] for s in rows], 0.4, color=colour, edgecolor="black", linewidth=0.4,
           linestyle=LINESTYLES["real"])
    handles = [Patch(facecolor="none", edgecolor=colour, hatch="//", linestyle=LINESTYLES["kl"],
                     linewidth=1.4, label="dashed outline: KL (ideal channel)"),
               Patch(facecolor=colour, edgecolor="black", linewidth=0.4, linestyle=LINESTYLES["real"],
                     label=f"solid: real bits ({r['channel'].upper()} channel)")]
    if any("dcs" in s for s in rows):
        at = [(kk, s["dcs"]) for kk, s in zip(k, rows) if "dcs" in s]
        ax.hlines([v for _, v in at], [kk for kk, _ in at], [kk + 0.4 for kk, _ in at], colors="black",
                  linestyles=LINESTYLES["dcs"], linewidth=1.6)
        handles.append(Line2D([], [], color="black", linestyle=LINESTYLES["dcs"], linewidth=1.6,
                              label="dotted: D_CS, the least any exact scheme pays for these chunks"))
    ax.set_xticks(k, (["z_1"] + [str(j) for j in k[1:]]) if "prior" in r else [str(j) for j in k])
    ax.set_xlabel("step (in the order sent: z_1, then step k removes noise level T - k + 1)")
    ax.set_ylabel("bits per dimension")
    what = "real bits, KL and D_CS" if len(handles) == 3 else "real bits and KL"
    ax.set_title(f"{r['hierarchy']} hierarchy, T = {r['steps_T']}: {what} per step")
    top = max(max(s["kl"], s["real"], s.get("dcs", 0.0)) for s in rows)
    ax.set_ylim(0, 1.45 * top)  # room for the legend above the bars
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


def swirl_reconstructions(model, x=None, ks=None, channel: str = "ideal", seed: int = 0,
                          recon_seed: int = 0) -> dict:
    """The data and the denoised reconstructions after k of the T steps, for :func:`plot_swirl`.

    Encodes ``x`` (uint8 (N, 2); default the seed-0 swirl set) with ``channel`` (default the
    ideal channel: exact posterior samples, a second or less; a real Gaussian channel takes tens
    of seconds) and reconstructs from the latent after k steps as :func:`evaluate` does.
    ``ks``: the numbers of steps (default up to five, 0 and T included). Returns ``{"hierarchy",
    "steps_T", "channel", "data": x, "panels": [(k, bits per dimension, uint8 (N, 2))]}``; the bits
    are those of the file prefix that decodes k steps (ideal channel: the KL of the latents so far).
    """
    x = _data.swirl() if x is None else np.asarray(x)
    T = model.num_steps
    ks = sorted({0, T} | {round(T * f) for f in (0.25, 0.5, 0.75)}) if ks is None else list(ks)
    res = codec.encode(model, x, channel=channel, seed=seed)
    cums = prefix_bits(res)
    panels = []
    mdl = _exact._model64(model)
    with torch.no_grad(), _exact._threads(1):
        for k in ks:
            z = torch.as_tensor(_data_z(res, k))
            den, _, _ = codec.reconstructions(mdl, z, T - k, recon_seed)
            panels.append((k, float(cums[k]) / x.size, np.asarray(den)))
    return {"hierarchy": model.kind, "steps_T": T, "channel": res.channel, "data": x, "panels": panels}


def plot_swirl(rows: list[dict], path):
    """The swirl data (grey) and its progressive reconstructions: one row per hierarchy (its
    colour), one panel per number of steps decoded, titled with the bits per dimension received;
    ``rows``: :func:`swirl_reconstructions` results."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    ncol = max(len(r["panels"]) for r in rows) + 1
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.3 * ncol, 2.5 * len(rows) + 0.6), squeeze=False,
                             sharex=True, sharey=True)
    for row, (r, ax_row) in enumerate(zip(rows, axes)):
        x, colour = np.asarray(r["data"]), _colour(r["hierarchy"])
        ax_row[0].scatter(x[:, 0], x[:, 1], s=1, color=_DATA_GREY)
        ax_row[0].set_title("the data", fontsize=9)
        ax_row[0].set_ylabel(f"{r['hierarchy']}, T = {r['steps_T']}\nsecond coordinate")
        for ax, (k, bits, rec) in zip(ax_row[1:], r["panels"]):
            rec = np.asarray(rec)
            ax.scatter(x[:, 0], x[:, 1], s=1, color=_DATA_GREY)
            ax.scatter(rec[:, 0], rec[:, 1], s=1.5, color=colour)
            ax.set_title(f"{k} of {r['steps_T']} steps\n{bits:.2f} bits per dimension", fontsize=9)
        for ax in ax_row[1 + len(r["panels"]):]:
            ax.axis("off")
        if row == len(rows) - 1:
            for ax in ax_row:
                ax.set_xlabel("first coordinate")
    handles = [Line2D([], [], marker="o", linestyle="none", color=_DATA_GREY, label="the data")]
    handles += [Line2D([], [], marker="o", linestyle="none", color=_colour(r["hierarchy"]),
                       label=f"{r['hierarchy']}: denoised reconstruction ({r['channel']} channel"
                             f"{'; bits = KL' if r['channel'] == 'ideal' else ''})") for r in rows]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("The swirl data set and what a decoder reconstructs after each prefix of the file")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


def _plots(results: list[dict], out: Path, swirl_rows: list[dict] | None = None) -> list[str]:
    files = []
    plot_bits_vs_T(results, out / "bits_vs_T.png")
    files.append("bits_vs_T.png")
    if plot_rate_distortion(results, out / "rate_distortion.png") is not None:
        files.append("rate_distortion.png")
    for r in results:
        if not r["counts_bytes"]:
            continue
        name = f"steps_{r['hierarchy']}_T{r['steps_T']}.png"
        plot_steps(r, out / name)
        files.append(name)
    if swirl_rows:
        plot_swirl(swirl_rows, out / "swirl_progressive.png")
        files.append("swirl_progressive.png")
    return files


def _jsonable(o):
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        v = float(o)
        return v if math.isfinite(v) else str(v)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def run_report(out_dir="out", quick: bool = False, gaussian_channel: str = "pfr",
               configs: list[tuple[str, int, str]] | None = None, max_real_gaussian_T: int = 20,
               verbose: bool = True) -> list[dict]:
    """Evaluate every shipped checkpoint, print the tables, write JSON and plots into ``out_dir``.

    Parameters
    ----------
    out_dir : path
    quick : bool
        Only T = 5 (both hierarchies): about a minute.
    gaussian_channel : str
        Real channel for Gaussian steps ("pfr", "orc" or "mrc").
    configs : list of (hierarchy, T, channel), optional
        Override the list of runs.
    max_real_gaussian_T : int
        Gaussian checkpoints with larger T are run with the ideal channel only (thousands of
        chunked messages would take long).
    verbose : bool
        Print the tables, and show a progress bar over each encoder's steps on stderr.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if configs is None:
        configs = []
        for h, t in shipped_checkpoints():
            if quick and t != 5:
                continue
            configs.append((h, t, "ideal"))
            if h == "uniform":
                configs.append((h, t, "uq"))
            elif t <= max_real_gaussian_T:
                configs.append((h, t, gaussian_channel))
    results = []
    torch.set_num_threads(1)
    for h, t, ch in configs:
        model = load_model(checkpoint_path(h, t))
        r = evaluate(model, channel=ch, progressive=(ch != "ideal") or (h == "gaussian" and t > max_real_gaussian_T),
                     progress=verbose)
        results.append(r)
        if verbose and ch != "ideal":
            print(format_steps(r))
            print()
    text = format_totals(results)
    if verbose:
        print(text)
    swirl_rows = []
    for h in ("uniform", "gaussian"):  # the figure of the data and its reconstructions: ideal channel, fast
        ts = sorted({t for hh, t, _ in configs if hh == h})
        if ts:
            swirl_rows.append(swirl_reconstructions(load_model(checkpoint_path(h, 5 if 5 in ts else ts[0]))))
    files = _plots(results, out, swirl_rows)
    (out / "diffusion_report.json").write_text(json.dumps(_jsonable(results), indent=1))
    (out / "diffusion_report.txt").write_text(
        "\n\n".join(format_steps(r) for r in results if r["channel"] != "ideal") + "\n\n" + text + "\n"
    )
    if verbose:
        print(f"wrote {out / 'diffusion_report.json'}, {', '.join(files)} in {out}")
    return results


def demo(out_dir="out/diffusion", gaussian_channel: str = "pfr", verbose: bool = True) -> list[dict]:
    """Compress the seed-0 swirl set with both hierarchies (shipped T = 5 checkpoints), each step
    through a real rcc channel (UQ; chunked PFR), print the tables and write the plots.

    Takes well under two minutes on one CPU core.
    """
    configs = [("uniform", 5, "uq"), ("uniform", 5, "ideal"), ("gaussian", 5, gaussian_channel), ("gaussian", 5, "ideal")]
    return run_report(out_dir, configs=configs, verbose=verbose)


def _row(channel: str, chunk_bits: float, num_candidates: int, layout: str = "kl", size_multiple=1,
         headroom_bits=None) -> dict:
    return {"channel": channel, "chunk_bits": chunk_bits, "num_candidates": num_candidates, "layout": layout,
            "size_multiple": size_multiple, "headroom_bits": headroom_bits}


_EARLIER_DEFAULT = _row("pfr", 12.0, 2**22, size_multiple="auto", headroom_bits=5.0)  # KL-balanced 12-bit chunks
_EVEN_12 = _row("pfr", 12.0, 2**22, "even", headroom_bits=5.0)
_DEFAULT = _row("pfr", codec.DEFAULT_CHUNK_BITS, codec.DEFAULT_NUM_CANDIDATES["pfr"], codec.DEFAULT_LAYOUT,
                headroom_bits=codec.DEFAULT_HEADROOM_BITS)

#: Keyword arguments of :func:`codec.encode` compared by :func:`truncation_tradeoff` (missing ones
#: take :func:`_row`'s defaults: KL-balanced layout, size step 1, a fixed budget); the last row is
#: the codec's default.
TRADEOFF_GRID = [_row("pfr", 10.0, 2**16), _row("pfr", 12.0, 2**16), _row("pfr", 12.0, 2**18),
                 _row("pfr", 12.0, 2**18, size_multiple=4), _row("pfr", 12.0, 2**22, size_multiple=4, headroom_bits=5.0),
                 _row("pfr", 12.0, 2**16, "even"), _EVEN_12, _row("pfr", 12.0, 2**24, "even", headroom_bits=7.0),
                 _row("orc", 12.0, 2**16), _row("mrc", 12.0, 2**16), _EARLIER_DEFAULT,
                 _row("pfr", 10.0, 2**22, size_multiple="auto", headroom_bits=5.0), _DEFAULT]
#: The layout comparison of docs/diffusion.md (``rcc-diffusion tradeoff --grid layouts --seed S``):
#: the earlier default against equal-size chunks of 12 bits and the default (10 bits).
LAYOUT_GRID = [_EARLIER_DEFAULT, _EVEN_12, _DEFAULT]
GRIDS = {"full": TRADEOFF_GRID, "layouts": LAYOUT_GRID}


def _plot_tradeoff(rows: list[dict], steps: int, path) -> None:
    """Real bits against the chain's excess, one numbered marker per row: colour = channel
    (:data:`COLOURS`), circle = KL-balanced chunks, square = equal-size chunks, area ~ sqrt(time)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    for k, r in enumerate(rows, 1):
        shape = "even" if r["layout"] == "even" else f"kl/{r['size_multiple']!s}"
        label = (f"{k}: {r['channel']} {r['chunk_bits']:g} b, {shape}, N 2^{round(math.log2(r['num_candidates']))}"
                 f"{'' if r['headroom_bits'] is None else ', h %g' % r['headroom_bits']} ({r['encode_seconds']:.0f} s)")
        ax.scatter(r["real"], r["bias_excess"], s=48 * math.sqrt(max(r["encode_seconds"], 1.0)), label=label,
                   alpha=0.75, color=COLOURS.get(r["channel"], "black"), marker="s" if r["layout"] == "even" else "o",
                   edgecolors="black", linewidths=0.4)
        ax.annotate(str(k), (r["real"], r["bias_excess"]), fontsize=8, xytext=(5, 4), textcoords="offset points")
    seen = {}
    for r in rows:
        if "dcs_floor" in r:
            seen.setdefault((r["chunk_bits"], r["layout"]), r["dcs_floor"])
    for (bits, layout), floor in seen.items():
        ax.axvline(floor, color="black", linestyle=LINESTYLES["dcs"], linewidth=1.2,
                   label=f"D_CS floor, {bits:g}-bit {layout} chunks ({floor:.2f})")
    ax.set_xlabel("real file size (bits per dimension)")
    ax.set_ylabel("bias: excess KL + data over the\nideal channel (bits per dimension)")
    ax.set_title(f"Gaussian hierarchy, T = {steps}: truncated channels trade bits, bias and time\n"
                 "(colour: channel; circle: KL-balanced chunks, square: equal-size chunks; area ~ sqrt(encode time))",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def truncation_tradeoff(out_dir="out/tradeoff", steps: int = 5, grid=None, seed: int = 0,
                        verbose: bool = True, dcs_chunks: int = 8) -> list[dict]:
    """Bits, bias and time of truncated chunked channels for the Gaussian hierarchy, on one plot.

    The Gaussian steps have a reverse scale close to the posterior's, so every chunk's race is cut
    at its candidate budget and the sent sample is biased towards the prior. The bias shows in the
    chain the coder actually sent: its KL + data term (bits/dim) rises above the ideal channel's,
    whose chain is exact. Per row of ``grid`` (keyword arguments of :func:`codec.encode`: channel,
    chunk_bits, num_candidates[, layout, size_multiple, headroom_bits]; or a name in ``GRIDS``; default
    ``TRADEOFF_GRID``): file bits/dim (real), steps/KL, KL + data of the sent chain and its excess
    over the ideal channel's chain at the same file ``seed``, the mean lean t of steps 2..T
    (:func:`codec.sample_lean`), step bits and KL per chunk, the largest per-step standard deviation
    and 99th percentile of the chunk KL, encode time, and ``dcs_floor``: the least file any exact
    scheme could write with the same chunking (:func:`chunk_floors` of the least biased file
    chunked this way, row ``dcs_floor_from_row``, ``dcs_chunks`` chunks per push computed exactly,
    plus the data term's NLL, header and checks; a truncated, biased channel can write less); the plot puts real bits against the excess with the encode time in the labels, and
    the floors as vertical lines.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    model = load_model(checkpoint_path("gaussian", steps))
    x = _data.swirl()
    dims = x.size

    def chain_bits(res) -> float:
        return float((res.prior_kl_bits + np.sum(res.kl_bits) + res.data_nll_bits) / dims)

    ideal = chain_bits(codec.encode(model, x, channel="ideal", seed=seed))
    rows, files = [], []
    for kwargs in GRIDS[grid] if isinstance(grid, str) else grid or TRADEOFF_GRID:
        row = _row(**kwargs)
        t0 = time.perf_counter()
        res = codec.encode(model, x, seed=seed, **row)
        seconds = time.perf_counter() - t0
        if not np.array_equal(codec.decode(res.blob, model).x, x):
            raise AssertionError(f"{row}: lossless decode failed")
        chain = chain_bits(res)
        files.append(res)
        step_kl = float(np.sum(res.kl_bits))
        info = res.step_info
        chunks = sum(i["num_chunks"] for i in info)
        rows.append({**row, "seed": seed,
                     "steps_T": steps, "steps_real_over_kl": float(np.sum(res.step_bits)) / step_kl,
                     "real": 8 * len(res.blob) / dims, "kl_plus_data": chain, "bias_excess": chain - ideal,
                     "lean_t_mean": float(np.mean([i["lean"] / i["lean_se"] for i in info[1:]] or [np.nan])),
                     "bits_per_chunk": sum(i["payload_bits"] for i in info) / chunks, "kl_per_chunk": step_kl / chunks,
                     "chunk_kl_sd_max": max(i["chunk_kl_sd"] for i in info),
                     "chunk_kl_p99_max": max(i["chunk_kl_p99"] for i in info),
                     "encode_seconds": seconds})
    # the D_CS floor of each chunking, from its least biased file: a biased chain has steps of
    # larger KL, so its chunks' floors say nothing about what an exact scheme would pay
    for key in dict.fromkeys((r["chunk_bits"], r["layout"]) for r in rows):
        j = min((j for j, r in enumerate(rows) if (r["chunk_bits"], r["layout"]) == key),
                key=lambda j: abs(rows[j]["bias_excess"]))
        res = files[j]
        pushes = sum(v for v, _ in chunk_floors(model, x, res, sample=dcs_chunks, seed=seed))
        floor = (pushes + res.data_nll_bits + 8.0 * (res.header_bytes + res.check_bytes)) / dims
        for r in rows:
            if (r["chunk_bits"], r["layout"]) == key:
                r["dcs_floor"], r["dcs_floor_from_row"] = floor, j + 1
    lines = [f"gaussian T={steps}, file seed {seed}: truncated chunked channels (bits/dim; ideal channel's KL + "
             f"data {ideal:.3f}; per chunk: payload bits and KL, largest per-step sd and p99 of the chunk KL)",
             f"{'method':>6} {'chunk':>6} {'layout':>6} {'step':>4} {'N':>8} {'h':>4} {'real':>7} {'steps/KL':>8} "
             f"{'KL+data':>8} {'excess':>7} {'lean t':>6} {'b/chunk':>7} {'KL/ch':>6} {'sd':>5} {'p99':>5} {'enc s':>6}"]
    lines += [f"{r['channel']:>6} {r['chunk_bits']:6.1f} {r['layout']:>6} {r['size_multiple']!s:>4} "
              f"{'2^%d' % round(math.log2(r['num_candidates'])):>8} "
              f"{'-' if r['headroom_bits'] is None else '%g' % r['headroom_bits']:>4} "
              f"{r['real']:7.3f} {r['steps_real_over_kl']:8.3f} {r['kl_plus_data']:8.3f} {r['bias_excess']:7.3f} "
              f"{r['lean_t_mean']:+6.2f} {r['bits_per_chunk']:7.2f} {r['kl_per_chunk']:6.2f} {r['chunk_kl_sd_max']:5.2f} "
              f"{r['chunk_kl_p99_max']:5.1f} {r['encode_seconds']:6.1f}"
              for r in rows]
    text = "\n".join(lines)
    _plot_tradeoff(rows, steps, out / "truncation_tradeoff.png")
    (out / "truncation_tradeoff.json").write_text(json.dumps(_jsonable({"ideal_kl_plus_data": ideal, "rows": rows}), indent=1))
    (out / "truncation_tradeoff.txt").write_text(text + "\n")
    if verbose:
        print(text)
        print(f"wrote truncation_tradeoff.png, .json, .txt in {out}")
    return rows


# ------------------------------------------------------------------------------------ cross-machine
#: Fresh-process configurations of :func:`grid_margin_report` that stand in for other machines:
#: ATen's vectorised kernels and MKL's code path pinned to older instruction sets.
ISA_ENVS = {
    "AVX2 kernels": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "baseline kernels": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}

_ISA_SCRIPT = """
import sys, numpy as np, torch, diffusion
from diffusion import _exact, codec, report
h, t, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = diffusion.load_pretrained(h, t)
blob = open(path + ".rd", "rb").read()
saved = np.load(path + ".npz")
try:
    ok = bool(np.array_equal(codec.decode(blob, m).x, saved["x"]))
    err = ""
except ValueError as exc:
    ok, err = False, str(exc)
v = report._raw_priors(_exact._model64(m), [saved[f"z{k}"] for k in range(t + 1)])
np.save(path + ".out.npy", v)
print(torch.backends.cpu.get_cpu_capability(), ok, err, sep="\\t")
"""


@torch.no_grad()
def _raw_priors(m64, chain) -> np.ndarray:
    """Every reverse-prior parameter that feeds the coder (loc and scale of each step, before
    rounding to the grid), float64, flat (2 T N D,), along the sent ``chain`` ([z_1, then the
    latent after each step], (N, *S) each; the top prior p(z_1) is a constant, not computed by
    the network), with one thread as the codec does."""
    T = len(chain) - 1
    out = []
    with _exact._threads(1):
        for k, i in enumerate(range(T, 0, -1)):
            p = _exact._blockwise(lambda zb: m64.reverse_prior(zb, i), torch.as_tensor(chain[k]))
            out += [p.loc.reshape(-1), p.scale.expand_as(p.loc).reshape(-1)]
    return torch.cat(out).numpy().copy()


def _compare(v: np.ndarray, w: np.ndarray) -> dict:
    g = np.round(v / _exact._GRID)
    return {"max_abs_diff": float(np.max(np.abs(w - v))), "num_differ": int(np.sum(w != v)),
            "rounded_differ": int(np.sum(np.round(w / _exact._GRID) != g)),
            "expected_flips": float(np.sum(np.minimum(np.abs(w - v) / _exact._GRID, 1.0)))}


def grid_margin_report(model, x=None, channel: str | None = None, seed: int = 0,
                       rel_tols=(1e-12, 1e-13, 1e-14, 1e-15, 1e-16), isa: bool = True) -> dict:
    """How close the priors of one file come to the rounding boundaries of the codec's grid (2^-32), and
    whether they move between torch configurations (the cross-machine risk of the codec).

    Encodes ``x`` (uint8 (N, D); default the seed-0 swirl set) once, then recomputes every prior
    parameter that feeds the coder (loc and scale of all T steps, float64, before rounding) along
    the sent chain. A value v rounds the other way on another machine if float noise moves it
    across a boundary (a half-integer multiple of the grid); its margin is its distance to the
    nearest one.

    Returns a dict: ``num_params``; ``near`` = {rel: share of parameters whose margin is below
    rel * |v|} for each ``rel`` in ``rel_tols`` (times ``num_params``: about how many parameters
    a relative perturbation of that size would flip in one file); ``configs``: for "2 threads"
    and "no oneDNN" (``torch.backends.mkldnn.flags(enabled=False)``), in this process, and for
    each of ``ISA_ENVS`` in a fresh process (``isa=True``, shipped checkpoints only), the largest
    absolute difference of the unrounded parameters from the codec's configuration (1 thread,
    oneDNN on, the best instruction set), how many differ at all, how many round differently, and
    ``expected_flips`` = sum min(1, |difference| / grid), the number of parameters expected to
    round differently for files in general (a boundary falls anywhere in a grid cell); the fresh
    processes also decode the file (``decodes``, ``error``).

    Command (figures in the report to the lead / docs/reliability.md)::

        python -c "import diffusion, json; from diffusion import report; print(json.dumps(
            report.grid_margin_report(diffusion.load_pretrained('uniform', 5)), indent=1))"
    """
    import os
    import subprocess
    import sys
    import tempfile
    import warnings

    x = _data.swirl() if x is None else np.asarray(x)
    res = codec.encode(model, x, channel=channel, seed=seed)
    m64 = _exact._model64(model)
    chain = [res.z1] + res.latents
    v = _raw_priors(m64, chain)
    g = v / _exact._GRID
    margin = np.abs(g - np.floor(g) - 0.5) * _exact._GRID
    out = {"hierarchy": model.kind, "steps_T": model.num_steps, "channel": res.channel, "seed": seed,
           "num_params": int(v.size), "grid": _exact._GRID,
           "near": {float(r): float(np.mean(margin < r * np.abs(v))) for r in rel_tols}, "configs": {}}
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with torch.no_grad():  # bypass the codec's one thread
            w = []
            for k, i in enumerate(range(model.num_steps, 0, -1)):
                p = m64.reverse_prior(torch.as_tensor(chain[k]), i)
                w += [p.loc.reshape(-1), p.scale.expand_as(p.loc).reshape(-1)]
        out["configs"]["2 threads"] = _compare(v, torch.cat(w).numpy())
    finally:
        torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TF32 acceleration.*", category=UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            out["configs"]["no oneDNN"] = _compare(v, _raw_priors(m64, chain))
    shipped = (model.kind, model.num_steps) in shipped_checkpoints() and _exact._fingerprint(
        load_model(checkpoint_path(model.kind, model.num_steps))) == _exact._fingerprint(model)
    if isa and shipped:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "file")
            with open(path + ".rd", "wb") as f:
                f.write(res.blob)
            np.savez(path + ".npz", x=x, seed=seed, **{f"z{k}": z for k, z in enumerate(chain)})
            for name, env in ISA_ENVS.items():
                got = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, model.kind, str(model.num_steps), path],
                                     capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
                if got.returncode != 0:
                    raise RuntimeError(f"{name}: {got.stderr.strip()[-400:]}")
                cap, ok, err = got.stdout.rstrip("\n").split("\t")
                out["configs"][name] = {"cpu_capability": cap, "decodes": ok == "True", "error": err,
                                        **_compare(v, np.load(path + ".out.npy"))}
    return out
