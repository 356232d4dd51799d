# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A tour of rcc: channel simulation with real bits
#
# A sender knows a target distribution $q$; a receiver knows only a prior $p$ and a shared seed.
# Channel simulation (reverse channel coding) lets the receiver obtain an exact sample of $q$
# for about $D_{KL}[q \| p]$ bits. This notebook compares the real length of the bytes each
# `rcc` channel writes with the KL bound, and checks that the decoded samples follow $q$.
#
# Run it as a script (`python examples/tour.py`) or open it as a notebook with jupytext.

# %%
import sys

import numpy as np
from scipy import stats

import rcc

SMOKE = "--smoke" in sys.argv  # small sizes for the test suite
NUM_SEEDS = 50 if SMOKE else 1000

# %% [markdown]
# ## 1. The Poisson functional representation (Li & El Gamal, 2018)
# Candidates $X_i \sim p$ come from the shared stream; the encoder sends the index of
# $\arg\min_i T_i / r(X_i)$, where $T_i$ are Poisson arrival times and $r = dq/dp$.

# %%
p = rcc.Gaussian(0.0, 1.0)
q = rcc.Gaussian(2.0, 0.3)
kl = rcc.kl_bits(q, p)
channel = rcc.PFR()
messages = [channel.encode(q, p, seed=s) for s in range(NUM_SEEDS)]
bits = np.array([m.num_bits for m in messages])
print(f"KL = {kl:.2f} bits, D_inf = {rcc.dinf_bits(q, p):.2f} bits")
print(f"mean payload bits = {bits.mean():.2f}  (bound KL + log2(KL+1) + 4 = {kl + np.log2(kl + 1) + 4:.2f})")
print(f"header + CRC bits per message = {messages[0].overhead_bits}")

# %% [markdown]
# The decoder needs only the bytes, the prior and the seed, and returns the encoder's sample bit
# for bit. The samples follow $q$ exactly (Kolmogorov-Smirnov test):

# %%
decoded = np.array([channel.decode(m.to_bytes(), p, seed=s) for s, m in enumerate(messages)])
assert all(d.tobytes() == m.sample.tobytes() for d, m in zip(decoded, messages))
print("KS p-value against q:", stats.kstest(decoded, stats.norm(2.0, 0.3).cdf).pvalue)

# %% [markdown]
# ## 2. When D_inf is infinite: truncation costs bias
# Equal-variance Gaussians have an unbounded density ratio, so the race has no stopping rule.
# Truncating it at N candidates (or using ORC / MRC with N candidates) biases the sample:
# the decoded mean falls short of the target mean until N is well above $2^{KL}$.

# %%
mu = np.sqrt(2 * 6 * np.log(2))  # KL = 6 bits
q_eq = rcc.Gaussian(mu, 1.0)
for log2_n in (6, 9, 12):
    for ch in (rcc.PFR(max_candidates=2**log2_n), rcc.ORC(num_candidates=2**log2_n), rcc.MRC(num_candidates=2**log2_n)):
        msgs = [ch.encode(q_eq, p, seed=s) for s in range(NUM_SEEDS // 2)]
        xs = np.array([float(m.sample) for m in msgs])
        print(f"{ch!r:32s} bits {np.mean([m.num_bits for m in msgs]):5.2f}   mean/mu {xs.mean() / mu:.3f}")

# %% [markdown]
# ## 3. Universal quantization: exact, and no log overhead
# For a uniform-noise channel $y = \mu + U$, $U \sim \mathcal U(-\Delta/2, \Delta/2)$, a shared
# dither makes quantization exact; the index is entropy-coded under $p * \mathcal U$.

# %%
rng = np.random.default_rng(0)
mu_x = rng.standard_normal(10_000 if SMOKE else 1_000_000)
step = 0.5
msg = rcc.UQ().encode(rcc.Uniform(mu_x - step / 2, mu_x + step / 2), p, seed=7)
x_hat = rcc.UQ().decode(msg.to_bytes(), p, seed=7)
print(f"bits/element {msg.num_bits / mu_x.size:.4f}, information content {msg.info['info_bits'] / mu_x.size:.4f}")
print("error uniform on the cell, KS p-value:", stats.kstest((x_hat - mu_x) / step, stats.uniform(-0.5, 1).cdf).pvalue)
