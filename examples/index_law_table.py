"""What a chunk's index costs under the two chunked codes of PFR, against H[K] and D_CS.

Part 1 (law): per chunk_bits B, C chunks of an equal-variance Gaussian pair with exactly B bits of
KL each; their indices drawn from exact PFR's index law (:mod:`rcc._index_law`, inverse CDF with
a seeded generator) and coded for real by both chunk codes (bits of the ANS words plus preamble
bits): format 1 (``BitLengthCode``: bit length under an adaptive KT categorical, 12 preamble
bits) and format 2 (``LawCode``: octaves under an adaptive categorical that starts at the law at
KL = B, the rest under the law); beside them the information content of the fixed law's symbols
(no adaptation and no end of the ANS stream, which costs 16-32 bits per message in both
formats), H[K] and D_CS, all in bits per chunk above the KL B.

Part 2 (real messages): ``rcc.compress`` with ``PFR(2**22, headroom_bits=5)`` (the diffusion
setting) on an equal-variance pair and on a learned-variance pair (q's scale 0.9 x p's, jittered),
d coordinates, both layouts; the payload of each message in both formats (same race, same layout,
only the index code differs) and the per-chunk difference. Real payload bits.

Part 3 (``--diffusion``): the Gaussian swirl model at T = 5 (shipped checkpoint, seed 0, the
default channel: chunked PFR, chunk_bits 10, "even" layout), every step's rcc.compress message
in both formats, and the whole file's bytes.

Run:  python examples/index_law_table.py [--chunks C] [--d D] [--skip-real] [--diffusion]
      (defaults C = 64, d = 4096; about 2 minutes on one core, part 3 another 30 s)
"""

from __future__ import annotations

import argparse

import constriction
import numpy as np

import rcc
from rcc._chunk_codes import BitLengthCode, LawCode, law_frequencies, law_split
from rcc._index_law import index_entropy_bits, range_masses
from rcc.chunked import _write_payload
from rcc.coding import BitWriter


def draw_indices(kl_bits: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` 1-based indices (uint64) from exact PFR's law at ``kl_bits`` (inverse CDF over
    1/256-octave bins, uniform within a bin: exact below 2^12, fine above)."""
    small = np.arange(1, 4097, dtype=np.float64)
    big = np.unique(np.floor(4097 * 2.0 ** (np.arange(0, 256 * 40) / 256.0)))
    edges = np.concatenate([small, big, [np.inf]])
    cdf = np.cumsum(range_masses(kl_bits, edges))
    u = rng.random(count) * cdf[-1]
    j = np.minimum(np.searchsorted(cdf, u, side="right"), edges.size - 2)
    lo, hi = edges[j], np.where(np.isinf(edges[j + 1]), edges[j] * 2, edges[j + 1])
    return (lo + np.floor(rng.random(count) * (hi - lo))).astype(np.uint64)


def code_bits(code, index1: np.ndarray) -> int:
    """Real bits of the indices under ``code``: the ANS words (top word without its leading zeros)
    plus the preamble bits."""
    coder, fields = constriction.stream.stack.AnsCoder(), BitWriter()
    code.write(coder, index1 - np.uint64(1), fields)
    words = np.asarray(coder.get_compressed(), dtype=np.uint32)
    ans = 0 if words.size == 0 else 32 * (words.size - 1) + int(words[-1]).bit_length()
    return ans + fields.getvalue()[1]


def law_information_bits(q16: int, index1: np.ndarray) -> float:
    """Sum of -log2 of the fixed law's quantized symbol probabilities plus the low bits (no
    adaptation, no ANS stream end)."""
    f = law_frequencies(q16)
    sym, _, width = law_split(index1)
    return float((np.log2(f.sum()) - np.log2(f[sym])).sum() + width.sum())


def law_table(chunk_bits=(10.0, 12.0, 16.0), chunks: int = 64, reps: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    print(f"part 1: {chunks} chunks of exactly B bits of KL, indices from the exact law, {reps} messages; bits per chunk - B")
    print(f"{'B':>5} {'format 1 (KT)':>14} {'format 2 (law)':>15} {'saving':>7} {'fixed law':>9} {'H[K]':>7} {'D_CS':>7}")
    for b in chunk_bits:
        q16 = int(round(16 * b))
        old = new = info = 0
        for _ in range(reps):
            k = draw_indices(b, chunks, rng)
            old += code_bits(BitLengthCode(None), k)
            new += code_bits(LawCode(None, q16), k)
            info += law_information_bits(q16, k)
        n = reps * chunks
        h, dcs = index_entropy_bits(b), rcc.dcs_bits_equal_variance(b)
        row = (b, old / n - b, new / n - b, (old - new) / n, info / n - b, h - b, dcs - b)
        rows.append(row)
        print(f"{row[0]:5.1f} {row[1]:14.3f} {row[2]:15.3f} {row[3]:7.3f} {row[4]:9.3f} {row[5]:7.3f} {row[6]:7.3f}", flush=True)
    return rows


def real_table(chunk_bits=(10.0, 12.0), d: int = 4096, seed: int = 0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 0.5, d)
    scale = np.exp(rng.normal(0.0, 0.3, d))
    pairs = {
        "equal-var": (rcc.Gaussian(mu * scale, scale), rcc.Gaussian(0.0, scale)),
        "learned-var": (rcc.Gaussian(mu * scale, scale * np.exp(rng.normal(-0.1, 0.1, d))), rcc.Gaussian(0.0, scale)),
    }
    rows = []
    print(f"\npart 2: rcc.compress, PFR(2**22, headroom_bits=5), d = {d}; payload bits of the same message in both formats")
    print(f"{'pair':>12} {'B':>5} {'layout':>6} {'C':>4} {'KL/chunk':>8} {'format 1':>9} {'format 2':>9} {'saving/chunk':>12}")
    for b in chunk_bits:
        for layout in ("even", "kl"):
            for name, (q, p) in pairs.items():
                msg = rcc.compress(q, p, method=rcc.PFR(2**22, headroom_bits=5), seed=1, chunk_bits=b, layout=layout)
                x = rcc.decompress(msg.to_bytes(), p)
                assert x.tobytes() == msg.sample.tobytes()
                packed = msg.chunks.index - np.uint64(1)
                _, old = _write_payload(BitLengthCode(2**22), msg.chunks.sizes, packed, layout == "even", 1)
                c = msg.info["num_chunks"]
                row = (name, b, layout, c, msg.info["kl_bits"] / c, old, msg.num_bits, (old - msg.num_bits) / c)
                rows.append(row)
                print(f"{name:>12} {b:5.1f} {layout:>6} {c:4d} {row[4]:8.2f} {old:9d} {msg.num_bits:9d} {row[7]:12.3f}", flush=True)
    return rows


def diffusion_table(steps: int = 5):
    import diffusion
    import diffusion.channels as channels
    from diffusion import codec, data

    messages = []
    compress = rcc.compress

    def spy(*args, **kwargs):
        msg = compress(*args, **kwargs)
        messages.append(msg)
        return msg

    channels.rcc.compress = spy
    try:
        x = data.swirl()
        res = codec.encode(diffusion.load_pretrained("gaussian", steps), x, channel="pfr", seed=0)
    finally:
        channels.rcc.compress = compress
    print(f"\npart 3: swirl, Gaussian T = {steps}, chunked PFR (diffusion defaults); payload bits per step")
    print(f"{'step':>4} {'C':>4} {'KL/chunk':>8} {'sd':>5} {'format 1':>9} {'format 2':>9} {'saving/chunk':>12}")
    total_old = total_new = 0
    rows = []
    for i, msg in enumerate(messages):
        ch = msg.chunks
        _, old = _write_payload(BitLengthCode(2**22), ch.sizes, ch.index - np.uint64(1), msg.info["layout"] == "even", 1)
        c = ch.index.size
        total_old, total_new = total_old + old, total_new + msg.num_bits
        rows.append((i, c, float(ch.kl_bits.mean()), old, msg.num_bits))
        print(f"{i:4d} {c:4d} {ch.kl_bits.mean():8.2f} {ch.kl_bits.std():5.2f} {old:9d} {msg.num_bits:9d} {(old - msg.num_bits) / c:12.3f}")
    chunks = sum(r[1] for r in rows)
    print(f"all  {chunks:4d} {'':8} {'':5} {total_old:9d} {total_new:9d} {(total_old - total_new) / chunks:12.3f}"
          f"   file: {len(res.blob)} bytes = {8 * len(res.blob) / x.size:.3f} bits/dim (format 2)")
    return rows, len(res.blob)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=64)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--diffusion", action="store_true", help="also part 3: the swirl Gaussian T = 5 file")
    args = ap.parse_args(argv)
    law = law_table(chunks=args.chunks, reps=args.reps)
    real = [] if args.skip_real else real_table(d=args.d)
    if args.diffusion:
        diffusion_table()
    return law, real


if __name__ == "__main__":
    main()
