"""`rcc bench`, the main job: it runs, writes JSON, and its numbers obey the bounds it prints."""

import json
import math

import pytest

from rcc import bench
from rcc.cli import format_table, main


@pytest.fixture(scope="module")
def quick_rows(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "rows.json"
    assert main(["bench", "--quick", "--json", str(path)]) == 0
    return json.loads(path.read_text())["rows"]


def test_bench_quick_writes_uq_and_pfr_rows(quick_rows):
    methods = [r["method"] for r in quick_rows]
    assert any(m.startswith("uq") for m in methods)
    assert "pfr" in methods
    assert any(m.startswith("pfr N=") for m in methods)


def test_bench_uq_bits_track_information_content(quick_rows):
    """UQ's real bits per element sit on the index information content and above I(X; X+U)."""
    for r in quick_rows:
        if r["method"].startswith("uq"):
            assert r["bits"] >= r["bound_bits"] - 0.02  # 10^4 elements: I is an expectation
            assert r["bits"] <= r["e_log2_index"] * 1.01 + 0.05


def test_bench_exact_pfr_under_li_el_gamal_bound(quick_rows):
    for r in quick_rows:
        if r["method"] == "pfr":
            assert r["bits"] < r["bound_bits"]
            assert r["total_bits"] > r["bits"]  # the header is counted, not hidden


def test_bench_truncated_pfr_reports_bias(quick_rows):
    """A truncated race on equal-variance Gaussians is visibly biased, and says so."""
    for r in quick_rows:
        if r["method"].startswith("pfr N="):
            ratio = float(r["bias"].split("proj ratio ")[1].split(",")[0])
            assert 0.4 < ratio < 0.97


def test_speed_rows_report_ratios():
    rows = bench.speed_rows(dim=8, batch=1024, repeats=1, uq_elements=1000)
    assert rows[0]["rate_per_s"] > 0 and math.isfinite(rows[0]["ratio_to_numpy_normal"])
    assert rows[2]["seconds"] > 0


def test_equal_variance_orc_matches_mrc_bias_with_fewer_bits():
    """Same N: ORC and MRC have the same output law (mean ratio close), ORC's index is cheaper."""
    rows = bench.equal_variance_rows(kls=(4,), extra_log2=(3,), num_seeds=200, methods=("orc", "mrc"))
    orc, mrc = rows
    assert abs(orc["mean_ratio"] - mrc["mean_ratio"]) < 0.1
    assert orc["bits"] < mrc["bits"]


def test_format_table_prints_missing_as_dash():
    out = format_table([{"method": "x", "kl_bits": math.nan}], [("method", "m", "{}"), ("kl_bits", "KL", "{:.1f}")])
    assert out.splitlines()[-1].split() == ["x", "-"]


@pytest.mark.parametrize("suite, key", [("hybrid", "candidate_ratio"), ("compress", "bits_per_kl"),
                                        ("categorical", "tv")])
def test_bench_suites_run_quick(suite, key, tmp_path):
    """Every comparison suite runs in --quick mode and writes its rows."""
    path = tmp_path / f"{suite}.json"
    assert main(["bench", "--suite", suite, "--quick", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["rows"]
    assert rows and all(key in r for r in rows if r.get("method") != "exact (noise floor)")


# ------------------------------------------------------------------------------------ a CLI like gzip
def _one_error_line(err: str) -> None:
    assert err.startswith("rcc: error: ") and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.fixture
def no_bench(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the bench ran before its arguments were checked")

    monkeypatch.setattr(bench, "uq_rows", forbidden)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "rcc-toolkit 0.1.0\n"


def test_bench_json_is_not_overwritten_without_force(tmp_path, capsys, no_bench):
    path = tmp_path / "rows.json"
    path.write_text("precious")
    assert main(["bench", "--quick", "--json", str(path)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "already exists" in err and "--force" in err and path.read_text() == "precious"
    for bad, message in ((tmp_path, "is a directory"), (tmp_path / "no" / "rows.json", "no directory")):
        assert main(["bench", "--quick", "-f", "--json", str(bad)]) == 2
        err = capsys.readouterr().err
        _one_error_line(err)
        assert message in err


@pytest.mark.parametrize("argv", [["bench", "--seeds", "0"], ["bench", "--suite", "nope"], ["nope"], [],
                                  ["fuzz", "--cases", "0"], ["fuzz", "--seed", "-1"]])
def test_bad_arguments_are_one_line(argv, capsys, no_bench):
    assert main(argv) == 2
    _one_error_line(capsys.readouterr().err)


def test_fuzz_subcommand_runs(tmp_path, monkeypatch):
    """`rcc fuzz` hands its arguments to rcc.fuzz.run and returns its exit status."""
    import rcc.fuzz

    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return 1

    monkeypatch.setattr(rcc.fuzz, "run", fake_run)
    path = tmp_path / "f.json"
    assert main(["fuzz", "--cases", "7", "--seed", "3", "--json", str(path), "-q"]) == 1
    assert seen == {"cases": 7, "seed": 3, "json_path": str(path), "progress": False}
    assert main(["fuzz"]) == 1 and seen["cases"] == 2000 and seen["seed"] == 0 and seen["progress"] is True


# ------------------------------------------------------------------------------------ --plot
def test_bench_quick_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "out.png"
    assert main(["bench", "--quick", "--plot", str(path)]) == 0
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000


@pytest.mark.parametrize("suite, name", [("core", "core"), ("categorical", "categorical"),
                                         ("equal-variance", "equal_variance"), ("hybrid", "hybrid"),
                                         ("compress", "compress"), ("speed", "speed")])
def test_every_suite_plots_its_recorded_rows(suite, name, tmp_path):
    """Each suite's figure draws from the rows recorded in docs/figures (no bench run)."""
    pytest.importorskip("matplotlib")
    from pathlib import Path

    rows = json.loads((Path(__file__).parents[1] / "docs" / "figures" / f"bench_{name}.json").read_text())["rows"]
    path = tmp_path / f"{name}.svg"
    bench.plot_rows(suite, rows, str(path))
    assert path.read_text().lstrip().startswith("<?xml")


def test_bench_plot_is_not_overwritten_without_force(tmp_path, capsys, no_bench):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    assert main(["bench", "--quick", "--plot", str(path)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "already exists" in err and "--force" in err and path.read_bytes() == b"precious"


@pytest.mark.parametrize("name", ["out.jpg", "out", "-"])
def test_bench_plot_refuses_unknown_extension(name, tmp_path, capsys, no_bench):
    assert main(["bench", "--quick", "-f", "--plot", str(tmp_path / name) if name != "-" else name]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "unknown extension" in err and ".png" in err


def test_bench_plot_without_matplotlib_is_one_line(tmp_path, capsys, no_bench, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    assert main(["bench", "--quick", "--plot", str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "matplotlib" in err and not (tmp_path / "out.png").exists()
