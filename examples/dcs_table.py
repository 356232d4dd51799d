"""The floor and two real costs for an equal-variance Gaussian chunk of K bits of KL.

Prints, per KL: D_CS - KL (the floor of any exact scheme that simulates the chunk on its own,
:func:`rcc.dcs_bits_equal_variance`); H[K] - KL for exact PFR with an ideal code for its index;
and the expected length - KL of the Li & El Gamal Zipf-type code, the Shannon code of the law
P(K = k) ~ k^-(1 + 1/(KL + 1.53)), i.e. lambda E[log2 K] + log2 zeta(lambda), KL in bits.

PFR's index law: given the chosen point z with a = r(z) = dq/dp(z), K - 1 is geometric with mean
mu(a) = int_0^a P_p(r < u) du = a F_P(a) - F_Q(a) (F_P, F_Q: CDFs of r under p and q), because
the earlier arrivals form a Poisson process of mean W mu(a), W ~ Exp(1) independent of z ~ q.
For equal variances log r ~ N(kappa, 2 kappa) under q and N(-kappa, 2 kappa) under p. P(K = k)
is this geometric mixed over a (a 6001-point grid in log a); H[K] sums exactly up to k = 4096 and
integrates the smooth tail in log k (total probability 1 within about 1e-6).

Run:  python examples/dcs_table.py [KL bits ...]      (default 10 11 12 16 20)
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.special as sc

import rcc

LN2 = np.log(2.0)


def pfr_index_law_costs(kl_bits: float, n_grid: int = 6001, k_exact: int = 4096,
                        n_tail: int = 4000) -> tuple[float, float, float]:
    """(H[K], E[log2 K], total probability) of exact PFR's index, equal-variance chunk."""
    kappa = kl_bits * LN2
    s = np.sqrt(2.0 * kappa)
    t = np.linspace(-10.0, 10.0, n_grid)
    weight = np.exp(-0.5 * t * t)
    weight /= weight.sum()
    log_a = kappa + s * t  # log r at the chosen point, under q
    mu = np.exp(log_a) * sc.ndtr((log_a + kappa) / s) - sc.ndtr((log_a - kappa) / s)
    mu = np.maximum(mu, 1e-300)
    log_ratio = -np.log1p(1.0 / mu)  # log(mu / (1 + mu)), accurate for large mu
    log_first = -np.log1p(mu)

    def terms(k, wk):
        prob = np.exp(log_first[None, :] + (k[:, None] - 1.0) * log_ratio[None, :]) @ weight
        safe = np.where(prob > 0, prob, 1.0)
        return (-(prob * np.log2(safe)) * wk).sum(), (prob * np.log2(k) * wk).sum(), (prob * wk).sum()

    entropy = mean_log = total = 0.0
    k = np.arange(1, k_exact + 1, dtype=np.float64)
    for start in range(0, k.size, 512):
        h, e, p = terms(k[start:start + 512], 1.0)
        entropy, mean_log, total = entropy + h, mean_log + e, total + p
    x = np.linspace(np.log(k_exact + 0.5), np.log(k_exact + 0.5) + kappa + 12 * s + 20, n_tail)
    dx = x[1] - x[0]
    wk = np.exp(x) * dx
    wk[0] *= 0.5
    wk[-1] *= 0.5
    for start in range(0, x.size, 256):
        sl = slice(start, start + 256)
        h, e, p = terms(np.exp(x[sl]), wk[sl])
        entropy, mean_log, total = entropy + h, mean_log + e, total + p
    return float(entropy), float(mean_log), float(total)


def zipf_code_bits(kl_bits: float, mean_log2_k: float) -> float:
    """Expected Shannon code length of K under the Zipf law with exponent 1 + 1/(KL + 1.53)."""
    lam = 1.0 + 1.0 / (kl_bits + 1.53)
    return lam * mean_log2_k + float(np.log2(sc.zeta(lam)))


def main(argv: list[str] | None = None) -> list[tuple[float, float, float, float]]:
    args = sys.argv[1:] if argv is None else argv
    kls = [float(a) for a in args] or [10.0, 11.0, 12.0, 16.0, 20.0]
    rows = []
    print(f"{'KL bits':>8} {'D_CS-KL':>8} {'PFR H[K]-KL':>12} {'Zipf-KL':>8} {'P(K=1)':>7} {'sum P':>10}")
    for kl in kls:
        dcs = rcc.dcs_bits_equal_variance(kl)
        entropy, mean_log, total = pfr_index_law_costs(kl)
        zipf = zipf_code_bits(kl, mean_log)
        kappa = kl * LN2
        s = np.sqrt(2 * kappa)
        t = np.linspace(-10, 10, 6001)
        w = np.exp(-t * t / 2)
        w /= w.sum()
        la = kappa + s * t
        p1 = float(w @ (1.0 / (1.0 + np.exp(la) * sc.ndtr((la + kappa) / s) - sc.ndtr((la - kappa) / s))))
        print(f"{kl:8.2f} {dcs - kl:8.3f} {entropy - kl:12.3f} {zipf - kl:8.3f} {p1:7.3f} {total:10.7f}")
        rows.append((kl, dcs - kl, entropy - kl, zipf - kl))
    return rows


if __name__ == "__main__":
    main()
