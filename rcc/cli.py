"""Command line: ``rcc bench`` (coding-cost tables, ``--speed`` for throughput ratios) and
``rcc fuzz`` (mutated and crafted inputs against every decoder). The diffusion demo is
``rcc-diffusion demo`` (:mod:`diffusion.cli`): ``rcc`` needs no torch and never imports
``diffusion``.

Also runs as ``python -m rcc``. Like gzip: a bad argument or output is one line on stderr
(``rcc: error: ...``) and exit status 2, found before any work; an existing ``--json`` or
``--plot`` file is kept unless ``-f/--force``. ``rcc bench --plot PATH`` (.png, .pdf, .svg) draws
the suite's rows with matplotlib (optional: without it, ``--plot`` is refused before any work).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

__all__ = ["main"]

PROG = "rcc"


class UsageError(Exception):
    """A user error found by the command line itself: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with gzip-style errors: one line ``<program>: error: ...``, exit status 2
    (shared with ``rcc-diffusion``)."""

    def error(self, message):
        self.exit(2, f"{self.prog.split()[0]}: error: {message}\n")


def _int(minimum: int):
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {v}")
        return v

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _check_output(name: str | None, force: bool) -> None:
    """Refuse, before any work, an output that cannot or should not be written (None: no output;
    ``-``: stdout, refused on a terminal without ``force``)."""
    if name is None:
        return
    if name == "-":
        if sys.stdout.isatty() and not force:
            raise UsageError("refusing to write binary data to a terminal (redirect stdout, or -f)")
        return
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"{name} is a directory")
    if path.exists() and not force:
        raise UsageError(f"{name} already exists (use -f/--force to overwrite it)")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {name}: no directory {path.parent}")

_COLUMNS = [
    ("method", "method", "{}"),
    ("kl_bits", "KL", "{:.2f}"),
    ("dinf_bits", "D_inf", "{:.2f}"),
    ("dcs_bits", "D_CS", "{:.2f}"),
    ("bits", "bits", "{:.2f}"),
    ("total_bits", "+header", "{:.1f}"),
    ("bound_bits", "bound", "{:.2f}"),
    ("e_log2_index", "E log2K|info", "{:.2f}"),
    ("candidates", "candidates", "{:.4g}"),
    ("encode_ms", "enc ms", "{:.2f}"),
    ("decode_ms", "dec ms", "{:.2f}"),
    ("bias", "bias", "{}"),
    ("tv_bound", "P(K>N)", "{:.2g}"),
]


def _fmt(value, spec: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return spec.format(value)


def format_table(rows: list[dict], columns=_COLUMNS) -> str:
    """Plain-text table of benchmark rows (missing values print as '-')."""
    header = [title for _, title, _ in columns]
    body = [[_fmt(row.get(key, math.nan), spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def _machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _suite(args, bench) -> tuple[str, list[str], list[dict], list | None]:
    """Run the chosen suite: (title, comment lines, rows, columns or None for the core columns)."""
    quick = args.quick
    if args.speed:
        rows = bench.speed_rows()
        cols = [("what", "what", "{}"), ("rate_per_s", "per second", "{:.3g}"),
                ("ratio_to_numpy_normal", "ratio to numpy normal", "{:.2f}"), ("seconds", "seconds", "{:.2e}"),
                ("ratio", "time ratio", "{:.2f}")]
        return "--speed", [], rows, cols
    if args.suite == "categorical":
        rows = bench.categorical_rows(num_targets=2 if quick else 4, num_runs=300 if quick else 2000,
                                      log2_candidates=(0, 4, 8) if quick else (0, 2, 4, 6, 8, 10))
        cols = [("method", "method", "{}"), ("N", "N", "{}"), ("kl_bits", "KL", "{:.2f}"), ("tv", "TV", "{:.3f}"),
                ("index_entropy_bits", "H(index)", "{:.2f}"), ("bits", "bits", "{:.2f}")]
        notes = ["Theis & Yosri (2022): 8192 categories, uniform prior, q ~ Dirichlet(0.01); TV of the",
                 "decoded-sample histogram against q (mean over targets) vs index entropy and real bits"]
        return "--suite categorical", notes, rows, cols
    if args.suite == "equal-variance":
        rows = bench.equal_variance_rows(kls=(4, 8) if quick else (4, 8, 12, 14), num_seeds=50 if quick else 200)
        cols = [("method", "method", "{}"), ("kl_bits", "KL", "{:.0f}"), ("dcs_bits", "D_CS", "{:.2f}"), ("N", "N", "{}"),
                ("bits", "bits", "{:.2f}"), ("mean_ratio", "mean/mu", "{:.3f}"), ("var", "var", "{:.3f}"),
                ("tv_bound", "P(K>N)", "{:.2g}"), ("encode_ms", "enc ms", "{:.2f}")]
        notes = ["q = N(mu, 1), p = N(0, 1), D_inf infinite: truncated PFR, ORC and MRC with N candidates;",
                 "bias: decoded mean / mu and variance (both 1 when exact); P(K>N): PFR's TV bound",
                 "(the exact race's index beyond N); D_CS: the least any exact scheme pays (Goc & Flamich)"]
        return "--suite equal-variance", notes, rows, cols
    if args.suite == "hybrid":
        rows = bench.hybrid_rows(num_seeds=100 if quick else 1000)
        cols = [("method", "method", "{}"), ("target", "q", "{}"), ("kl_bits", "KL", "{:.2f}"), ("bits", "bits", "{:.2f}"),
                ("candidates", "candidates", "{:.1f}"), ("candidate_ratio", "PFR/this", "{:.1f}"),
                ("encode_ms", "enc ms", "{:.2f}"), ("bias", "bias", "{}")]
        return "--suite hybrid", ["p = N(0, 1); exact PFR vs hybrid coding with M bins: bits and candidates scored"], rows, cols
    if args.suite == "compress":
        rows = bench.compress_rows(dim=1024 if quick else 4096, num_seeds=2 if quick else 4)
        cols = [("method", "method", "{}"), ("kl_bits", "KL", "{:.0f}"), ("dcs_bits", "D_CS", "{:.0f}"),
                ("bits", "bits", "{:.0f}"), ("bits_per_kl", "bits/KL", "{:.3f}"), ("header_bits", "header", "{:.0f}"), ("chunks", "chunks", "{:.0f}"),
                ("candidates", "candidates", "{:.3g}"), ("encode_ms", "enc ms", "{:.0f}"), ("decode_ms", "dec ms", "{:.1f}"),
                ("bias", "bias", "{}")]
        notes = ["one Gaussian posterior q = N(mu, 0.5^2 I), p = N(0, I) through rcc.compress, chunk_bits = 8;",
                 "D_CS: sum over the chunks of seed 0's message of D_CS[q_c || p_c], 16 chunks exact and scaled",
                 "bias: mean standardised projection on the mean shift (0 when exact)"]
        return "--suite compress", notes, rows, cols
    seeds = 40 if quick else args.seeds
    rows = bench.uq_rows(num_elements=10_000 if quick else 100_000)
    rows += bench.pfr_rows(num_seeds=seeds, kls=(0.5, 2.0, 8.0) if quick else (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0))
    rows += bench.pfr_truncated_rows(num_seeds=max(seeds // 2, 10), log2_candidates=(10, 12) if quick else (14, 17, 20))
    notes = ["bits: mean payload bits per message (UQ: per element); +header: with container header and CRC",
             "bound: PFR KL + log2(KL+1) + 4 (Li & El Gamal); UQ I(X; X+U) per element",
             "D_CS: the least any exact scheme pays for the pair (Goc & Flamich 2024); P(K>N): TV bound of the cut race",
             "E log2K|info: PFR E[log2 index]; UQ information content -log2 P(k|dither) per element"]
    return "", notes, rows, None


def _check_plot(name: str | None, force: bool) -> None:
    """Refuse, before any work, a ``--plot`` path with an unknown extension, an existing file
    (without ``force``), or a missing matplotlib."""
    if name is None:
        return
    from .bench import PLOT_SUFFIXES

    if Path(name).suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {name}: unknown extension (use one of {', '.join(PLOT_SUFFIXES)})")
    _check_output(name, force)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib (pip install matplotlib)") from None


def _bench(args) -> int:
    from . import bench

    _check_output(args.json, args.force)
    _check_plot(args.plot, args.force)
    title, notes, rows, cols = _suite(args, bench)
    print(f"# rcc bench{' ' + title if title else ''}  ({_machine()})")
    for line in notes:
        print(f"# {line}")
    print(format_table(rows) if cols is None else format_table(rows, cols))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": _machine(), "rows": rows}, f, indent=1, default=str)
    if args.plot:
        suite = "speed" if args.speed else args.suite
        bench.plot_rows(suite, rows, args.plot, title=f"rcc bench{' ' + title if title else ''}{' --quick' if args.quick else ''}  ({_machine()})")
    return 0


def _fuzz(args) -> int:
    from .fuzz import run

    _check_output(args.json, args.force)
    return run(cases=args.cases, seed=args.seed, json_path=args.json, progress=not args.quiet)


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (0; 2 for a user error, reported as one line on stderr; ``rcc fuzz``: 1 if a case failed)."""
    from . import __version__

    parser = _Parser(prog=PROG, description="reverse channel coding with real bitstreams")
    parser.add_argument("--version", action="version", version=f"rcc-toolkit {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or tables; errors only")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    b = sub.add_parser("bench", help="real bits vs KL for each channel, bias diagnostics, timing")
    b.add_argument("--speed", action="store_true", help="throughput ratios against numpy instead of bits")
    b.add_argument("--suite", choices=["core", "categorical", "equal-variance", "hybrid", "compress"], default="core",
                   help="core: UQ and PFR bits vs bounds (default); categorical: Theis & Yosri's experiment; "
                        "equal-variance: truncated PFR/ORC/MRC bits and bias; hybrid: candidates vs PFR; compress: a d=4096 posterior through rcc.compress")
    b.add_argument("--quick", action="store_true", help="small grid (seconds), for smoke tests")
    b.add_argument("--seeds", type=_int(1), default=200, help="messages per PFR row (default 200)")
    b.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    b.add_argument("--plot", metavar="PATH", help="also draw the rows as a figure (.png, .pdf or .svg; needs matplotlib)")
    b.add_argument("-f", "--force", action="store_true", help="overwrite an existing --json or --plot file")
    b.set_defaults(func=_bench)
    f = sub.add_parser("fuzz", help="mutated and crafted inputs against every decoder; counts of outcomes",
                       parents=[common])
    f.add_argument("--cases", type=_int(1), default=2000, help="number of cases (default 2000)")
    f.add_argument("--seed", type=_int(0), default=0, help="seed of the mutations (default 0)")
    f.add_argument("--json", metavar="PATH", help="also write the counts as JSON")
    f.add_argument("-f", "--force", action="store_true", help="overwrite an existing --json file")
    f.set_defaults(func=_fuzz)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and argument errors (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
