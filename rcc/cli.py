"""Command line: ``rcc demo`` (diffusion compression of the swirl data, the main job) and
``rcc bench`` (coding-cost tables, ``--speed`` for throughput ratios).

Also runs as ``python -m rcc``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys

__all__ = ["main"]

_COLUMNS = [
    ("method", "method", "{}"),
    ("kl_bits", "KL", "{:.2f}"),
    ("dinf_bits", "D_inf", "{:.2f}"),
    ("bits", "bits", "{:.2f}"),
    ("total_bits", "+header", "{:.1f}"),
    ("bound_bits", "bound", "{:.2f}"),
    ("e_log2_index", "E log2K|info", "{:.2f}"),
    ("candidates", "candidates", "{:.4g}"),
    ("encode_ms", "enc ms", "{:.2f}"),
    ("decode_ms", "dec ms", "{:.2f}"),
    ("bias", "bias", "{}"),
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
        cols = [("method", "method", "{}"), ("kl_bits", "KL", "{:.0f}"), ("N", "N", "{}"), ("bits", "bits", "{:.2f}"),
                ("mean_ratio", "mean/mu", "{:.3f}"), ("var", "var", "{:.3f}"), ("encode_ms", "enc ms", "{:.2f}")]
        notes = ["q = N(mu, 1), p = N(0, 1), D_inf infinite: truncated PFR, ORC and MRC with N candidates;",
                 "bias: decoded mean / mu and variance (both 1 when exact)"]
        return "--suite equal-variance", notes, rows, cols
    if args.suite == "hybrid":
        rows = bench.hybrid_rows(num_seeds=100 if quick else 1000)
        cols = [("method", "method", "{}"), ("target", "q", "{}"), ("kl_bits", "KL", "{:.2f}"), ("bits", "bits", "{:.2f}"),
                ("candidates", "candidates", "{:.1f}"), ("candidate_ratio", "PFR/this", "{:.1f}"),
                ("encode_ms", "enc ms", "{:.2f}"), ("bias", "bias", "{}")]
        return "--suite hybrid", ["p = N(0, 1); exact PFR vs hybrid coding with M bins: bits and candidates scored"], rows, cols
    if args.suite == "compress":
        rows = bench.compress_rows(dim=1024 if quick else 4096, num_seeds=2 if quick else 4)
        cols = [("method", "method", "{}"), ("kl_bits", "KL", "{:.0f}"), ("bits", "bits", "{:.0f}"),
                ("bits_per_kl", "bits/KL", "{:.3f}"), ("header_bits", "header", "{:.0f}"), ("chunks", "chunks", "{:.0f}"),
                ("candidates", "candidates", "{:.3g}"), ("encode_ms", "enc ms", "{:.0f}"), ("decode_ms", "dec ms", "{:.1f}"),
                ("bias", "bias", "{}")]
        notes = ["one Gaussian posterior q = N(mu, 0.5^2 I), p = N(0, I) through rcc.compress, chunk_bits = 8;",
                 "bias: mean standardised projection on the mean shift (0 when exact)"]
        return "--suite compress", notes, rows, cols
    seeds = 40 if quick else args.seeds
    rows = bench.uq_rows(num_elements=10_000 if quick else 100_000)
    rows += bench.pfr_rows(num_seeds=seeds, kls=(0.5, 2.0, 8.0) if quick else (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0))
    rows += bench.pfr_truncated_rows(num_seeds=max(seeds // 2, 10), log2_candidates=(10, 12) if quick else (14, 17, 20))
    notes = ["bits: mean payload bits per message (UQ: per element); +header: with container header and CRC",
             "bound: PFR KL + log2(KL+1) + 4 (Li & El Gamal); UQ I(X; X+U) per element",
             "E log2K|info: PFR E[log2 index]; UQ information content -log2 P(k|dither) per element"]
    return "", notes, rows, None


def _bench(args) -> int:
    from . import bench

    title, notes, rows, cols = _suite(args, bench)
    print(f"# rcc bench{' ' + title if title else ''}  ({_machine()})")
    for line in notes:
        print(f"# {line}")
    print(format_table(rows) if cols is None else format_table(rows, cols))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": _machine(), "rows": rows}, f, indent=1, default=str)
    return 0


def _demo(args) -> int:
    try:
        import diffusion
    except ImportError as err:  # torch is an optional dependency of rcc
        raise SystemExit(
            f"rcc demo needs the diffusion extra ({err}); install it with: pip install 'rcc-toolkit[diffusion]'"
        ) from None
    diffusion.demo(out_dir=args.out, gaussian_channel=args.gaussian_channel)
    print(f"# plots and JSON in {args.out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rcc", description="reverse channel coding with real bitstreams")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="real bits vs KL for each channel, bias diagnostics, timing")
    b.add_argument("--speed", action="store_true", help="throughput ratios against numpy instead of bits")
    b.add_argument("--suite", choices=["core", "categorical", "equal-variance", "hybrid", "compress"], default="core",
                   help="core: UQ and PFR bits vs bounds (default); categorical: Theis & Yosri's experiment; "
                        "equal-variance: truncated PFR/ORC/MRC bits and bias; hybrid: candidates vs PFR; compress: a d=4096 posterior through rcc.compress")
    b.add_argument("--quick", action="store_true", help="small grid (seconds), for smoke tests")
    b.add_argument("--seeds", type=int, default=200, help="messages per PFR row (default 200)")
    b.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    b.set_defaults(func=_bench)
    d = sub.add_parser("demo", help="compress the swirl data with Gaussian and uniform diffusion (needs torch)")
    d.add_argument("--out", default="out/demo", help="directory for plots and JSON (default out/demo)")
    d.add_argument("--gaussian-channel", default="pfr", choices=["pfr", "orc", "mrc", "ideal"],
                   help="rcc channel for the Gaussian hierarchy's steps (default pfr)")
    d.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
