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
# # 1. Universal quantization: adding uniform noise with a few bits
#
# The simplest channel we can simulate is the **additive uniform noise channel**
#
# $$ Y = X + U, \qquad U \sim \mathcal U(-w/2,\, w/2) \text{ independent of } X. $$
#
# The sender knows $X$; the receiver should end up with a sample $Y$ of this channel. Sending
# $X$ to full precision and letting the receiver add the noise itself would cost a lot of bits
# (infinitely many for a real number). **Universal quantization** (Ziv, 1985; Zamir & Feder,
# 1992) does it with a quantizer and a *dither* $u$ that sender and receiver both know, because
# they draw it from a shared random seed:
#
# $$ u \sim \mathcal U(-\tfrac12, \tfrac12), \qquad
#    k = \operatorname{round}\!\left(\frac{x}{w} - u\right), \qquad
#    \hat x = w\,(k + u). $$
#
# Only the integer $k$ is sent. In this notebook we build it from scratch in numpy, see why
# $\hat x - x$ is *exactly* uniform and independent of $x$, and then count real bits with
# `rcc.UQ` and `rcc.UQStream`.

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy import integrate, stats

import rcc

rng = np.random.default_rng(2024)

# %% [markdown]
# ## From scratch in numpy
#
# The input $x$ is drawn from a standard normal law; the cell width is $w = 0.5$. Each element
# gets its own dither $u_i$, which the receiver regenerates from the shared seed.

# %%
w = 0.5
n = 20_000
x = rng.standard_normal(n)                 # the sender's data


def uq_encode(x, w, u):
    """The integer the sender transmits."""
    return np.round(x / w - u).astype(np.int64)


def uq_decode(k, w, u):
    """What the receiver reconstructs from the integer and the shared dither."""
    return w * (k + u)


shared = np.random.default_rng(seed=7)     # the shared seed: both sides can run this line
u = shared.uniform(-0.5, 0.5, size=n)
k = uq_encode(x, w, u)
x_hat = uq_decode(k, w, u)
err = x_hat - x

# for comparison: the same quantizer without dither (plain rounding)
err_plain = w * np.round(x / w) - x
print("largest |error|:", np.abs(err).max(), " (w/2 =", w / 2, ")")
print("mean error:", err.mean().round(4), " variance:", err.var().round(5), " w^2/12 =", round(w**2 / 12, 5))

# %% [markdown]
# ## Why the error is uniform and independent of the input
#
# Write $v = x/w - u$. For a *fixed* input $x$, $v$ is uniform on an interval of length one,
# $[x/w - \tfrac12,\, x/w + \tfrac12)$. The error is
#
# $$ \frac{\hat x - x}{w} = k + u - \frac{x}{w} = \operatorname{round}(v) - v , $$
#
# the distance from $v$ to the nearest integer. When $v$ sweeps an interval of length one, it
# passes every fractional position exactly once, so $\operatorname{round}(v) - v$ is uniform on
# $[-\tfrac12, \tfrac12)$, **whatever $x$ is**. Hence $\hat x - x \sim \mathcal U(-w/2, w/2)$
# and it is independent of $x$: the receiver's $\hat x$ has the law of $Y = X + U$.
#
# Without the dither, the error $w\operatorname{round}(x/w) - x$ is a deterministic sawtooth
# function of $x$: it is not noise at all.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
axes[0].hist(err, bins=40, density=True, alpha=0.7, label="dithered: x_hat - x")
axes[0].plot([-w / 2, -w / 2, w / 2, w / 2], [0, 1 / w, 1 / w, 0], "k--", label="uniform density 1/w")
axes[0].set_xlabel("error x_hat - x")
axes[0].set_ylabel("density")
axes[0].set_title("error histogram")
axes[0].legend(fontsize=8)

sub = slice(0, 3000)
axes[1].scatter(x[sub], err[sub], s=2, alpha=0.4, label="with dither")
axes[1].set_xlabel("input x")
axes[1].set_ylabel("error x_hat - x")
axes[1].set_title("with dither: error does not depend on x")
axes[1].legend(fontsize=8, loc="upper right")

axes[2].scatter(x[sub], err_plain[sub], s=2, alpha=0.4, color="C3", label="plain rounding")
axes[2].set_xlabel("input x")
axes[2].set_ylabel("error")
axes[2].set_title("without dither: a sawtooth in x")
axes[2].legend(fontsize=8, loc="upper right")
fig.tight_layout()
plt.show()

# %% [markdown]
# A number to go with the picture: the correlation between the error and any function of the
# input is zero (up to sampling noise) with dither, and far from zero without it.

# %%
for name, e in [("dithered", err), ("plain rounding", err_plain)]:
    r1 = np.corrcoef(e, x)[0, 1]
    r2 = np.corrcoef(e, np.sin(2 * np.pi * x / w))[0, 1]
    print(f"{name:15s} corr(error, x) = {r1:+.3f}   corr(error, sin(2 pi x / w)) = {r2:+.3f}")

# %% [markdown]
# ## How many bits? The entropy of the index
#
# The receiver knows the law of the input ($X \sim p$, here $\mathcal N(0, 1)$) and the dither
# $u$. Given $u$, the index $k$ takes the value $k$ when $x$ falls in the cell
# $[w(k + u - \tfrac12),\, w(k + u + \tfrac12))$, so
#
# $$ P(k \mid u) = F_p\big(w(k + u + \tfrac12)\big) - F_p\big(w(k + u - \tfrac12)\big), $$
#
# with $F_p$ the cumulative distribution function of $p$. An entropy coder driven by this model
# spends about $H(K \mid U)$ bits per element on average. Zamir & Feder showed that this is
# exactly the mutual information of the channel we simulate:
#
# $$ H(K \mid U) = I(X;\, X + U) = h(X + U) - \log_2 w , $$
#
# where $h$ is the differential entropy in bits and $h(X+U \mid X) = h(U) = \log_2 w$. For a
# Gaussian $X$ the density of $X + U$ is
# $f(y) = \big(\Phi(\tfrac{y + w/2}{\sigma}) - \Phi(\tfrac{y - w/2}{\sigma})\big)/w$,
# and $h(X+U)$ is a one-dimensional integral. Let us compute both sides numerically.

# %%
def mutual_information_bits(w, sigma=1.0):
    """I(X; X+U) in bits for X ~ N(0, sigma^2), U ~ U(-w/2, w/2), by numerical integration."""
    def f(y):
        return (stats.norm.cdf((y + w / 2) / sigma) - stats.norm.cdf((y - w / 2) / sigma)) / w

    def integrand(y):
        fy = f(y)
        return -fy * np.log2(fy) if fy > 0 else 0.0

    lim = w / 2 + 12 * sigma
    h_y, _ = integrate.quad(integrand, -lim, lim, limit=200, points=[-w / 2, w / 2])
    return h_y - np.log2(w)


def index_entropy_bits(w, sigma=1.0, num_dithers=64):
    """H(K | U) in bits: the entropy of P(k | u), averaged over a grid of dither values u."""
    total = 0.0
    for u0 in (np.arange(num_dithers) + 0.5) / num_dithers - 0.5:
        kmax = int(np.ceil(12 * sigma / w)) + 2
        ks = np.arange(-kmax, kmax + 1)
        pk = stats.norm.cdf(w * (ks + u0 + 0.5) / sigma) - stats.norm.cdf(w * (ks + u0 - 0.5) / sigma)
        pk = pk[pk > 0]
        total += -(pk * np.log2(pk)).sum()
    return total / num_dithers


for w_ in [0.25, 0.5, 1.0, 2.0]:
    print(f"w = {w_:4.2f}:  H(K|U) = {index_entropy_bits(w_):.4f} bits   I(X; X+U) = {mutual_information_bits(w_):.4f} bits")

# %% [markdown]
# ## Real bits with `rcc.UQ`
#
# `rcc.UQ` implements exactly this scheme, with the dither taken from a counter-based random
# generator addressed by the seed, and it writes the indices with an ANS entropy coder under
# $P(k \mid u)$. The target is the law of the channel output given the input, a uniform cell
# around each $x_i$: `rcc.Uniform(x - w/2, x + w/2)`. The prior is the law of the input,
# `rcc.Gaussian(0, 1)`, which the receiver knows. The receiver calls `decode` with the same
# prior and gets $\hat x$ back bit for bit.

# %%
p = rcc.Gaussian(0.0, 1.0)
m = 5000
x = rng.standard_normal(m)
w = 0.5
q = rcc.Uniform(x - w / 2, x + w / 2)
msg = rcc.UQ().encode(q, p, seed=11)
x_hat = rcc.UQ().decode(msg.to_bytes(), p, seed=11)
assert x_hat.tobytes() == msg.sample.tobytes()          # bit for bit
assert np.all(np.abs(x_hat - x) <= w / 2)
print(f"payload: {msg.num_bits} bits for {m} elements = {msg.num_bits / m:.4f} bits per element")
print(f"information content -sum log2 P(k|u): {msg.info['info_bits'] / m:.4f} bits per element")
print(f"I(X; X+U): {mutual_information_bits(w):.4f} bits per element")
print(f"header and checksum (paid once per message): {msg.overhead_bits} bits")

# %% [markdown]
# Now sweep the cell width. A wide cell means a lot of noise and few bits; a narrow cell means a
# precise $\hat x$ and many bits, growing like $h(X) - \log_2 w$.

# %%
widths = np.geomspace(0.05, 4.0, 12)
real_bits, info_bits, mi_bits = [], [], []
for i, w_ in enumerate(widths):
    msg = rcc.UQ().encode(rcc.Uniform(x - w_ / 2, x + w_ / 2), p, seed=100 + i)
    real_bits.append(msg.num_bits / m)
    info_bits.append(msg.info["info_bits"] / m)
    mi_bits.append(mutual_information_bits(w_))

fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(widths, real_bits, "o", label="rcc.UQ: real payload bits")
ax.plot(widths, info_bits, "x", label="information content of the indices")
ax.plot(widths, mi_bits, "-", label="I(X; X+U), numerical")
ax.plot(widths, 0.5 * np.log2(2 * np.pi * np.e) - np.log2(widths), ":", label="h(X) - log2 w (small-w limit)")
ax.set_xscale("log")
ax.set_xlabel("cell width w")
ax.set_ylabel("bits per element")
ax.set_ylim(bottom=0)
ax.legend()
ax.set_title("cost of universal quantization, standard normal input")
plt.show()

# %% [markdown]
# ## Many messages in one stream: `rcc.UQStream`
#
# Each `rcc.UQ` message pays its own header, checksum and a little entropy-coder framing: fine
# for 5000 elements, wasteful for many small messages. `rcc.UQStream` puts many *pushes* into one
# ANS stream with one header; the receiver *pops* them in the same order (and a later prior may
# depend on earlier decoded samples, since the receiver has them by then). Here: 40 pushes of 25
# elements each.

# %%
num_pushes, size, w = 40, 25, 0.5
xs = rng.standard_normal((num_pushes, size))

stream = rcc.UQStream(seed=5)
sent = [stream.push(rcc.Uniform(xi - w / 2, xi + w / 2), p, width=w) for xi in xs]
blob = stream.to_bytes()

dec = rcc.UQStream.decoder(blob)
received = [dec.pop(p, np.full(size, w)) for _ in range(num_pushes)]
dec.finish()
assert all(a.tobytes() == b.tobytes() for a, b in zip(sent, received))

separate = [rcc.UQ().encode(rcc.Uniform(xi - w / 2, xi + w / 2), p, seed=5 + i) for i, xi in enumerate(xs)]
print(f"one stream:          {8 * len(blob):6d} bits in total (payload {stream.num_bits})")
print(f"{num_pushes} separate messages: {sum(8 * len(s.to_bytes()) for s in separate):6d} bits in total")
print(f"I(X; X+U) x elements: {mutual_information_bits(w) * xs.size:8.1f} bits")

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** The argument above never used that $X$ is Gaussian. Replace the input by a
# Laplace or a two-point (binary $\pm 1$) input, redo the error histogram and the scatter plot,
# and check that the error variance is still $w^2/12$.
#
# **Exercise 2.** For small $w$ the cost approaches $h(X) - \log_2 w$ bits per element. How many
# extra bits per element does halving the cell width cost in that regime? Check it with `rcc.UQ`.
#
# <details><summary>Solution</summary>
#
# 1. The error is $\operatorname{round}(v) - v$ with $v$ uniform on an interval of length one for
#    every fixed $x$, so its law never depends on the input law: the variance is $w^2/12$ for any
#    input. The cell below checks it for a binary input (the hidden solution cell).
# 2. One bit: $-\log_2(w/2) = -\log_2 w + 1$. The same cell measures it.
#
# </details>

# %% tags=["solution"]
# Solution (runs as a check)
x_bin = rng.choice([-1.0, 1.0], size=20_000)
u_bin = np.random.default_rng(8).uniform(-0.5, 0.5, size=x_bin.size)
e_bin = uq_decode(uq_encode(x_bin, 0.5, u_bin), 0.5, u_bin) - x_bin
print("binary input: error variance", e_bin.var().round(5), "vs w^2/12 =", round(0.5**2 / 12, 5))
for w_ in [0.02, 0.01]:
    b = rcc.UQ().encode(rcc.Uniform(x - w_ / 2, x + w_ / 2), p, seed=3).num_bits / m
    print(f"w = {w_}: {b:.3f} bits per element")
