"""``rcc-diffusion``: train, compress, decompress, report.

    rcc-diffusion train --hierarchy uniform --steps 5 --iters 6000 --state runs/u5.pt \\
        --export diffusion/checkpoints/uniform_T5.pt
    rcc-diffusion compress --hierarchy uniform --steps 5 --channel uq -o swirl.rccd
    rcc-diffusion decompress swirl.rccd -o swirl.npy [--prefix K]
    rcc-diffusion report --out out/ [--quick]
"""
from __future__ import annotations

import argparse
import shlex
import sys

__all__ = ["main"]


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {s!r}")


def _cmd_train(args) -> int:
    from .train import train

    command = "rcc-diffusion " + " ".join(shlex.quote(a) for a in args._argv)
    _, info = train(
        hierarchy=args.hierarchy,
        steps=args.steps,
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        learned_variance=args.learned_variance,
        learned_schedule=args.learned_schedule,
        state_path=args.state,
        resume=args.resume,
        export_path=args.export,
        threads=args.threads,
        schedule_lr_mult=args.schedule_lr_mult,
        progress=not args.no_progress,
        command=command,
    )
    print(
        f"{args.hierarchy} T={args.steps}: EMA NELBO on seed-0 swirl {info['nelbo_bpd']:.4f} bits/dim "
        f"after {info['iterations']} iterations ({info['wall_seconds']:.0f} s); "
        f"gamma(0), gamma(1) = {info['gamma_endpoints'][0]:.3f}, {info['gamma_endpoints'][1]:.3f}"
    )
    return 0


def _load_model(args):
    from . import load_checkpoint, load_pretrained

    if args.checkpoint:
        return load_checkpoint(args.checkpoint)
    return load_pretrained(args.hierarchy, args.steps)


def _cmd_compress(args) -> int:
    import numpy as np

    from . import codec
    from . import data as _data

    model = _load_model(args)
    x = np.load(args.input) if args.input else _data.swirl(seed=args.data_seed)
    if args.num_points:
        x = x[: args.num_points]
    if x.dtype != "uint8" or x.ndim != 2:
        raise ValueError(f"input must be a uint8 array of shape (N, 2), got {x.dtype} {x.shape}")
    res = codec.encode(model, x, channel=args.channel, seed=args.seed, chunk_bits=args.chunk_bits,
                       num_candidates=args.num_candidates, size_step=args.size_step, layout=args.layout,
                       headroom_bits=None if args.headroom_bits < 0 else args.headroom_bits)
    with open(args.output, "wb") as fh:
        fh.write(res.blob)
    n = x.size
    print(
        f"wrote {args.output}: {len(res.blob)} bytes = {8 * len(res.blob) / n:.4f} bits/dim "
        f"({res.channel}); steps {8 * sum(res.step_bytes) / n:.4f}, data {8 * res.data_bytes / n:.4f}, "
        f"header {8 * res.header_bytes / n:.4f} bits/dim; KL {res.kl_bits_total / n:.4f} bits/dim"
    )
    print("progressive: the first k steps decode from the first n bytes (--prefix k --truncated): "
          + ", ".join(f"k={k + 1}: {b}" for k, b in enumerate(res.prefix_bytes)))
    return 0


def _cmd_decompress(args) -> int:
    import numpy as np

    from . import codec

    from . import load_checkpoint, load_pretrained

    with open(args.input, "rb") as fh:
        blob = fh.read()
    hdr = codec.read_header(blob)
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
    else:  # the shipped model the header names
        model = load_pretrained(hdr["hierarchy"], hdr["num_steps"])
    if args.truncated and args.prefix is None:
        raise ValueError("--truncated needs --prefix K: a byte prefix of a file decodes its first steps, never the data")
    out = codec.decode(blob, model, num_steps=args.prefix, reconstruct=args.prefix is not None,
                       check_crc=not args.truncated)
    if out.x is not None:
        np.save(args.output, out.x)
        print(f"decoded {out.x.shape[0]} points losslessly into {args.output}")
    else:
        np.save(args.output, out.denoised)
        print(f"decoded {out.steps_decoded} of {out.num_steps} steps; denoised reconstruction (uint8) in {args.output}")
    return 0


def _cmd_report(args) -> int:
    from .report import run_report

    run_report(out_dir=args.out, quick=args.quick, gaussian_channel=args.gaussian_channel)
    return 0


def _cmd_tradeoff(args) -> int:
    from .report import truncation_tradeoff

    truncation_tradeoff(out_dir=args.out, steps=args.steps, seed=args.seed, grid=args.grid)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .codec import (DEFAULT_CHUNK_BITS, DEFAULT_HEADROOM_BITS, DEFAULT_LAYOUT, DEFAULT_NUM_CANDIDATES,
                        DEFAULT_SIZE_STEP)
    p = argparse.ArgumentParser(prog="rcc-diffusion", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a hierarchy on swirl (CPU)")
    t.add_argument("--hierarchy", choices=["gaussian", "uniform"], default="uniform")
    t.add_argument("--steps", type=int, default=5, help="number of diffusion steps T")
    t.add_argument("--iters", type=int, default=6000)
    t.add_argument("--batch-size", type=int, default=512)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--learned-variance", type=_bool, default=True)
    t.add_argument("--learned-schedule", type=_bool, default=True)
    t.add_argument("--state", help="resumable training-state file")
    t.add_argument("--resume", action="store_true", help="continue from --state if it exists")
    t.add_argument("--export", help="write the shipped EMA checkpoint (float16) here")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--schedule-lr-mult", type=float, default=10.0, help="lr multiplier of gamma's end points")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)

    def model_args(q):
        q.add_argument("--hierarchy", choices=["gaussian", "uniform"], default="uniform")
        q.add_argument("--steps", type=int, default=5)
        q.add_argument("--checkpoint", help="checkpoint file (default: the shipped one)")

    c = sub.add_parser("compress", help="compress a uint8 (N, 2) .npy (default: seed-0 swirl)")
    model_args(c)
    c.add_argument("--input", help=".npy file of uint8 (N, 2); default the swirl set")
    c.add_argument("--data-seed", type=int, default=0)
    c.add_argument("--num-points", type=int)
    c.add_argument("--channel", default=None, help="uq | ideal | pfr | orc | mrc (default: uq / pfr)")
    c.add_argument("--chunk-bits", type=float, default=DEFAULT_CHUNK_BITS, help="KL per chunk (chunked channels)")
    c.add_argument("--layout", choices=["even", "kl"], default=DEFAULT_LAYOUT,
                   help="chunks of equal size (even, no sizes sent) or of about chunk-bits of KL each (kl)")
    c.add_argument("--size-step", type=lambda v: v if v == "auto" else int(v), default=DEFAULT_SIZE_STEP,
                   help="kl layout: chunk sizes are multiples of it (an int, or auto: per step from its KL)")
    c.add_argument("--headroom-bits", type=float, default=DEFAULT_HEADROOM_BITS,
                   help="pfr: at most 2^ceil(KL_chunk + h) candidates per chunk (negative: off)")
    c.add_argument("--num-candidates", type=int, default=None,
                   help=f"per chunk (chunked channels; default {DEFAULT_NUM_CANDIDATES})")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("-o", "--output", required=True)
    c.set_defaults(func=_cmd_compress)

    d = sub.add_parser("decompress", help="decode a file (or its first K steps)")
    d.add_argument("input")
    d.add_argument("--checkpoint", help="checkpoint file (default: the shipped one the file names)")
    d.add_argument("--prefix", type=int, help="decode only the first K steps (progressive)")
    d.add_argument("--truncated", action="store_true",
                   help="the input is a byte prefix of a file (no CRC to check); use with --prefix")
    d.add_argument("-o", "--output", required=True)
    d.set_defaults(func=_cmd_decompress)

    r = sub.add_parser("report", help="tables and plots of real bits vs KL / NELBO")
    r.add_argument("--out", default="out", help="output directory (default out/)")
    r.add_argument("--quick", action="store_true", help="fewer configurations (about a minute)")
    r.add_argument("--gaussian-channel", default="pfr", help="rcc method for Gaussian steps")
    r.set_defaults(func=_cmd_report)

    o = sub.add_parser("tradeoff", help="bits, bias and time of truncated chunked channels (Gaussian), one plot")
    o.add_argument("--out", default="out/tradeoff", help="output directory (default out/tradeoff)")
    o.add_argument("--steps", type=int, default=5, help="Gaussian checkpoint T (default 5)")
    o.add_argument("--seed", type=int, default=0, help="file seed of every run and of the ideal chain (default 0)")
    o.add_argument("--grid", choices=["full", "layouts"], default="full",
                   help="full: every truncation setting; layouts: the earlier default against even 12 / 10")
    o.set_defaults(func=_cmd_tradeoff)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args._argv = argv
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"rcc-diffusion: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
