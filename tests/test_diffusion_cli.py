"""`rcc-diffusion` behaves like a compressor (gzip, zstd): one-line errors with status 2 found
before any work, no overwriting without -f, the output name as given, `-` for stdin/stdout,
--version, --quiet, progressive decoding of a byte prefix; `python -m diffusion` is the same."""
from __future__ import annotations

import io
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

import diffusion.codec
import diffusion.train
from diffusion import cli, data

torch.set_num_threads(1)

POINTS = 32


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_error_line(err: str) -> None:
    assert err.startswith("rcc-diffusion: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a model is loaded, data encoded or decoded, or a training run starts."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work was done before the arguments were checked")

    for mod, name in ((diffusion.train, "load_model"), (diffusion.train, "train"), (diffusion.codec, "encode"),
                      (diffusion.codec, "decode")):
        monkeypatch.setattr(mod, name, forbidden)


@pytest.fixture(scope="module")
def rccd(tmp_path_factory) -> bytes:
    """A real file: the first POINTS swirl points, uniform T = 5, uq channel."""
    path = tmp_path_factory.mktemp("rccd") / "swirl.rccd"
    assert cli.main(["compress", "--num-points", str(POINTS), "-q", "-o", str(path)]) == 0
    return path.read_bytes()


def _image(tmp_path, name, pixels):
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path


def _npy(tmp_path, name, array, allow_pickle=False):
    path = tmp_path / name
    with open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=allow_pickle)
    return path


# ------------------------------------------------------------------------------------ compress errors
@pytest.mark.parametrize("make_input, message", [
    (lambda d: d / "missing.npy", "cannot read"),
    (lambda d: d, "cannot read"),  # a directory
    (lambda d: (d / "t.txt").write_text("hello") and d / "t.txt", "neither a .npy file nor an image"),
    (lambda d: _npy(d, "f.npy", np.zeros((4, 2))), "uint8 array of shape (N, 2)"),
    (lambda d: _npy(d, "three.npy", np.zeros((4, 3), np.uint8)), "uint8 array of shape (N, 2)"),
    (lambda d: _npy(d, "flat.npy", np.zeros(8, np.uint8)), "uint8 array of shape (N, 2)"),
    (lambda d: _npy(d, "empty.npy", np.zeros((0, 2), np.uint8)), "N >= 1"),
    (lambda d: _npy(d, "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True), "is not a .npy file"),
    (lambda d: _npy(d, "img.npy", np.zeros((2, 4, 5), np.uint8)), "(3, H, W)"),
    (lambda d: _image(d, "a.png", np.zeros((4, 5, 4), np.uint8)), "transparent alpha"),
    (lambda d: _image(d, "i16.png", np.zeros((4, 5), np.uint16)), "pixel mode I"),
    (lambda d: (d / "cut.png").write_bytes(_image(d, "c.png", np.zeros((40, 50, 3), np.uint8)).read_bytes()[:60])
     and d / "cut.png", "damaged image"),
])
def test_compress_bad_input_is_one_line_before_work(tmp_path, capsys, no_work, make_input, message):
    inp = make_input(tmp_path)
    out = tmp_path / "out.rccd"
    rc, stdout, err = _run(["compress", "--input", inp, "-o", out], capsys)
    assert rc == 2 and stdout == ""
    _one_error_line(err)
    assert message in err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--num-points", "0"], "--num-points"), (["--num-points", "-3"], "--num-points"),
    (["--num-points", "x"], "--num-points"), (["--num-points", "5000"], "more than the 1024 points"),
    (["--steps", "0"], "--steps"), (["--seed", "-1"], "--seed"), (["--data-seed", "-1"], "--data-seed"),
    (["--chunk-bits", "0"], "--chunk-bits"), (["--chunk-bits", "nan"], "--chunk-bits"),
    (["--num-candidates", "0"], "--num-candidates"), (["--size-step", "0"], "--size-step"),
    (["--headroom-bits", "inf"], "--headroom-bits"), (["--channel", "zip"], "--channel"),
    (["--hierarchy", "vdm"], "--hierarchy"), (["--bogus"], "unrecognized"),
])
def test_compress_bad_argument_is_one_line_before_work(tmp_path, capsys, no_work, args, message):
    out = tmp_path / "out.rccd"
    rc, stdout, err = _run(["compress", *args, "-o", out], capsys)
    assert rc == 2 and stdout == ""
    _one_error_line(err)
    assert message in err
    assert not out.exists()


def test_unshipped_model_is_one_line(tmp_path, capsys):
    out = tmp_path / "out.rccd"
    rc, _, err = _run(["compress", "--steps", "7", "-o", out], capsys)
    assert rc == 2 and "shipped: " in err
    _one_error_line(err)
    assert not out.exists()


def test_existing_output_is_kept_without_force(tmp_path, capsys, no_work):
    out = tmp_path / "out.rccd"
    out.write_bytes(b"precious")
    rc, _, err = _run(["compress", "-o", out], capsys)
    assert rc == 2 and "already exists" in err and "--force" in err
    _one_error_line(err)
    assert out.read_bytes() == b"precious"
    for bad_out, message in ((tmp_path, "is a directory"), (tmp_path / "no" / "x.rccd", "no directory")):
        rc, _, err = _run(["compress", "-f", "-o", bad_out], capsys)
        assert rc == 2 and message in err


# ------------------------------------------------------------------------------------ compress / decompress
def test_compress_writes_the_name_given_and_messages_to_stderr(tmp_path, capsys, rccd):
    out = tmp_path / "points.bin"
    _npy(tmp_path, "in.npy", data.swirl()[:POINTS])
    rc, stdout, err = _run(["compress", "--input", tmp_path / "in.npy", "-o", out], capsys)
    assert rc == 0 and stdout == ""
    assert out.read_bytes() == rccd  # the same points, the same file
    assert f"wrote {out}" in err and "bits/dim" in err
    # -q: nothing at all; -f: overwrite
    rc, stdout, err = _run(["compress", "--num-points", POINTS, "-q", "-f", "-o", out], capsys)
    assert (rc, stdout, err) == (0, "", "")
    # decompress: exactly the name given, no .npy appended
    rec = tmp_path / "points.out"
    rc, stdout, err = _run(["decompress", out, "-o", rec], capsys)
    assert rc == 0 and stdout == "" and "losslessly" in err
    np.testing.assert_array_equal(np.load(rec), data.swirl()[:POINTS])
    assert not (tmp_path / "points.out.npy").exists()


def test_dash_is_stdin_and_stdout(tmp_path, capsysbinary, monkeypatch, rccd):
    _npy(tmp_path, "in.npy", data.swirl()[:POINTS])
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO((tmp_path / "in.npy").read_bytes())))
    assert cli.main(["compress", "--input", "-", "-q", "-o", "-"]) == 0
    out, err = capsysbinary.readouterr()
    assert out == rccd and err == b""
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(rccd)))
    assert cli.main(["decompress", "-", "-q", "-o", "-"]) == 0
    out, err = capsysbinary.readouterr()
    np.testing.assert_array_equal(np.load(io.BytesIO(out)), data.swirl()[:POINTS])


@pytest.mark.parametrize("content, message", [(None, "cannot read"), ("dir", "cannot read"),
                                              (b"", "not an rcc-diffusion file"),
                                              (b"\x93NUMPY not ours", "not an rcc-diffusion file")])
def test_decompress_bad_input_is_one_line_before_work(tmp_path, capsys, no_work, content, message):
    inp = tmp_path / "in.rccd"
    if content == "dir":
        inp = tmp_path
    elif content is not None:
        inp.write_bytes(content)
    out = tmp_path / "out.npy"
    rc, stdout, err = _run(["decompress", inp, "-o", out], capsys)
    assert rc == 2 and stdout == ""
    _one_error_line(err)
    assert message in err
    assert not out.exists()


def test_decompress_bad_steps_before_work(tmp_path, capsys, no_work, rccd):
    inp = tmp_path / "in.rccd"
    inp.write_bytes(rccd)
    for steps, message in (("0", "--steps"), ("6", "has only 5 steps"), ("1.5", "--steps")):
        rc, _, err = _run(["decompress", inp, "--steps", steps, "-o", tmp_path / "o.npy"], capsys)
        assert rc == 2 and message in err
        _one_error_line(err)
    assert not (tmp_path / "o.npy").exists()


def test_decompress_prefix_says_how_many_steps_it_holds(tmp_path, capsys, rccd):
    hdr = diffusion.codec.read_header(rccd)
    assert hdr["num_steps"] == 5
    model = diffusion.load_pretrained("uniform", 5)
    prefix_bytes = diffusion.codec.encode(model, data.swirl()[:POINTS]).prefix_bytes
    inp, out = tmp_path / "prefix.rccd", tmp_path / "coarse.npy"
    inp.write_bytes(rccd[: prefix_bytes[1]])  # steps 1 and 2
    rc, stdout, err = _run(["decompress", inp, "-o", out], capsys)
    assert rc == 0 and stdout == ""
    assert f"{inp} is a prefix: it holds 2 of 5 steps" in err
    rec = np.load(out)
    assert rec.dtype == np.uint8 and rec.shape == (POINTS, 2)
    # --steps limits the steps decoded; -q silences
    rc, stdout, err = _run(["decompress", inp, "--steps", "1", "-q", "-f", "-o", out], capsys)
    assert (rc, stdout, err) == (0, "", "")
    full = tmp_path / "full.rccd"
    full.write_bytes(rccd)
    rc, _, err = _run(["decompress", full, "--steps", "1", "-f", "-o", out], capsys)
    assert rc == 0 and "decoded 1 of 5 steps" in err
    assert np.load(out).shape == (POINTS, 2)


# ------------------------------------------------------------------------------------ other commands
def test_train_checks_outputs_before_training(tmp_path, capsys, no_work):
    export = tmp_path / "e.safetensors"
    export.write_bytes(b"x")
    rc, _, err = _run(["train", "--iters", "1", "--export", export], capsys)
    assert rc == 2 and "already exists" in err
    _one_error_line(err)
    state = tmp_path / "s.state"
    state.write_bytes(b"x")
    rc, _, err = _run(["train", "--iters", "1", "--state", state], capsys)
    assert rc == 2 and "--resume" in err
    for args in (["--iters", "0"], ["--steps", "0"], ["--lr", "-1"], ["--threads", "0"], ["--seed", "-1"],
                 ["--learned-variance", "maybe"]):
        rc, _, err = _run(["train", *args], capsys)
        assert rc == 2
        _one_error_line(err)


@pytest.mark.parametrize("cmd", ["report", "tradeoff", "demo"])
def test_out_must_be_a_directory(tmp_path, capsys, cmd, monkeypatch):
    import diffusion.report

    monkeypatch.setattr(diffusion.report, "demo", lambda *a, **k: pytest.fail("the demo ran"))
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = _run([cmd, "--out", f], capsys)
    assert rc == 2 and "not a directory" in err
    _one_error_line(err)


def test_demo_hands_its_arguments_to_the_report(tmp_path, capsys, monkeypatch):
    """`rcc-diffusion demo` (was `rcc demo`) runs diffusion.report.demo; messages on stderr."""
    import diffusion.report

    seen = {}
    monkeypatch.setattr(diffusion.report, "demo", lambda **kw: seen.update(kw))
    rc, out, err = _run(["demo", "--out", tmp_path, "--gaussian-channel", "orc"], capsys)
    assert rc == 0 and out == "" and "demo took" in err
    assert seen == {"out_dir": str(tmp_path), "gaussian_channel": "orc", "verbose": True}
    rc, _, err = _run(["demo", "--gaussian-channel", "uq"], capsys)
    assert rc == 2
    _one_error_line(err)


def test_image_report_hands_its_arguments_on(tmp_path, capsys, monkeypatch):
    import diffusion.image_report

    seen = {}
    monkeypatch.setattr(diffusion.image_report, "run_image_report", lambda **kw: seen.update(kw))
    rc, out, _ = _run(["report", "--data", "images", "--out", tmp_path, "--threads", "1", "-q"], capsys)
    assert rc == 0 and out == ""
    assert seen == {"out_dir": str(tmp_path), "threads": 1, "verbose": False}


def test_fuzz_hands_its_arguments_to_diffusion_fuzz(tmp_path, capsys, monkeypatch):
    """`rcc-diffusion fuzz` (was `rcc fuzz --diffusion`) calls diffusion.fuzz.run; its exit status
    is the run's; an existing --json is kept without -f."""
    import diffusion.fuzz

    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return 1

    monkeypatch.setattr(diffusion.fuzz, "run", fake_run)
    path = tmp_path / "f.json"
    assert cli.main(["fuzz", "--cases", "7", "--seed", "3", "--json", str(path), "-q"]) == 1
    assert seen == {"cases": 7, "seed": 3, "json_path": str(path), "progress": False}
    assert cli.main(["fuzz"]) == 1 and seen["cases"] == 200 and seen["seed"] == 0 and seen["progress"] is True
    path.write_text("precious")
    seen.clear()
    rc, _, err = _run(["fuzz", "--json", path], capsys)
    assert rc == 2 and "already exists" in err and seen == {} and path.read_text() == "precious"
    for bad in (["fuzz", "--cases", "0"], ["fuzz", "--seed", "-1"]):
        rc, _, err = _run(bad, capsys)
        assert rc == 2
        _one_error_line(err)


def test_version_in_process(capsys):
    rc, out, err = _run(["--version"], capsys)
    assert rc == 0 and out == "rcc-toolkit 0.1.0\n"


def test_python_m_diffusion_version_and_stdout_pipe(tmp_path, rccd):
    """`python -m diffusion` is `rcc-diffusion`; `-o -` puts only the file on stdout."""
    v = subprocess.run([sys.executable, "-m", "diffusion", "--version"], capture_output=True, text=True, timeout=120)
    assert v.returncode == 0 and v.stdout.strip() == "rcc-toolkit 0.1.0"
    p = subprocess.run([sys.executable, "-m", "diffusion", "compress", "--num-points", str(POINTS), "-o", "-"],
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == rccd  # progress and messages went to stderr
    assert b"bits/dim" in p.stderr
    e = subprocess.run([sys.executable, "-m", "diffusion", "decompress", str(tmp_path / "missing"), "-o", "x"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert e.returncode == 2 and e.stderr.startswith("rcc-diffusion: error: ") and e.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_size_multiple_flag_and_its_deprecated_name(tmp_path, capsys, monkeypatch):
    """--size-multiple reaches codec.encode(size_multiple=); --size-step still does, with a warning."""
    seen = []

    def fake_encode(model, x, **kwargs):
        seen.append(kwargs["size_multiple"])
        raise ValueError("stopped")

    monkeypatch.setattr(diffusion.codec, "encode", fake_encode)
    for flag, warned in (("--size-multiple", False), ("--size-step", True)):
        rc, _, err = _run(["compress", "--hierarchy", "gaussian", "--layout", "kl", flag, "3", "-o", tmp_path / "o"],
                          capsys)
        assert rc == 2 and err.endswith("rcc-diffusion: error: stopped\n")
        assert ("--size-step is deprecated; use --size-multiple" in err) == warned
    assert seen == [3, 3]


def test_decompress_max_elements_refuses_before_any_work(tmp_path, capsys, rccd, no_work):
    """A file of 32 x 2 values is refused by --max-elements 63 (one line, exit 2, no model loaded)."""
    inp = tmp_path / "in.rccd"
    inp.write_bytes(rccd)
    rc, _, err = _run(["decompress", inp, "--max-elements", "63", "-o", tmp_path / "o.npy"], capsys)
    assert rc == 2 and "max_elements=63" in err
    _one_error_line(err)
    assert not (tmp_path / "o.npy").exists()


def test_decompress_max_elements_admits_the_file(tmp_path, capsys, rccd):
    inp, out = tmp_path / "in.rccd", tmp_path / "o.npy"
    inp.write_bytes(rccd)
    rc, _, _ = _run(["decompress", inp, "--max-elements", "64", "-o", out], capsys)
    assert rc == 0 and np.array_equal(np.load(out), data.swirl()[:POINTS])


# ------------------------------------------------------------------------------------ images
def test_image_file_round_trip_png_to_png(tmp_path, capsys):
    from PIL import Image

    from diffusion.images import photo

    pixels = photo("chelsea")[:, 100:110, 200:212].transpose(1, 2, 0)
    src = _image(tmp_path, "crop.png", pixels)
    rc, out, err = _run(["compress", "--input", src, "--threads", "2", "-o", tmp_path / "crop.rccd"], capsys)
    assert rc == 0 and out == "" and "bits/dim (uq)" in err
    assert diffusion.codec.read_header((tmp_path / "crop.rccd").read_bytes())["shape"] == (1, 3, 10, 12)
    rc, out, err = _run(["decompress", tmp_path / "crop.rccd", "-o", tmp_path / "back.png"], capsys)
    assert rc == 0 and "decoded the image losslessly" in err
    back = Image.open(tmp_path / "back.png")
    assert back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), pixels)
    blob = (tmp_path / "crop.rccd").read_bytes()  # a prefix gives a PNG of its denoised reconstruction
    (tmp_path / "part.rccd").write_bytes(blob[:len(blob) // 2])
    rc, _, err = _run(["decompress", tmp_path / "part.rccd", "-o", tmp_path / "part.png"], capsys)
    assert rc == 0 and "is a prefix" in err and np.asarray(Image.open(tmp_path / "part.png")).shape == (10, 12, 3)


def test_grey_image_is_expanded_to_rgb_and_said(tmp_path, capsys):
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    rc, _, err = _run(["compress", "--input", _image(tmp_path, "g.png", grey), "-o", tmp_path / "g.rccd"], capsys)
    assert rc == 0 and "L pixels expanded to RGB" in err
    rc, _, _ = _run(["decompress", tmp_path / "g.rccd", "-o", tmp_path / "g.npy"], capsys)
    assert rc == 0
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), np.broadcast_to(grey, (1, 3, 6, 10)))


def test_png_output_of_points_is_one_line_before_work(tmp_path, capsys, rccd):
    (tmp_path / "s.rccd").write_bytes(rccd)
    rc, out, err = _run(["decompress", tmp_path / "s.rccd", "-o", tmp_path / "s.png"], capsys)
    assert rc == 2 and out == ""
    _one_error_line(err)
    assert "a PNG holds one image" in err and not (tmp_path / "s.png").exists()
