"""``rcc-diffusion`` (also ``python -m diffusion``): demo, train, compress, decompress, report,
tradeoff, fuzz.

    rcc-diffusion demo [--out out/demo]                    # the main job: both hierarchies, real files

    rcc-diffusion train --hierarchy uniform --steps 5 --iters 6000 --state runs/u5.state \\
        --export my_uniform_T5.safetensors
    rcc-diffusion compress --hierarchy uniform --steps 5 --channel uq -o swirl.rccd
    rcc-diffusion compress --input points.npy -o - > points.rccd      # uint8 (N, 2) .npy
    rcc-diffusion decompress swirl.rccd -o swirl.npy [--steps K]
    rcc-diffusion compress --input photo.png --hierarchy uniform --threads 2 -o photo.rccd   # images: T = 4
    rcc-diffusion decompress photo.rccd -o photo.png --threads 2
    head -c 300 swirl.rccd | rcc-diffusion decompress - -o coarse.npy  # a prefix: its first steps
    rcc-diffusion report --out out/ [--quick]
    rcc-diffusion report --data images --out out/images    # whole test photos, PNG and WebP
    rcc-diffusion fuzz --cases 200 [--seed S] [--json PATH]   # mutated files and prefixes

It behaves like gzip or zstd: a bad input or argument is one line on stderr
(``rcc-diffusion: error: ...``) and exit status 2, found before any work; an existing output is
kept unless ``-f/--force``; ``-`` is stdin for an input and stdout for ``-o``; messages and
progress bars go to stderr (``-q/--quiet``: errors only), so stdout carries only data.
``decompress`` loads the shipped model the file's header names (hierarchy and T; the image zoo
when S = (3, H, W)) unless ``--checkpoint`` is given.
"""
from __future__ import annotations

import argparse
import io
import math
import shlex
import sys
from pathlib import Path

from rcc.cli import UsageError, _check_output, _int, _machine, _Parser  # rcc's command-line conventions

__all__ = ["main"]

PROG = "rcc-diffusion"


def _float(positive: bool):
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
        if not math.isfinite(v) or (positive and not v > 0):
            raise argparse.ArgumentTypeError(f"must be a {'positive' if positive else 'finite'} number, got {s}")
        return v

    parse.__name__ = "positive number" if positive else "number"
    return parse


def _size_multiple(s: str):
    return s if s == "auto" else _int(1)(s)


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {s!r}")


# ------------------------------------------------------------------------------------ files
def _say(args, message: str) -> None:
    """A message for the user (stderr; nothing with --quiet)."""
    if not args.quiet:
        print(message, file=sys.stderr)


def _shown(name: str, std: str) -> str:
    """How a file name reads in a message (``-`` reads as stdin / stdout)."""
    return std if name == "-" else name


def _read_input(name: str) -> bytes:
    """All bytes of the file ``name`` (``-``: stdin)."""
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        with open(name, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def _write_output(name: str, data: bytes) -> None:
    """Write ``data`` to the file ``name`` (``-``: stdout), exactly under that name."""
    if name == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(name, "wb") as fh:
        fh.write(data)


def _npy_bytes(x) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, x, allow_pickle=False)
    return buf.getvalue()


def _png_bytes(img) -> bytes:
    """PNG bytes of the uint8 (3, H, W) image ``img``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img.transpose(1, 2, 0)).save(buf, format="PNG")
    return buf.getvalue()


def _read_image(raw: bytes, shown: str, args):
    """The uint8 (3, H, W) RGB pixels of an image file Pillow reads (PNG, BMP, TIFF, PPM, ...).

    Grey and palette images are expanded to RGB (said on stderr); an alpha channel that is not
    fully opaque, or more than 8 bits per sample, is refused: the file would not come back."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from .codec import MAX_ELEMENTS

    try:
        img = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UsageError(f"{shown} is neither a .npy file nor an image Pillow reads ({exc})") from None
    w, h = img.size
    if 3 * w * h > MAX_ELEMENTS:
        raise UsageError(f"{shown} is {w} x {h}: more than the {MAX_ELEMENTS} values a file can hold")
    if img.mode not in ("RGB", "RGBA", "L", "P", "LA", "PA"):
        raise UsageError(f"{shown} has pixel mode {img.mode}; only 8-bit RGB, grey or palette images are coded "
                         "losslessly")
    try:
        img.load()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{shown} is a damaged image ({exc})") from None
    if img.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            raise UsageError(f"{shown} has a transparent alpha channel, which this codec does not code")
    if img.mode != "RGB":
        _say(args, f"{shown}: {img.mode} pixels expanded to RGB (the decoded file is RGB)")
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


def _read_data(name: str, args):
    """What ``compress --input`` names: a .npy of uint8 swirl points (N, 2) or images (3, H, W) /
    (N, 3, H, W), or an image file; returns (array, "swirl" | "images")."""
    import numpy as np

    shown = _shown(name, "stdin")
    raw = _read_input(name)
    if not raw.startswith(b"\x93NUMPY"):
        return _read_image(raw, shown, args), "images"
    try:
        x = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{shown} is not a .npy file ({exc})") from None
    ok = isinstance(x, np.ndarray) and x.dtype == np.uint8
    kind = None
    if ok and x.ndim == 2 and x.shape[1] == 2:
        kind = "swirl"
    elif ok and (x.ndim == 3 or x.ndim == 4) and x.shape[-3] == 3:
        kind = "images"
    if kind is None or x.size == 0:
        what = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise UsageError(f"{shown} must hold a uint8 array of shape (N, 2) (swirl points) or (3, H, W) / "
                         f"(N, 3, H, W) (images) with N >= 1, got {what}")
    return x, kind


def _data_kind(shape) -> str:
    """The shipped models' data for a file of shape (N, *S): images have S = (3, H, W)."""
    return "images" if len(shape) == 4 and shape[1] == 3 else "swirl"


# ------------------------------------------------------------------------------------ commands
def _cmd_train(args) -> int:
    from .train import train

    if args.export is not None:
        _check_output(args.export, args.force)
    if args.state is not None and Path(args.state).exists() and not (args.resume or args.force):
        raise UsageError(f"{args.state} already exists (--resume continues it, -f/--force starts over)")
    if args.init is not None and not Path(args.init).is_file():
        raise UsageError(f"--init {args.init}: no such file")
    images = args.data == "images"
    command = "rcc-diffusion " + " ".join(shlex.quote(a) for a in args._argv)
    _, info = train(
        hierarchy=args.hierarchy,
        steps=args.steps,
        iters=args.iters,
        batch_size=args.batch_size or (32 if images else 512),
        lr=args.lr or (1e-3 if images else 2e-3),
        data=args.data,
        init=args.init,
        max_minutes=args.max_minutes,
        seed=args.seed,
        learned_variance=args.learned_variance,
        learned_schedule=args.learned_schedule,
        state_path=args.state,
        resume=args.resume,
        export_path=args.export,
        threads=args.threads,
        schedule_lr_mult=args.schedule_lr_mult,
        progress=not (args.no_progress or args.quiet),
        command=command,
    )
    _say(args,
         f"{args.hierarchy} T={args.steps}: EMA NELBO on the {info['nelbo_on']} {info['nelbo_bpd']:.4f} bits/dim "
         f"after {info['iterations']} iterations ({info['wall_seconds']:.0f} s"
         f"{', stopped early by --max-minutes' if info['stopped_early'] else ''}); "
         f"gamma(0), gamma(1) = {info['gamma_endpoints'][0]:.3f}, {info['gamma_endpoints'][1]:.3f}")
    return 0


def _load_model(args, hierarchy: str, steps: int, data: str):
    from . import load_checkpoint, load_pretrained

    if args.checkpoint:
        return load_checkpoint(args.checkpoint)
    return load_pretrained(hierarchy, steps, data=data)


def _cmd_compress(args) -> int:
    from . import codec
    from . import data as _data

    _check_output(args.output, args.force)
    if args.size_step is not None:
        print(f"{PROG}: warning: --size-step is deprecated; use --size-multiple", file=sys.stderr)
        args.size_multiple = args.size_step
    x, kind = _read_data(args.input, args) if args.input else (_data.swirl(seed=args.data_seed), "swirl")
    if x.ndim == 3:  # one image (3, H, W)
        x = x[None]
    if args.num_points is not None:
        if args.num_points > x.shape[0]:
            raise UsageError(f"--num-points {args.num_points} is more than the {x.shape[0]} "
                             f"{'images' if kind == 'images' else 'points'} of the input")
        x = x[: args.num_points]
    steps = args.steps or (4 if kind == "images" else 5)
    model = _load_model(args, args.hierarchy, steps, kind)
    res = codec.encode(model, x, channel=args.channel, seed=args.seed, chunk_bits=args.chunk_bits,
                       num_candidates=args.num_candidates, size_multiple=args.size_multiple, layout=args.layout,
                       headroom_bits=None if args.headroom_bits < 0 else args.headroom_bits,
                       progress=not args.quiet, threads=args.threads)
    _write_output(args.output, res.blob)
    n = x.size
    _say(args,
         f"wrote {_shown(args.output, 'stdout')}: {len(res.blob)} bytes = {8 * len(res.blob) / n:.4f} bits/dim "
         f"({res.channel}); z_1 {8 * res.prior_bytes / n:.4f}, steps {8 * sum(res.step_bytes) / n:.4f}, "
         f"data {8 * res.data_bytes / n:.4f}, header {8 * res.header_bytes / n:.4f} bits/dim; "
         f"KL {(res.prior_kl_bits + res.kl_bits_total) / n:.4f} bits/dim")
    _say(args, "progressive: z_1 and the first k steps decode from the first n bytes of the file: "
         + ", ".join(f"k={k}: {b}" for k, b in enumerate([res.head_bytes] + res.prefix_bytes)))
    return 0


def _cmd_decompress(args) -> int:
    from . import codec

    _check_output(args.output, args.force)
    shown = _shown(args.input, "stdin")
    blob = _read_input(args.input)
    try:
        hdr = codec.read_header(blob, max_elements=args.max_elements or codec.DEFAULT_MAX_ELEMENTS)
    except ValueError as exc:
        raise UsageError(f"{shown}: {exc}") from None
    T = hdr["num_steps"]
    if args.steps is not None and args.steps > T:
        raise UsageError(f"--steps {args.steps}: {shown} has only {T} steps")
    kind = _data_kind(hdr["shape"])
    png = args.output.lower().endswith(".png")
    if png and (kind != "images" or hdr["shape"][0] != 1):
        raise UsageError(f"-o {args.output}: a PNG holds one image; {shown} holds data of shape {hdr['shape']} "
                         "(write a .npy)")
    # default: the shipped model the header names
    model = _load_model(args, hdr["hierarchy"], T, kind)
    out = codec.decode(blob, model, num_steps=args.steps, reconstruct=True,
                       max_elements=args.max_elements or codec.DEFAULT_MAX_ELEMENTS, threads=args.threads)

    def encoded(x) -> bytes:
        return _png_bytes(x[0]) if png else _npy_bytes(x)

    if out.complete:
        _write_output(args.output, encoded(out.x))
        what = "image" if kind == "images" and out.x.shape[0] == 1 else ("images" if kind == "images" else "points")
        _say(args, f"decoded {'the' if what == 'image' else out.x.shape[0]} {what} losslessly into "
                   f"{_shown(args.output, 'stdout')}")
        return 0
    if args.steps is None:
        _say(args, f"{shown} is a prefix: it holds {out.steps_decoded} of {out.num_steps} steps")
    _write_output(args.output, encoded(out.denoised))
    _say(args, f"decoded {out.steps_decoded} of {out.num_steps} steps; denoised reconstruction (uint8) "
               f"in {_shown(args.output, 'stdout')}")
    return 0


def _check_out_dir(name: str) -> None:
    if Path(name).exists() and not Path(name).is_dir():
        raise UsageError(f"--out {name} exists and is not a directory")


def _cmd_report(args) -> int:
    from .report import run_report

    _check_out_dir(args.out)
    if args.data == "images":
        from .image_report import run_image_report

        run_image_report(out_dir=args.out, threads=args.threads, verbose=not args.quiet)
        return 0
    run_report(out_dir=args.out, quick=args.quick, gaussian_channel=args.gaussian_channel, verbose=not args.quiet)
    return 0


def _cmd_demo(args) -> int:
    import time

    from .report import demo

    _check_out_dir(args.out)
    t0 = time.perf_counter()
    demo(out_dir=args.out, gaussian_channel=args.gaussian_channel, verbose=not args.quiet)
    _say(args, f"# plots and JSON in {args.out}/")
    _say(args, f"# demo took {time.perf_counter() - t0:.0f} s on {_machine()}")
    return 0


def _cmd_fuzz(args) -> int:
    from .fuzz import run

    if args.json is not None:
        _check_output(args.json, args.force)
    return run(cases=args.cases, seed=args.seed, json_path=args.json, progress=not args.quiet)


def _cmd_tradeoff(args) -> int:
    from .report import truncation_tradeoff

    _check_out_dir(args.out)
    truncation_tradeoff(out_dir=args.out, steps=args.steps, seed=args.seed, grid=args.grid, verbose=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    import rcc

    from .codec import (CHANNELS, DEFAULT_CHUNK_BITS, DEFAULT_HEADROOM_BITS, DEFAULT_LAYOUT, DEFAULT_NUM_CANDIDATES,
                        DEFAULT_SIZE_MULTIPLE)

    p = _Parser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"rcc-toolkit {rcc.__version__}")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    common.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    m = sub.add_parser("demo", help="compress the swirl data with both hierarchies from the shipped checkpoints: "
                                    "real files, lossless round trips, plots and JSON", parents=[common])
    m.add_argument("--out", default="out/demo",
                   help="directory for plots and JSON (default out/demo; its files are regenerated)")
    m.add_argument("--gaussian-channel", default="pfr", choices=["pfr", "orc", "mrc", "ideal"],
                   help="rcc channel for the Gaussian hierarchy's steps (default pfr)")
    m.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a hierarchy on swirl points or photo crops (CPU)", parents=[common])
    t.add_argument("--hierarchy", choices=["gaussian", "uniform"], default="uniform")
    t.add_argument("--steps", type=_int(1), default=5, help="number of diffusion steps T")
    t.add_argument("--data", choices=["swirl", "images"], default="swirl",
                   help="swirl points, or 32 x 32 crops of the training photos (default swirl)")
    t.add_argument("--iters", type=_int(1), default=6000)
    t.add_argument("--batch-size", type=_int(1), default=None, help="default 512 (swirl) / 32 (images)")
    t.add_argument("--lr", type=_float(positive=True), default=None, help="default 2e-3 (swirl) / 1e-3 (images)")
    t.add_argument("--init", metavar="CHECKPOINT", help="warm start from this checkpoint (same network, any T)")
    t.add_argument("--max-minutes", type=_float(positive=True), default=None,
                   help="stop early (state and export written) after this much wall time")
    t.add_argument("--seed", type=_int(0), default=0)
    t.add_argument("--learned-variance", type=_bool, default=True)
    t.add_argument("--learned-schedule", type=_bool, default=True)
    t.add_argument("--state", help="resumable training-state file (safetensors)")
    t.add_argument("--resume", action="store_true", help="continue from --state if it exists")
    t.add_argument("--export", help="write the shipped EMA checkpoint (safetensors, float16) here")
    t.add_argument("--threads", type=_int(1), default=1)
    t.add_argument("--schedule-lr-mult", type=_float(positive=True), default=10.0,
                   help="lr multiplier of gamma's end points")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (messages stay)")
    t.set_defaults(func=_cmd_train)

    c = sub.add_parser("compress", help="compress an image file or a uint8 .npy (default: seed-0 swirl)",
                       parents=[common])
    c.add_argument("--hierarchy", choices=["gaussian", "uniform"], default="uniform")
    c.add_argument("--steps", type=_int(1), default=None,
                   help="T of the shipped checkpoint (default 5 for swirl, 4 for images)")
    c.add_argument("--checkpoint", help="checkpoint file (default: the shipped one)")
    c.add_argument("--input", help="an image file (PNG, BMP, TIFF, ...: 8-bit RGB, grey or palette), or a .npy "
                                   "of uint8 points (N, 2) or images (3, H, W) / (N, 3, H, W); - for stdin; "
                                   "default the swirl set")
    c.add_argument("--data-seed", type=_int(0), default=0, help="seed of the swirl set (without --input)")
    c.add_argument("--num-points", type=_int(1), help="compress only the first N points (or images of a .npy)")
    c.add_argument("--channel", choices=CHANNELS, default=None, help="default: uq (uniform) / pfr (gaussian)")
    c.add_argument("--chunk-bits", type=_float(positive=True), default=DEFAULT_CHUNK_BITS,
                   help="KL per chunk (chunked channels)")
    c.add_argument("--layout", choices=["even", "kl"], default=DEFAULT_LAYOUT,
                   help="chunks of equal size (even, no sizes sent) or of about chunk-bits of KL each (kl)")
    c.add_argument("--size-multiple", type=_size_multiple, default=DEFAULT_SIZE_MULTIPLE,
                   help="kl layout: chunk sizes are multiples of it (an int >= 1, or auto: per step from its KL)")
    c.add_argument("--size-step", type=_size_multiple, dest="size_step", default=None,
                   help="deprecated name of --size-multiple (goes in the next release)")
    c.add_argument("--headroom-bits", type=_float(positive=False), default=DEFAULT_HEADROOM_BITS,
                   help="pfr: at most 2^ceil(KL_chunk + h) candidates per chunk (negative: off)")
    c.add_argument("--num-candidates", type=_int(1), default=None,
                   help=f"per chunk (chunked channels; default {DEFAULT_NUM_CANDIDATES})")
    c.add_argument("--seed", type=_int(0), default=0, help="shared seed, stored in the file")
    c.add_argument("--threads", type=_int(1), default=1, help="torch threads (the file is the same for any count)")
    c.add_argument("-o", "--output", required=True, help="output file (- for stdout)")
    c.set_defaults(func=_cmd_compress)

    d = sub.add_parser("decompress", help="decode a file, or the steps a byte prefix of one holds", parents=[common])
    d.add_argument("input", help="an rcc-diffusion file or a byte prefix of one (- for stdin)")
    d.add_argument("--checkpoint", help="checkpoint file (default: the shipped one the file names)")
    d.add_argument("--steps", type=_int(1), metavar="K",
                   help="decode only the first K steps; write their denoised reconstruction")
    d.add_argument("--max-elements", type=_int(1), default=None, metavar="N",
                   help="refuse a file that declares more than N values (points x dimensions; default "
                        "2^24): a decoder's work grows with it, so raise it only for files you trust")
    d.add_argument("--threads", type=_int(1), default=1, help="torch threads (any count decodes any file)")
    d.add_argument("-o", "--output", required=True,
                   help="output: a .png for a file of one image, else a .npy (uint8 (N, *S)); the data, or the "
                        "denoised reconstruction of a prefix; - for stdout (.npy)")
    d.set_defaults(func=_cmd_decompress)

    r = sub.add_parser("report", help="tables and plots of real bits vs KL / NELBO", parents=[common])
    r.add_argument("--out", default="out", help="output directory (default out/; its files are regenerated)")
    r.add_argument("--quick", action="store_true", help="fewer configurations (about a minute)")
    r.add_argument("--data", choices=["swirl", "images"], default="swirl",
                   help="swirl (every shipped swirl checkpoint) or images (whole test photos, PNG and WebP; "
                        "about 15 minutes)")
    r.add_argument("--threads", type=_int(1), default=2, help="torch threads (images)")
    r.add_argument("--gaussian-channel", default="pfr", choices=["pfr", "orc", "mrc", "ideal"],
                   help="rcc method for Gaussian steps")
    r.set_defaults(func=_cmd_report)

    o = sub.add_parser("tradeoff", help="bits, bias and time of truncated chunked channels (Gaussian), one plot",
                       parents=[common])
    o.add_argument("--out", default="out/tradeoff", help="output directory (default out/tradeoff)")
    o.add_argument("--steps", type=_int(1), default=5, help="Gaussian checkpoint T (default 5)")
    o.add_argument("--seed", type=_int(0), default=0, help="file seed of every run and of the ideal chain (default 0)")
    o.add_argument("--grid", choices=["full", "layouts"], default="full",
                   help="full: every truncation setting; layouts: the earlier default against even 12 / 10")
    o.set_defaults(func=_cmd_tradeoff)

    z = sub.add_parser("fuzz", help="mutated files, prefixes and crafted headers against the decoder; counts of "
                                    "outcomes (exit 1 if a case failed)", parents=[common])
    z.add_argument("--cases", type=_int(1), default=200, help="number of cases (default 200)")
    z.add_argument("--seed", type=_int(0), default=0, help="seed of the mutations (default 0)")
    z.add_argument("--json", metavar="PATH", help="also write the counts as JSON (kept unless -f)")
    z.set_defaults(func=_cmd_fuzz)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (0, or 2 for a user error, reported as one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and argument errors (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    args._argv = argv
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError) as exc:  # ValueError: the library's validation, rcc.DecodeError
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # writing the output failed (disk full, permissions)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
