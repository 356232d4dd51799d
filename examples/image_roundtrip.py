"""Compress and decompress the central crop of a test photo with a shipped image checkpoint, and
print the real bits beside the KL, per step, and the times.

    python examples/image_roundtrip.py uniform 32      # hierarchy, crop size
    python examples/image_roundtrip.py uniform 512 2   # the whole astronaut, 2 torch threads
"""
import sys
import time

import numpy as np

import diffusion
from diffusion import codec
from diffusion.images import center_crop, photo


def main(hierarchy: str = "uniform", size: int = 32, threads: int = 1, name: str = "astronaut", steps: int = 4) -> None:
    m = diffusion.load_pretrained(hierarchy, steps, data="images")
    x = center_crop(photo(name), size)
    codec.encode(m, center_crop(x, 8), seed=0)  # warm up: the float64 model copy, numba kernels
    t = time.perf_counter()
    res = codec.encode(m, x, seed=0, threads=threads)
    t_enc = time.perf_counter() - t
    t = time.perf_counter()
    out = codec.decode(res.blob, m, threads=threads)
    t_dec = time.perf_counter() - t
    assert np.array_equal(out.x[0], x), "not lossless"
    D = x.size
    print(f"{hierarchy} T={steps} {name} {size}x{size}: file {8 * len(res.blob) / D:.4f} bits/dim, "
          f"KL + data term {(res.prior_kl_bits + res.kl_bits.sum() + res.data_nll_bits) / D:.4f} bits/dim, "
          f"encode {t_enc:.2f} s, decode {t_dec:.2f} s")
    print(f"  z_1: real {res.prior_bits / D:.4f}, KL {res.prior_kl_bits / D:.4f} bits/dim")
    print("  per step, real bits/dim:", np.round(res.step_bits / D, 4), " KL bits/dim:", np.round(res.kl_bits / D, 4))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "uniform", int(sys.argv[2]) if len(sys.argv) > 2 else 32,
         int(sys.argv[3]) if len(sys.argv) > 3 else 1)
