# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Diffusion as a progressive code: the swirl
#
# A diffusion model is a hierarchy of latents $z_T \to z_{T-1} \to \dots \to z_0 \to x$. Read as
# a code (Ho et al. 2020; Theis et al. 2022, "DiffC"; Yang et al. 2024, "UQDM"), the sender
# transmits $z_T$, then each $z_{t-1}$ given $z_t$, through a channel simulator: a sample of the
# model's posterior $q(z_{t-1} \mid z_t, x)$ against the model's prior $p(z_{t-1} \mid z_t)$,
# for about the KL of that step. The total is the negative ELBO:
#
# $$ -\log_2 p(x) \;\le\; \underbrace{D_{KL}\big(q(z_T \mid x) \,\|\, p(z_T)\big)}_{\text{step } T}
#    + \sum_{t=1}^{T-1} \underbrace{\mathbb E\, D_{KL}\big(q(z_{t-1} \mid z_t, x) \,\|\, p(z_{t-1} \mid z_t)\big)}_{\text{step } t}
#    - \mathbb E \log_2 p(x \mid z_0) . $$
#
# Every prefix of the file is a lossy description: after $k$ steps the receiver holds
# $z_{T-k}$ and can **denoise** it into a reconstruction $\hat x$. One switch chooses the
# hierarchy: **uniform** (noise is uniform, every step is universal quantization, `rcc.UQStream`)
# or **Gaussian** (every step is a Gaussian pair; real channels are PFR/ORC races in chunks,
# and `channel="ideal"` charges exactly the KL, which keeps this notebook fast).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import diffusion
from diffusion import codec, data
from diffusion.report import COLOURS  # one colour per hierarchy, the same in every figure of the project

torch.set_num_threads(1)
x = data.swirl()                       # the seed-0 swirl: uint8 (1024, 2)
print("data:", x.shape, x.dtype)

models = {
    "uniform": diffusion.load_pretrained("uniform", steps=5),
    "gaussian": diffusion.load_pretrained("gaussian", steps=5),
}
channels = {"uniform": "uq", "gaussian": "ideal"}
results = {h: codec.encode(models[h], x, channel=channels[h]) for h in models}
for h, r in results.items():
    print(f"{h:8s} ({r.channel:5s}): file {len(r.blob)} bytes, KL {r.kl_bits_total:.0f} bits, "
          f"total {r.total_bits:.0f} bits = {r.bits_per_dim():.2f} bits per dimension")

# %% [markdown]
# ## Lossless, bit for bit
#
# The whole file decodes to the data exactly (the last term, $-\log_2 p(x \mid z_0)$, is sent
# with an entropy coder on the 256 levels).

# %%
x_back = codec.decode(results["uniform"].blob, models["uniform"]).x
assert np.array_equal(x_back, x)
print("uniform / uq: decoded data equals the input")

# %% [markdown]
# ## Per-step KL against real bits
#
# `result.kl_bits` is the KL of each step (sending order $t = T, \dots, 1$) and
# `result.step_bits` what the step really costs: for the uniform hierarchy the UQ stream's bits,
# for the ideal Gaussian channel the KL itself (an ideal channel has no real bitstream of its own;
# the file stores the latents at full precision so that the prefix decoding below still works).
# Universal quantization follows the KL step by step. The first latent $z_1$ (the top of the
# hierarchy, the first term of the bound above) is sent first, through the same channel:
# `result.prior_kl_bits` is its KL and `result.prior_bits` its real cost, the stream's prelude
# included (which is why it sits a few tens of bits above its KL).

# %%
T = 5
steps = np.arange(1, T + 1)
fig, ax = plt.subplots(figsize=(7.5, 4))
width = 0.25
r_u, r_g = results["uniform"], results["gaussian"]
# solid bars: real bits; dashed outlines: KL (what an ideal channel would cost)
ax.bar(steps - width, r_u.kl_bits, width, facecolor="none", edgecolor=COLOURS["uniform"], hatch="//", ls="--",
       label="uniform: KL")
ax.bar(steps, r_u.step_bits, width, color=COLOURS["uniform"], label="uniform: real bits (rcc.UQStream)")
ax.bar(steps + width, r_g.kl_bits, width, facecolor="none", edgecolor=COLOURS["gaussian"], hatch="//", ls="--",
       label="gaussian: KL (= ideal channel bits)")
ax.set_xticks(steps, [f"step {k}\n(t = {T - k + 1})" for k in steps])
ax.set_ylabel("bits for the whole swirl (1024 points)")
ax.set_title("cost of each reverse step, in bits")
ax.legend(fontsize=8)
plt.show()
for k in range(T):
    print(f"step {k + 1}: uniform KL {r_u.kl_bits[k]:7.1f}, real {r_u.step_bits[k]:7.1f} bits;  "
          f"gaussian KL {r_g.kl_bits[k]:7.1f} bits")

# %% [markdown]
# ## Progressive reconstructions from byte prefixes
#
# `result.prefix_bytes[k-1]` is the number of leading bytes holding $z_1$ and the first $k$ steps
# (with their 16-bit checks). Decoding such a prefix with `reconstruct=True` gives the denoised
# estimate $\hat x = \mathbb E[x \mid z_{T-k}]$ under the model (`.denoised`). Its distortion
# falls as the rate grows: a rate-distortion curve from a single file.

# %%
fig, axes = plt.subplots(2, T, figsize=(3 * T, 6.2), sharex=True, sharey=True)
mse = {h: [] for h in results}
for row, h in enumerate(results):
    r = results[h]
    for k in range(1, T + 1):
        head = r.blob[: r.prefix_bytes[k - 1]]
        dec = codec.decode(head, models[h], reconstruct=True)
        assert dec.steps_decoded == k
        xr = dec.denoised.astype(float)
        mse[h].append(np.mean((xr - x) ** 2))
        rate = r.prior_bits + r.step_bits[:k].sum()
        ax = axes[row, k - 1]
        ax.scatter(x[:, 0], x[:, 1], s=1, color="lightgray", label="data")
        ax.scatter(xr[:, 0], xr[:, 1], s=2, color=COLOURS[h], label="reconstruction")
        ax.set_title(f"{h}, {k} step{'s' if k > 1 else ''}\n{rate / x.size:.2f} bits per dimension", fontsize=9)
        if row == 1:
            ax.set_xlabel("first coordinate (0..255)")
        if k == 1:
            ax.set_ylabel("second coordinate (0..255)")
axes[0, 0].legend(fontsize=7, markerscale=4, loc="lower left")
fig.tight_layout()
plt.show()

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for h, r in results.items():
    rates = (r.prior_bits + np.cumsum(r.step_bits)) / x.size
    ax.plot(rates, mse[h], "o-", color=COLOURS[h], label=f"{h} ({r.channel})")
ax.set_yscale("log")
ax.set_xlabel("bits per dimension of the first k steps")
ax.set_ylabel("mean squared error of the denoised reconstruction")
ax.set_title("progressive decoding of one file")
ax.legend()
plt.show()

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** A prefix that ends in the middle of a step must not decode silently into
# garbage. Cut the uniform file one byte before `prefix_bytes[2]` and decode it: how many steps
# come back?
#
# **Exercise 2.** Compare the uniform hierarchy's real bits with its KL over all steps: what is
# the relative overhead of universal quantization here?
#
# <details><summary>Solution</summary>
#
# 1. Every step carries a 16-bit check of the decoded latent, so the decoder returns the steps
#    that are complete and verified: 2 of them (step 3 is cut), never a corrupted third step.
# 2. $\sum_t$ real bits $/ \sum_t$ KL $- 1$ is about one percent: UQ pays its information
#    content, whose mean is the KL, plus stream framing, with no per-step race overhead.
#
# </details>

# %% tags=["solution"]
# Solution (runs as a check)
cut = r_u.blob[: r_u.prefix_bytes[2] - 1]
dec = codec.decode(cut, models["uniform"], reconstruct=True)
print("steps decoded from the cut prefix:", dec.steps_decoded)
assert dec.steps_decoded == 2
kl_u = r_u.prior_kl_bits + r_u.kl_bits.sum()
overhead = r_u.chain_bits / kl_u - 1
print(f"uniform: real bits {r_u.chain_bits:.0f} (z_1 and the steps), KL {kl_u:.0f}, overhead {100 * overhead:.2f} %")
