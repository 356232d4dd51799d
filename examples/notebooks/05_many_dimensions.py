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
# # 5. Many dimensions: chunks, side information and where the bits go
#
# A race over candidates costs about $2^{D_\infty}$ candidates, so one message can carry only a
# few tens of bits of KL. A posterior over $d$ coordinates with hundreds of bits of KL is therefore
# cut into **chunks** $c = 1, \dots, C$ of contiguous coordinates, each with about `chunk_bits`
# of KL,
#
# $$ D_{KL}(q \,\|\, p) = \sum_{i=1}^{d} D_{KL}(q_i \,\|\, p_i)
#    = \sum_{c=1}^{C} \underbrace{\sum_{i \in c} D_{KL}(q_i \,\|\, p_i)}_{\approx\ \texttt{chunk\_bits}} , $$
#
# and every chunk runs its own race on its own slice of the shared random stream. `rcc.compress`
# does this and writes all indices into one entropy-coded payload behind one header. In this
# notebook we look at the chunks, at the **side information** (the chunk sizes, which the decoder
# needs to know where each chunk starts), and at where every bit of the message goes.

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import rcc
from rcc.bench import COLOURS  # one colour per channel, the same as in `rcc bench --plot`

rng = np.random.default_rng(0)
d = 300
mu = rng.normal(0.0, 0.5, d)
sigma = rng.uniform(0.5, 0.95, d)
q = rcc.Gaussian(mu, sigma)          # a diagonal Gaussian posterior
p = rcc.Gaussian(0.0, 1.0)           # the prior
kl_i = rcc.kl_bits(q, p, elementwise=True)
print(f"d = {d} coordinates, KL = {kl_i.sum():.1f} bits, D_inf = {rcc.dinf_bits(q, p):.1f} bits")

# %% [markdown]
# ## KL-balanced chunks
#
# The greedy layout closes a chunk once its KL reaches `chunk_bits`. Coordinates with a lot of KL
# give short chunks, quiet coordinates long ones. `msg.chunks` holds the per-chunk arrays
# (`sizes`, `kl_bits`, `dinf_bits`, `index`, `num_scored`).

# %%
msg = rcc.compress(q, p, method="pfr", seed=1, chunk_bits=4.0)
x = rcc.decompress(msg.to_bytes(), p)
assert x.tobytes() == msg.sample.tobytes()
ch = msg.chunks
starts = np.concatenate([[0], np.cumsum(ch.sizes)[:-1]])
print(f"{msg.info['num_chunks']} chunks, sizes {ch.sizes.min()} to {ch.sizes.max()} coordinates, "
      f"{msg.info['num_scored']} candidates scored in all")

fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
axes[0].bar(np.arange(d), kl_i, width=1.0, label="KL of each coordinate")
for j, s in enumerate(starts):
    axes[0].axvline(s, color="k", lw=0.6, ls=":", label="chunk boundaries" if j == 0 else None)
axes[0].set_xlabel("coordinate i")
axes[0].set_ylabel("KL in bits")
axes[0].legend(fontsize=8)
axes[1].bar(np.arange(len(ch.sizes)), ch.kl_bits, label="KL of the chunk")
axes[1].plot(np.arange(len(ch.sizes)), np.log2(ch.index.astype(float)), "o", color="C3", label="log2 of the index sent")
axes[1].axhline(4.0, color="k", ls="--", label="chunk_bits")
axes[1].set_xlabel("chunk c")
axes[1].set_ylabel("bits")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where the bits go
#
# The payload (`msg.num_bits`) is, in the decoder's reading order (see `rcc/chunked.py`):
#
# * a **preamble** of plain bits: $C$ in an Elias gamma code, the layout bit, the range of chunk
#   sizes, and the range $[L_{\min}, L_{\min} + L_{\text{span}}]$ of the index bit lengths
#   $L_c = \lfloor \log_2 K_c \rfloor$ (6 + 6 bits);
# * the **side information**: the sizes $n_c$, under an adaptive Krichevsky-Trofimov (KT) law;
# * the **index payload**: the bit lengths $L_c$ (adaptive KT law), then the $L_c$ bits below the
#   leading one of every $K_c$ (exactly $\sum_c L_c$ bits).
#
# The container adds a header and a CRC (`msg.overhead_bits`), once per message. We recompute
# every part from `msg.chunks`: the KT cost of a sequence $s_1, s_2, \dots$ over an alphabet of
# size $A$ is
#
# $$ -\sum_t \log_2 \frac{n_t(s_t) + \tfrac12}{t - 1 + \tfrac A2}, $$
#
# with $n_t(s)$ the count of $s$ among the first $t-1$ symbols. What is left over is the entropy
# coder's rounding (a fraction of its last 32-bit word).

# %%
def kt_bits(symbols, alphabet):
    """Ideal code length in bits of a sequence under the adaptive KT estimator."""
    if alphabet < 2 or len(symbols) == 0:
        return 0.0
    counts, total = np.zeros(alphabet), 0.0
    for t, s in enumerate(symbols):
        total -= np.log2((counts[s] + 0.5) / (t + alphabet / 2))
        counts[s] += 1
    return total


def gamma_bits(n):
    return 2 * int(n).bit_length() - 1


def bit_budget(msg):
    """Split a chunked PFR message ("kl" layout, size multiple 1) into its parts, in bits."""
    ch = msg.chunks
    C = len(ch.sizes)
    L = np.array([int(k).bit_length() - 1 for k in ch.index])
    smin, sspan = int(ch.sizes.min()), int(ch.sizes.max() - ch.sizes.min())
    preamble = gamma_bits(C) + 12
    sizes = 0.0
    if C > 1:
        preamble += 1 + gamma_bits(smin) + gamma_bits(sspan + 1)
        sizes = kt_bits(ch.sizes[:-1] - smin, sspan + 1)
    parts = {
        "index: low bits of K_c": float(L.sum()),
        "index: bit lengths L_c": kt_bits(L - L.min(), int(L.max() - L.min()) + 1),
        "side information: chunk sizes": sizes,
        "preamble": float(preamble),
    }
    parts["entropy coder rounding"] = msg.num_bits - sum(parts.values())
    parts["container header + CRC"] = float(msg.overhead_bits)
    return parts


budget = bit_budget(msg)
for k, v in budget.items():
    print(f"{k:32s} {v:7.1f} bits")
print(f"{'payload msg.num_bits':32s} {msg.num_bits:7d} bits;  KL = {msg.info['kl_bits']:.1f} bits")

# %% [markdown]
# The same pair with three chunk sizes, as stacked bars beside the KL. Smaller chunks mean more
# chunks: more side information and more index bits per bit of KL.

# %%
runs = {cb: rcc.compress(q, p, method="pfr", seed=1, chunk_bits=cb) for cb in [2.0, 3.0, 4.0]}
budgets = {cb: bit_budget(m_) for cb, m_ in runs.items()}
labels = list(budget.keys())
fig, ax = plt.subplots(figsize=(10, 4.5))
xpos = np.arange(len(runs))
bottom = np.zeros(len(runs))
for j, lab in enumerate(labels):
    vals = np.array([budgets[cb][lab] for cb in runs])
    ax.bar(xpos, vals, bottom=bottom, width=0.6, color=f"C{j}", label=lab)
    bottom += vals
ax.hlines([m_.info["kl_bits"] for m_ in runs.values()], xpos - 0.35, xpos + 0.35, color="k", lw=2.5, label="KL(q || p)")
ax.set_xticks(xpos, [f"chunk_bits = {cb:g}\n({m_.info['num_chunks']} chunks)" for cb, m_ in runs.items()])
ax.set_ylabel("bits")
ax.set_title("where the bits of rcc.compress (PFR) go")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Why Gaussian steps cost more than the KL, per chunk
#
# A single PFR race of $D_{KL}$ bits of KL writes an index with
# $\mathbb E[\log_2 K] \approx D_{KL}$, but a *prefix-free* code for $K$ cannot spend only
# $\log_2 K$ bits: by the Li & El Gamal bound the index costs up to
# $D_{KL} + \log_2(D_{KL} + 1) + 4$ bits. Every chunk pays this, plus its share of the side
# information, so the excess over the KL grows **linearly with the number of chunks**:
#
# $$ \text{bits} \;\approx\; D_{KL}(q\,\|\,p) + C \cdot \beta, \qquad \beta = \text{a few bits per chunk}. $$
#
# Universal quantization has no race and no index: the integer is entropy-coded under its exact
# law $P(k \mid u)$ in one ANS stream, so a uniform step costs its information content
# $-\log_2 P(k \mid u)$, whose mean is the KL of the uniform target against the prior smoothed by
# the cell, $D_{KL}\big(\mathcal U(x \pm w/2) \,\big\|\, p * \mathcal U(\pm w/2)\big)$, with no
# per-push overhead: only a constant few tens of bits of stream framing (the ANS coder's words
# and its prelude) for the whole stream, however many pushes it holds.

# %%
chunk_counts, excess = [], []
for cb, m_ in runs.items():
    chunk_counts.append(m_.info["num_chunks"])
    excess.append(m_.num_bits - m_.info["kl_bits"])
beta = np.polyfit(chunk_counts, excess, 1)[0]

# UQ: the same number of "steps" as pushes of an rcc.UQStream, 10 coordinates each
w = 0.5
xs = rng.normal(0.0, 1.0, (30, 10))
push_counts, uq_excess = [], []
for num_pushes in [5, 10, 20, 30]:
    stream = rcc.UQStream(seed=4)
    for xi in xs[:num_pushes]:
        stream.push(rcc.Uniform(xi - w / 2, xi + w / 2), p, width=w)
    # KL-equivalent: E_{y ~ U(x +- w/2)} [-log2 P(cell around y)], by averaging over a grid of y
    y = xs[:num_pushes, :, None] + w * (np.linspace(-0.5, 0.5, 201)[None, None, :])
    kl_uq = -np.log2(stats.norm.cdf(y + w / 2) - stats.norm.cdf(y - w / 2)).mean(axis=-1).sum()
    push_counts.append(num_pushes)
    uq_excess.append(stream.num_bits - kl_uq)
    print(f"UQStream, {num_pushes:2d} pushes: {stream.num_bits} bits, KL-equivalent {kl_uq:.1f} bits, "
          f"information content {stream.info_bits:.1f} bits")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(chunk_counts, excess, "o-", color=COLOURS["pfr"], label=f"rcc.compress (PFR): payload - KL (about {beta:.1f} bits per chunk)")
ax.plot(push_counts, uq_excess, "s-", color=COLOURS["uq"], label="rcc.UQStream: payload - KL-equivalent")
ax.axhline(0, color="k", lw=0.8)
ax.set_xlabel("number of chunks (PFR) or pushes (UQ)")
ax.set_ylabel("bits above the KL")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** The "even" layout (`layout="even"`) cuts the coordinates into chunks of equal
# size and sends no sizes at all. How many side-information bits does it save on our pair with
# `chunk_bits=4`, and what does it cost in candidates (look at `msg.chunks.dinf_bits`)?
#
# **Exercise 2.** Using $\beta$ above, estimate the payload of a posterior with 1000 bits of KL
# coded with `chunk_bits=4`.
#
# <details><summary>Solution</summary>
#
# 1. The even layout drops the "side information: chunk sizes" bar and a few preamble bits
#    (here, with only 24 short chunks, the KT code of the sizes is still learning its law and
#    costs several bits a chunk, so the saving is large). Its chunks no longer hold equal KL, so
#    the largest chunk $D_\infty$ is somewhat higher; on this fairly even pair that costs little,
#    but on a pair whose KL is concentrated in a few coordinates one even chunk can need
#    $2^{30}$ candidates or more. The cell below compares both layouts.
# 2. About $1000/4 = 250$ chunks, so about $1000 + 250\,\beta$ bits, i.e. hundreds of bits above
#    the KL; UQ steps would not pay this per-chunk price.
#
# </details>

# %% tags=["solution"]
# Solution (runs as a check)
even = rcc.compress(q, p, method="pfr", seed=1, chunk_bits=4.0, layout="even")
assert rcc.decompress(even.to_bytes(), p).tobytes() == even.sample.tobytes()
print(f"kl layout:   {msg.num_bits} bits, side information {budget['side information: chunk sizes']:.1f} bits, "
      f"max chunk D_inf {msg.chunks.dinf_bits.max():.1f} bits, {msg.info['num_scored']} candidates")
print(f"even layout: {even.num_bits} bits, no sizes sent, "
      f"max chunk D_inf {even.chunks.dinf_bits.max():.1f} bits, {even.info['num_scored']} candidates")
print(f"estimate for 1000 bits of KL at chunk_bits = 4: {1000 + 250 * beta:.0f} bits")
