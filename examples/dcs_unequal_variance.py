"""Why the diffusion reports compute each chunk's own D_CS: the equal-variance form at a chunk's
KL is not a floor for the chunks of a Gaussian diffusion step.

Encodes the seed-0 swirl set with the shipped Gaussian T = 5 checkpoint (chunked PFR, the codec's
defaults), then for the first ``CHUNKS`` chunks of z_1's push and of steps 1, 3 and 5 prints the
chunk's size, its KL, its exact D_CS (:func:`rcc.dcs_bits` of the chunk's own pair: the reverse
scale differs from the posterior's by the learned factor) and
:func:`rcc.dcs_bits_equal_variance` at its KL, all in bits.

    python examples/dcs_unequal_variance.py     # about a minute on 2 cores
"""
import numpy as np
import torch

import diffusion
import rcc
from diffusion import _exact, codec, data

CHUNKS = 6


def main() -> None:
    model = diffusion.load_pretrained("gaussian", 5)
    x = data.swirl()
    res = codec.encode(model, x, seed=0)
    m = _exact._model64(model)
    T = model.num_steps
    chain = [res.z1] + res.latents
    print(f"{'push':>5} {'size':>5} {'KL':>7} {'D_CS':>7} {'equal-var':>9} {'overstates':>10}")
    gaps = []
    with torch.no_grad():
        f = m.encode_data(x)
        for k in (0, 1, 3, 5):
            i = T + 1 - k
            info = res.prior_info if k == 0 else res.step_info[k - 1]
            if k == 0:
                q, p = m.top_posterior(f), _exact._prior64(m, torch.zeros(x.shape, dtype=torch.float64), i)
            else:
                z = torch.as_tensor(chain[k - 1])
                q, p = m.posterior(z, f, i), _exact._prior64(m, z, i)
            qr, pr = q.to_rcc(), p.to_rcc()
            start = 0
            for size, kl in list(zip(info["chunk_sizes"], info["chunk_kl_bits"]))[:CHUNKS]:
                sl = slice(start, start + size)
                start += size
                exact = rcc.dcs_bits(rcc.Gaussian(qr.a[sl], qr.b[sl]), rcc.Gaussian(pr.a[sl], pr.b[sl]))
                equal = rcc.dcs_bits_equal_variance(kl)
                gaps.append(equal - exact)
                print(f"{'z_1' if k == 0 else k:>5} {size:>5} {kl:7.3f} {exact:7.3f} {equal:9.3f} {equal - exact:10.3f}")
    print(f"equal-variance form minus exact D_CS: {min(gaps):.2f} to {max(gaps):.2f} bits per chunk")


if __name__ == "__main__":
    main()
