"""The diffusion report's figures: one colour per hierarchy / channel (shared with ``rcc bench
--plot``), legends that show the line styles, plain-word axis labels and titles.

Every plotting function runs on small synthetic results (no model, no codec) with matplotlib's
Agg backend, and the test reads the drawn figure back.
"""

import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("torch")

from matplotlib.colors import to_hex  # noqa: E402

from diffusion import report  # noqa: E402
from rcc import bench  # noqa: E402


def _result(h, T, channel, nelbo, real, progressive=True):
    real_channel = channel != "ideal"
    r = {"hierarchy": h, "steps_T": T, "channel": channel, "nelbo": {"total": nelbo}, "real_total": real,
         "counts_bytes": 12 if real_channel else 0,
         "prior": {"kl": 0.05, "real": 0.07},
         "steps": [{"k": k, "kl": 1.0 / k, "real": 1.1 / k} for k in range(1, T + 1)]}
    if channel == "pfr":  # chunked channels carry the D_CS floor of their chunks
        r["prior"]["dcs"] = 0.06
        for s in r["steps"]:
            s["dcs"] = 1.05 * s["kl"]
    if progressive:
        r["progressive"] = [{"k": k, "bits": 0.1 + k, "psnr_denoised": 10.0 + k, "psnr_ancestral": 8.0 + k,
                             "psnr_flow": 9.0 + k, "swd_denoised": 5.0 / (k + 1), "swd_ancestral": 6.0 / (k + 1),
                             "swd_flow": 7.0 / (k + 1)} for k in range(T + 1)]
        r["progressive"].append({"k": "lossless", "bits": real, "psnr_denoised": math.inf, "swd_denoised": 0.0})
    return r


RESULTS = [_result("uniform", 3, "uq", 7.3, 7.46), _result("uniform", 5, "uq", 7.5, 7.6),
           _result("uniform", 5, "ideal", 7.5, 7.59, progressive=False),
           _result("gaussian", 3, "pfr", 6.7, 8.6), _result("gaussian", 5, "pfr", 6.4, 8.4),
           _result("gaussian", 5, "ideal", 6.4, 6.5, progressive=False)]


def _hex(c):
    return to_hex(c)


def _legend_styles(legend):
    """{label text: line style} of a legend's line handles."""
    return {t.get_text(): h.get_linestyle() for t, h in zip(legend.get_texts(), legend.legend_handles)
            if hasattr(h, "get_linestyle")}


def test_palette_is_rcc_bench_palette_plus_hierarchies():
    for channel, colour in bench.COLOURS.items():
        assert report.COLOURS[channel] == colour
    assert report.COLOURS["uniform"] == bench.COLOURS["uq"]
    assert report.COLOURS["gaussian"] == bench.COLOURS["pfr"]
    # the image baselines take colours no channel or hierarchy uses
    taken = {_hex(c) for k, c in report.COLOURS.items() if k not in ("png", "webp")}
    assert _hex(report.COLOURS["png"]) not in taken and _hex(report.COLOURS["webp"]) not in taken
    assert report.COLOURS["png"] != report.COLOURS["webp"]


def test_bits_vs_T_colours_line_styles_and_legend(tmp_path):
    fig = report.plot_bits_vs_T(RESULTS, tmp_path / "bits.png")
    assert (tmp_path / "bits.png").stat().st_size > 0
    ax = fig.axes[0]
    assert ax.get_xlabel() == "number of steps T" and ax.get_ylabel() == "bits per dimension"
    assert "swirl" in ax.get_title()
    lines = ax.get_lines()
    # per hierarchy: NELBO dashed over all T, real file solid over the real-channel runs
    for h, nelbo, real in (("uniform", [7.3, 7.5], [7.46, 7.6]), ("gaussian", [6.7, 6.4], [8.6, 8.4])):
        mine = [ln for ln in lines if _hex(ln.get_color()) == _hex(report.COLOURS[h])]
        styles = {ln.get_linestyle(): list(ln.get_ydata()) for ln in mine}
        assert styles == {"--": nelbo, "-": real}, h
        assert {ln.get_linestyle(): ln.get_marker() for ln in mine} == {"--": "o", "-": "s"}
    styles = _legend_styles(ax.get_legend())
    assert styles["solid with squares: real file size (bits written)"] == "-"
    assert styles["dashed with circles: NELBO (ideal channel)"] == "--"
    markers = {t.get_text(): h.get_marker() for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert markers["solid with squares: real file size (bits written)"] == "s"
    assert markers["dashed with circles: NELBO (ideal channel)"] == "o"
    colours = {t.get_text().split(" ")[0]: _hex(h.get_color())
               for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert colours["uniform"] == _hex(report.COLOURS["uniform"])
    assert colours["gaussian"] == _hex(report.COLOURS["gaussian"])


def test_rate_distortion_one_style_per_reconstruction(tmp_path):
    fig = report.plot_rate_distortion(RESULTS, tmp_path / "rd.png")
    assert (tmp_path / "rd.png").stat().st_size > 0
    psnr, swd = fig.axes[:2]
    assert psnr.get_ylabel() == "PSNR (dB)"
    assert swd.get_ylabel() == "sliced Wasserstein distance to the data"
    assert psnr.get_xlabel() == swd.get_xlabel() == "bits per dimension received"
    assert fig._suptitle is not None and "Progressive decoding" in fig._suptitle.get_text()
    styles = _legend_styles(psnr.get_legend())
    assert styles["solid: denoised (posterior mean)"] == "-"
    assert styles["dash-dot: ancestral sampling"] == "-."
    assert styles["dotted: probability flow (deterministic)"] == ":"
    # every drawn line is in its hierarchy's colour; each run draws the three styles
    drawn = {(_hex(ln.get_color()), ln.get_linestyle()) for ln in psnr.get_lines()}
    assert drawn == {(_hex(report.COLOURS[h]), ls) for h in ("uniform", "gaussian") for ls in ("-", "-.", ":")}
    assert report.plot_rate_distortion([r for r in RESULTS if "progressive" not in r], tmp_path / "no.png") is None
    assert not (tmp_path / "no.png").exists()


@pytest.mark.parametrize("h,channel", [("uniform", "uq"), ("gaussian", "pfr")])
def test_steps_bars_kl_dashed_real_solid(h, channel, tmp_path):
    r = next(r for r in RESULTS if r["hierarchy"] == h and r["channel"] == channel and r["steps_T"] == 5)
    fig = report.plot_steps(r, tmp_path / "steps.png")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("step") and ax.get_ylabel() == "bits per dimension"
    assert h in ax.get_title() and "per step" in ax.get_title()
    colour = _hex(report.COLOURS[h])
    kl = [p for p in ax.patches if p.get_facecolor()[3] == 0]  # outline only
    real = [p for p in ax.patches if p.get_facecolor()[3] == 1]
    assert len(kl) == len(real) == 6  # z_1, then the five steps
    assert [t.get_text() for t in ax.get_xticklabels()] == ["z_1", "1", "2", "3", "4", "5"]
    assert all(_hex(p.get_edgecolor()) == colour and p.get_linestyle() == "--" for p in kl)
    assert all(_hex(p.get_facecolor()) == colour and p.get_linestyle() == "-" for p in real)
    rows = [r["prior"]] + r["steps"]
    assert np.allclose([p.get_height() for p in real], [s["real"] for s in rows])
    assert np.allclose([p.get_height() for p in kl], [s["kl"] for s in rows])
    # the D_CS floor: a dotted black line over each real bar, for chunked channels only
    floors = [c for c in ax.collections if c.get_segments()]
    if channel == "pfr":
        (lines,) = floors
        assert np.allclose([seg[0][1] for seg in lines.get_segments()], [s["dcs"] for s in rows])
        assert _hex(lines.get_color()[0]) == "#000000"
        dcs_handle = next(h_ for t, h_ in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)
                          if t.get_text().startswith("dotted: D_CS"))
        assert dcs_handle.get_linestyle() == ":"
    else:
        assert not floors
    # the legend's patches draw the bars' dash patterns (matplotlib copies the pattern, not the
    # style's name, into a legend handle: compare what is drawn)
    legend = {t.get_text(): h_ for t, h_ in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    kl_handle = legend["dashed outline: KL (ideal channel)"]
    real_handle = legend[f"solid: real bits ({channel.upper()} channel)"]
    assert kl_handle._dash_pattern == kl[0]._dash_pattern and kl_handle._dash_pattern[1] is not None
    assert real_handle._dash_pattern == real[0]._dash_pattern and real_handle._dash_pattern[1] is None
    assert kl_handle.get_hatch() == "//" and _hex(kl_handle.get_edgecolor()) == colour
    assert _hex(real_handle.get_facecolor()) == colour


def test_swirl_figure_shows_data_and_reconstructions(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (64, 2), dtype=np.uint8)
    rows = [{"hierarchy": h, "steps_T": 4, "channel": "ideal", "data": data,
             "panels": [(k, 0.5 + k, rng.integers(0, 256, (64, 2), dtype=np.uint8)) for k in (0, 2, 4)]}
            for h in ("uniform", "gaussian")]
    fig = report.plot_swirl(rows, tmp_path / "swirl.png")
    assert (tmp_path / "swirl.png").stat().st_size > 0
    axes = np.array(fig.axes).reshape(2, 4)
    grey = _hex(report._DATA_GREY)
    for row, h in zip(axes, ("uniform", "gaussian")):
        assert row[0].get_title() == "the data"
        assert [_hex(c.get_facecolor()[0]) for c in row[0].collections] == [grey]
        for ax, k in zip(row[1:], (0, 2, 4)):
            assert [_hex(c.get_facecolor()[0]) for c in ax.collections] == [grey, _hex(report.COLOURS[h])]
            assert ax.get_title() == f"{k} of 4 steps\n{0.5 + k:.2f} bits per dimension"
            assert np.array_equal(ax.collections[0].get_offsets(), data)
    assert axes[1, 0].get_xlabel() == "first coordinate"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "the data" and labels[1].startswith("uniform: denoised reconstruction")


def test_report_plots_write_every_figure(tmp_path):
    files = report._plots(RESULTS, tmp_path, swirl_rows=None)
    assert files == ["bits_vs_T.png", "rate_distortion.png", "steps_uniform_T3.png", "steps_uniform_T5.png",
                     "steps_gaussian_T3.png", "steps_gaussian_T5.png"]
    assert all((tmp_path / f).stat().st_size > 0 for f in files)


def test_tradeoff_plot_colours_by_channel(tmp_path):
    rows = [{"channel": ch, "chunk_bits": 12.0, "layout": lay, "size_multiple": 1, "num_candidates": 2**16,
             "headroom_bits": None, "encode_seconds": 3.0, "real": 8.0 + i, "bias_excess": 0.1 * i}
            for i, (ch, lay) in enumerate([("pfr", "kl"), ("orc", "kl"), ("mrc", "even")])]
    report._plot_tradeoff(rows, 5, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 0


def test_image_report_uses_the_same_hierarchy_colours():
    from diffusion import image_report

    for h in ("uniform", "gaussian"):
        assert _hex(image_report.COLORS[h]) == _hex(report.COLOURS[h])
