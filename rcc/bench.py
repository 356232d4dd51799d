"""Benchmarks behind ``rcc bench``: real bits against the KL bound, bias, and speed.

Every function returns a list of rows (dicts) that :mod:`rcc.cli` prints as a table and can
write as JSON. Bits are the lengths of the bytes the channels write: ``bits`` is the payload
(``msg.num_bits``), ``total_bits`` adds the container header and checksum.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import integrate, optimize, stats

from ._kernels import Pair, index_uniforms, score_batch
from ._race import gumbel_max, poisson_race
from .bounds import chunked_dcs_bits, dcs_bits, dcs_bits_equal_variance
from .coding import golomb_param_for_kl, zipf_index_bits
from .distributions import Gaussian, Uniform, dinf_bits, kl_bits
from .pfr import PFR
from .random import DOMAIN_CANDIDATE, seed_key

__all__ = ["pfr_rows", "pfr_truncated_rows", "tv_bound", "uq_rows", "speed_rows", "categorical_rows", "equal_variance_rows", "hybrid_rows", "compress_rows"]

_LN2 = math.log(2.0)


def tv_bound(kl: float, n: int) -> float:
    """P(K > N) of exact PFR's index on an equal-variance Gaussian pair of ``kl`` bits: the race
    cut at N candidates returns the exact race's sample unless K > N, so the total-variation
    distance of truncated PFR's sample law from q is at most this (the coupling bound)."""
    from ._index_law import range_masses

    return float(range_masses(float(kl), [1, int(n) + 1, math.inf])[1])


def _gaussian_target_for_kl(kl: float, shift: float = 0.5) -> Gaussian:
    """q = N(shift, sigma^2) with KL[q || N(0, 1)] = kl bits (sigma solved for)."""

    def gap(log_sigma):
        return float(kl_bits(Gaussian(shift, math.exp(log_sigma)), Gaussian(0.0, 1.0))) - kl

    return Gaussian(shift, math.exp(optimize.brentq(gap, -40.0, -1e-6)))


def pfr_rows(kls=(0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0), num_seeds: int = 200) -> list[dict]:
    """Exact PFR on 1-D Gaussian pairs p = N(0, 1), q = N(0.5, sigma^2) with the given KLs.

    Per row: KL, D_inf, D_CS (``rcc.dcs_bits``: the least any exact scheme pays for the pair),
    mean payload bits and total bits over ``num_seeds`` seeds, the bound KL + log2(KL + 1) + 4 of
    Li & El Gamal, E[log2 K], mean candidates scored, encode and decode time per message, and the
    KS p-value of the decoded samples against q (exactness check).
    """
    p = Gaussian(0.0, 1.0)
    channel = PFR()
    rows = []
    for kl in kls:
        q = _gaussian_target_for_kl(kl)
        bits, total, log_k, cands, xs = [], [], [], [], []
        t_enc = t_dec = 0.0
        for seed in range(num_seeds):
            t0 = time.perf_counter()
            msg = channel.encode(q, p, seed=seed)
            blob = msg.to_bytes()
            t1 = time.perf_counter()
            x = channel.decode(blob, p, seed=seed)
            t_dec += time.perf_counter() - t1
            t_enc += t1 - t0
            if x.tobytes() != msg.sample.tobytes():
                raise AssertionError(f"PFR decode mismatch at seed {seed}")
            bits.append(msg.num_bits)
            total.append(8 * len(blob))
            log_k.append(math.log2(msg.info["index"]))
            cands.append(msg.info["num_scored"])
            xs.append(float(x))
        kl_true = float(kl_bits(q, p))
        rows.append(
            {
                "method": "pfr",
                "kl_bits": kl_true,
                "dinf_bits": float(dinf_bits(q, p)),
                "dcs_bits": float(dcs_bits(q, p)),
                "bits": float(np.mean(bits)),
                "total_bits": float(np.mean(total)),
                "bound_bits": kl_true + math.log2(kl_true + 1.0) + 4.0,
                "e_log2_index": float(np.mean(log_k)),
                "candidates": float(np.mean(cands)),
                "encode_ms": 1e3 * t_enc / num_seeds,
                "decode_ms": 1e3 * t_dec / num_seeds,
                "bias": f"KS p={stats.kstest(xs, stats.norm(float(q.a), float(q.b)).cdf).pvalue:.2f}",
            }
        )
    return rows


def pfr_truncated_rows(kl: float = 12.0, dim: int = 16, log2_candidates=(14, 17, 20), num_seeds: int = 100) -> list[dict]:
    """Truncated PFR on equal-variance Gaussians (D_inf infinite): bits against bias.

    q = N(mu, I), p = N(0, I) in ``dim`` dimensions with |mu|^2 / (2 ln 2) = ``kl`` bits. The bias
    diagnostic is the mean projection of the decoded sample on mu / |mu|, divided by |mu| (1 for an
    exact sampler), and the variance of that projection (1 for an exact sampler), beside the TV
    bound P(K > N) (:func:`tv_bound`) and D_CS of the pair.
    """
    norm = math.sqrt(2.0 * kl * _LN2)
    mu = np.full(dim, norm / math.sqrt(dim))
    q, p = Gaussian(mu, 1.0), Gaussian(np.zeros(dim), 1.0)
    rows = []
    for lc in log2_candidates:
        channel = PFR(max_candidates=2**lc)
        proj, bits, total = [], [], []
        t0 = time.perf_counter()
        for seed in range(num_seeds):
            msg = channel.encode(q, p, seed=seed)
            proj.append(float(msg.sample @ mu) / norm)
            bits.append(msg.num_bits)
            total.append(msg.total_bits)
        elapsed = time.perf_counter() - t0
        proj = np.asarray(proj)
        rows.append(
            {
                "method": f"pfr N=2^{lc}",
                "kl_bits": float(kl_bits(q, p)),
                "dinf_bits": math.inf,
                "dcs_bits": float(dcs_bits_equal_variance(kl)),
                "bits": float(np.mean(bits)),
                "total_bits": float(np.mean(total)),
                "bound_bits": kl + math.log2(kl + 1.0) + 4.0,
                "tv_bound": tv_bound(kl, 2**lc),
                "e_log2_index": math.nan,
                "candidates": float(2**lc),
                "encode_ms": 1e3 * elapsed / num_seeds,
                "decode_ms": math.nan,
                "bias": f"proj ratio {proj.mean() / norm:.3f}, var {proj.var():.2f}",
            }
        )
    return rows


def _uq_mutual_information_bits(step: float) -> float:
    """I(X; X + U) in bits for X ~ N(0, 1), U ~ U(-step/2, step/2): h(X + U) - log2(step)."""
    s2 = step / 2.0

    def density(y):
        return (stats.norm.cdf(y + s2) - stats.norm.cdf(y - s2)) / step

    def integrand(y):
        f = density(y)
        return -f * math.log2(f) if f > 0 else 0.0

    h, _ = integrate.quad(integrand, -12.0 - s2, 12.0 + s2, limit=400)
    return h - math.log2(step)


def uq_rows(steps=(4.0, 2.0, 1.0, 0.5, 0.25, 0.1), num_elements: int = 100_000, seed: int = 0) -> list[dict]:
    """Universal quantization of X ~ N(0, 1) with uniform noise of width ``step``, per element.

    Bits per element of the real stream against the information content of the indices and the
    mutual information I(X; X + U), the one-shot lower bound. The bias column is the KS p-value
    of the error (x_hat - mu) / step against U(-1/2, 1/2) (exact: any p-value is fine).
    """
    from .uq import UQ

    rng = np.random.default_rng(seed)
    mu = rng.standard_normal(num_elements)
    p = Gaussian(0.0, 1.0)
    channel = UQ()
    channel.encode(Uniform(mu[:8] - 0.5, mu[:8] + 0.5), p, seed=seed)  # compile outside the timing
    rows = []
    for step in steps:
        q = Uniform(mu - step / 2, mu + step / 2)
        t0 = time.perf_counter()
        msg = channel.encode(q, p, seed=seed)
        blob = msg.to_bytes()
        t1 = time.perf_counter()
        x = channel.decode(blob, p, seed=seed)
        t2 = time.perf_counter()
        if x.tobytes() != msg.sample.tobytes():
            raise AssertionError("UQ decode mismatch")
        err = (x - mu) / step
        rows.append(
            {
                "method": f"uq step={step:g}",
                "kl_bits": float(kl_bits(q, p)) / num_elements,
                "dinf_bits": math.nan,
                "bits": msg.num_bits / num_elements,
                "total_bits": 8 * len(blob) / num_elements,
                "bound_bits": _uq_mutual_information_bits(step),
                "e_log2_index": msg.info["info_bits"] / num_elements,
                "candidates": math.nan,
                "encode_ms": 1e3 * (t1 - t0),
                "decode_ms": 1e3 * (t2 - t1),
                "bias": f"KS p={stats.kstest(err, stats.uniform(-0.5, 1.0).cdf).pvalue:.2f}",
            }
        )
    return rows


def speed_rows(dim: int = 64, batch: int = 2**15, repeats: int = 5, uq_elements: int = 10**6) -> list[dict]:
    """Candidate scoring rate against numpy's one-core ``standard_normal`` rate, same process.

    Candidate-coordinates per second of the numba scoring kernel (Gaussian pair, ``dim``
    coordinates, parallel over candidates on all cores numba uses), and the ratio to the number
    of float64 normals per second numpy's default generator draws; and UQ encode + decode time
    for ``uq_elements`` Gaussian-prior elements.
    """
    import numba

    from .uq import UQ

    rng = np.random.default_rng(0)
    q = Gaussian(rng.normal(0, 0.3, dim), 0.8)
    p = Gaussian(np.zeros(dim), 1.0)
    pair = Pair(q, p)
    key = seed_key(1)
    score_batch(pair, key, 0, 0, 16)  # compile
    best = math.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        score_batch(pair, key, 0, r * batch, batch)
        best = min(best, time.perf_counter() - t0)
    kernel_rate = dim * batch / best
    n = dim * batch
    best_np = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        rng.standard_normal(n)
        best_np = min(best_np, time.perf_counter() - t0)
    numpy_rate = n / best_np

    mu = rng.standard_normal(uq_elements)
    ch = UQ()
    ch.encode(Uniform(mu[:10] - 0.5, mu[:10] + 0.5), Gaussian(0.0, 1.0), seed=0)  # compile
    t0 = time.perf_counter()
    msg = ch.encode(Uniform(mu - 0.5, mu + 0.5), Gaussian(0.0, 1.0), seed=0)
    ch.decode(msg.to_bytes(), Gaussian(0.0, 1.0), seed=0)
    uq_seconds = time.perf_counter() - t0
    # decoding regenerates one candidate: its cost must not grow with the index
    from .coding import BitWriter, write_zipf_index
    from .container import Payload
    from .pfr import PFR

    def decode_seconds(index: int) -> float:
        w = BitWriter()
        write_zipf_index(w, index, 10)
        payload, nbits = w.getvalue()
        blob = Payload("pfr", (10, 0), 1, (dim,), payload, nbits).to_bytes(prior=p)
        PFR().decode(blob, p)
        t0 = time.perf_counter()
        for _ in range(200):
            PFR().decode(blob, p)
        return (time.perf_counter() - t0) / 200

    t_small, t_large = decode_seconds(2**4), decode_seconds(2**20 + 12345)
    return [
        {
            "what": f"PFR/ORC/MRC candidate scoring, d={dim}, {numba.get_num_threads()} threads",
            "rate_per_s": kernel_rate,
            "ratio_to_numpy_normal": kernel_rate / numpy_rate,
        },
        {"what": "numpy default_rng standard_normal (1 core)", "rate_per_s": numpy_rate, "ratio_to_numpy_normal": 1.0},
        {"what": f"UQ encode+decode of {uq_elements} elements (s)", "rate_per_s": uq_elements / uq_seconds,
         "ratio_to_numpy_normal": math.nan, "seconds": uq_seconds},
        {"what": f"PFR decode, index 2^20 / index 2^4 (time ratio; d={dim})", "rate_per_s": 1.0 / t_large,
         "ratio_to_numpy_normal": math.nan, "seconds": t_large, "ratio": t_large / t_small},
    ]


def _race_index(method: str, score, seed: int, log_rmax: float, n: int) -> int:
    if method == "mrc":
        return gumbel_max(score, seed, 0, n)
    return poisson_race(score, seed, 0, log_rmax, n, ordered=(method == "orc"))[0]


def _entropy_bits(values) -> float:
    _, counts = np.unique(np.asarray(values), return_counts=True)
    f = counts / counts.sum()
    return float(-(f * np.log2(f)).sum())


def categorical_rows(
    num_categories: int = 8192,
    alpha: float = 0.01,
    num_targets: int = 4,
    num_runs: int = 2000,
    log2_candidates=(0, 2, 4, 6, 8, 10),
    methods=("pfr", "orc", "mrc"),
) -> list[dict]:
    """Theis & Yosri's categorical experiment (ICML 2022): bias against index entropy.

    Uniform prior over ``num_categories``; targets q ~ Dirichlet(alpha). Candidates are categories
    drawn uniformly from the shared stream; each method selects among N candidates (PFR
    truncated at N, ORC and MRC with N). Per (method, N): the mean over targets of the total
    variation between the histogram of ``num_runs`` decoded samples and q, and of the empirical
    entropy of the index pooled over the runs of a target (what an ideal code of that law would
    pay; the plug-in estimate reads low once N approaches ``num_runs``), and of the real bits of
    each channel's own index code (PFR, ORC: the Zipf/Golomb code with the target's KL; MRC:
    log2 N). The ``exact`` row give the TV of
    ``num_runs`` i.i.d. samples of q: the sampling-noise floor of the TV estimate.
    """
    rng = np.random.default_rng(2022)
    targets = rng.dirichlet(np.full(num_categories, alpha), size=num_targets)
    kls = [float(np.sum(np.where(t > 0, t * np.log2(np.maximum(t, 1e-300) * num_categories), 0.0))) for t in targets]
    rows = []
    floor = []
    for t_i, q in enumerate(targets):
        draws = rng.choice(num_categories, size=num_runs, p=q)
        floor.append(0.5 * np.abs(np.bincount(draws, minlength=num_categories) / num_runs - q).sum())
    rows.append({"method": "exact (noise floor)", "N": math.nan, "kl_bits": float(np.mean(kls)),
                 "tv": float(np.mean(floor)), "index_entropy_bits": math.nan})
    for method in methods:
        for lc in log2_candidates:
            n = 2**lc
            tvs, ents, bits = [], [], []
            for t_i, q in enumerate(targets):
                log_r = np.log(np.maximum(q, 1e-300) * num_categories)
                log_rmax = float(log_r.max())
                cats_seen, idx_seen = [], []
                for run in range(num_runs):
                    seed = 1_000_003 * t_i + run
                    key = seed_key(seed)

                    def score(start, count, key=key, log_r=log_r):
                        u = index_uniforms(key, DOMAIN_CANDIDATE, 0, start, count)
                        return log_r[np.minimum((u * num_categories).astype(np.int64), num_categories - 1)]

                    k = _race_index(method, score, seed, log_rmax, n)
                    u = index_uniforms(key, DOMAIN_CANDIDATE, 0, k, 1)[0]
                    cats_seen.append(min(int(u * num_categories), num_categories - 1))
                    idx_seen.append(k)
                hist = np.bincount(cats_seen, minlength=num_categories) / num_runs
                tvs.append(0.5 * np.abs(hist - q).sum())
                ents.append(_entropy_bits(idx_seen))
                if method == "mrc":
                    bits.append(float((n - 1).bit_length()))
                else:
                    m = golomb_param_for_kl(kls[t_i])
                    bits.append(float(np.mean(zipf_index_bits(np.asarray(idx_seen) + 1, m))))
            rows.append({"method": method, "N": n, "kl_bits": float(np.mean(kls)), "tv": float(np.mean(tvs)),
                         "index_entropy_bits": float(np.mean(ents)), "bits": float(np.mean(bits))})
    return rows


def equal_variance_rows(kls=(4, 8, 12, 14), extra_log2=(2, 5, 8), num_seeds: int = 200,
                        methods=("pfr", "orc", "mrc")) -> list[dict]:
    """Truncated selection on equal-variance Gaussians, q = N(mu, 1), p = N(0, 1) (D_inf infinite).

    mu = sqrt(2 KL ln 2). For N = 2^(KL + e): mean payload bits of each channel's own index code
    (PFR and ORC: Zipf/Golomb code; MRC: log2 N) and the bias: the
    decoded sample's mean over mu (1 when exact) and its variance (1 when exact), with D_CS of the
    pair and, for PFR, the TV bound P(K > N) (:func:`tv_bound`). The log ratio depends only on the
    projection on mu, so 1-D pairs stand for any chunk of that KL.
    """
    from .mrc import MRC
    from .orc import ORC

    p = Gaussian(0.0, 1.0)
    rows = []
    for kl in kls:
        mu = math.sqrt(2.0 * kl * _LN2)
        q = Gaussian(mu, 1.0)
        for e in extra_log2:
            n = 2 ** (kl + e)
            for method in methods:
                channel = {"pfr": PFR(max_candidates=n), "orc": ORC(num_candidates=n), "mrc": MRC(num_candidates=n)}[method]
                xs, bits = [], []
                t0 = time.perf_counter()
                for seed in range(num_seeds):
                    msg = channel.encode(q, p, seed=seed)
                    xs.append(float(msg.sample))
                    bits.append(msg.num_bits)
                elapsed = time.perf_counter() - t0
                xs = np.asarray(xs)
                rows.append({"method": method, "kl_bits": float(kl), "N": f"2^{kl + e}", "bits": float(np.mean(bits)),
                             "dcs_bits": float(dcs_bits_equal_variance(kl)),
                             "tv_bound": tv_bound(kl, n) if method == "pfr" else math.nan,
                             "mean_ratio": float(xs.mean() / mu),
                             "var": float(xs.var()), "encode_ms": 1e3 * elapsed / num_seeds})
    return rows


def hybrid_rows(num_bins=(1, 4, 16), num_seeds: int = 500) -> list[dict]:
    """Hybrid coding (Theis & Yosri, 2022) against plain PFR on the same exact pairs.

    p = N(0, 1); q = N(2, 0.3^2) and N(3, 0.2^2). Per row: mean payload bits (bin + index for
    the hybrid), mean candidates scored, and PFR's candidates divided by the hybrid's (about M
    while q fits in one bin), with the KS p-value of the decoded samples (both are exact).
    """
    from .hybrid import Hybrid

    p = Gaussian(0.0, 1.0)
    rows = []
    for loc, scale in ((2.0, 0.3), (3.0, 0.2)):
        q = Gaussian(loc, scale)
        base = None
        for m in (None, *num_bins):
            channel = PFR() if m is None else Hybrid(num_bins=m)
            bits, cands, xs = [], [], []
            t0 = time.perf_counter()
            for seed in range(num_seeds):
                msg = channel.encode(q, p, seed=seed)
                bits.append(msg.num_bits)
                cands.append(msg.info["num_scored"])
                xs.append(float(msg.sample))
            elapsed = time.perf_counter() - t0
            mean_cands = float(np.mean(cands))
            if base is None:
                base = mean_cands
            rows.append({
                "method": "pfr" if m is None else f"hybrid M={m}",
                "target": f"N({loc:g}, {scale:g}^2)",
                "kl_bits": float(kl_bits(q, p)),
                "bits": float(np.mean(bits)),
                "candidates": mean_cands,
                "candidate_ratio": base / mean_cands,
                "encode_ms": 1e3 * elapsed / num_seeds,
                "bias": f"KS p={stats.kstest(xs, stats.norm(loc, scale).cdf).pvalue:.2f}",
            })
    return rows


def compress_rows(dim: int = 4096, chunk_bits: float = 8.0, num_seeds: int = 4, seed: int = 3) -> list[dict]:
    """One d-dimensional Gaussian posterior through :func:`rcc.compress` with each method.

    p = N(0, I); q = N(mu, 0.5^2 I) with mu ~ N(0, 0.5^2 I) (a few thousand bits of KL). Per
    method: payload bits / KL, header bits, chunks, candidates, compress and decompress time
    (mean over ``num_seeds`` seeds), and the bias diagnostic: the standardised projection of the
    decoded sample on the mean shift, t = (x - mu_q).v / sqrt(sum v^2 sigma_q^2), v = mu_q - mu_p,
    which is N(0, 1) for an exact sampler (its mean over seeds is shown with its standard error).
    ``dcs_bits``: the D_CS floor of the chunks of seed 0's message, sum_c D_CS[q_c || p_c]
    (``rcc.dcs_bits`` on each chunk's own pair, 16 chunks drawn with numpy seed ``seed`` and scaled
    to all; the chunks are i.i.d. here, so the estimate is tight): what any exact scheme that
    simulates the same chunks one by one pays at least.
    """
    from .chunked import compress, decompress
    from .mrc import MRC
    from .orc import ORC

    rng = np.random.default_rng(seed)
    mu = 0.5 * rng.standard_normal(dim)
    q, p = Gaussian(mu, 0.5), Gaussian(np.zeros(dim), 1.0)
    kl = float(kl_bits(q, p))
    v = mu
    norm = math.sqrt(float(np.sum(v * v * 0.25)))
    n_cand = 2 ** int(chunk_bits + 4)
    rows = []
    for name, method in (("pfr", "pfr"), (f"orc N=2^{int(chunk_bits + 4)}", ORC(num_candidates=n_cand)),
                         (f"mrc N=2^{int(chunk_bits + 4)}", MRC(num_candidates=n_cand))):
        ts, t_enc, t_dec, reports = [], 0.0, 0.0, []
        for s in range(num_seeds):
            t0 = time.perf_counter()
            report = compress(q, p, method=method, seed=s, chunk_bits=chunk_bits)
            blob = report.to_bytes()
            t1 = time.perf_counter()
            x = decompress(blob, p)
            t_dec += time.perf_counter() - t1
            t_enc += t1 - t0
            if x.tobytes() != report.sample.tobytes():
                raise AssertionError("compress/decompress mismatch")
            ts.append(float((x - mu) @ v) / norm)
            reports.append(report)
        ts = np.asarray(ts)
        rows.append({
            "method": name,
            "kl_bits": kl,
            "dcs_bits": chunked_dcs_bits(q, p, reports[0].chunks.sizes, sample=16, rng=np.random.default_rng(seed))[0],
            "bits": float(np.mean([r.num_bits for r in reports])),
            "bits_per_kl": float(np.mean([r.num_bits for r in reports])) / kl,
            "header_bits": float(np.mean([r.overhead_bits for r in reports])),
            "chunks": float(np.mean([r.info["num_chunks"] for r in reports])),
            "candidates": float(np.mean([r.info["num_scored"] for r in reports])),
            "encode_ms": 1e3 * t_enc / num_seeds,
            "decode_ms": 1e3 * t_dec / num_seeds,
            "bias": f"t = {ts.mean():+.2f} +- {1 / math.sqrt(num_seeds):.2f}",
        })
    return rows


# ----------------------------------------------------------------------------------- figures
#: One colour per channel, the same in every suite's figure.
COLOURS = {"pfr": "tab:blue", "orc": "tab:green", "mrc": "tab:red", "uq": "tab:orange", "hybrid": "tab:purple",
           "exact": "tab:gray"}
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _colour(method: str) -> str:
    return COLOURS.get(method.split()[0], "black")


def _identity(ax, lo: float, hi: float, label: str = "y = x") -> None:
    ax.plot([lo, hi], [lo, hi], color="0.6", linestyle=":", linewidth=1, label=label)


def _plot_core(fig, rows):
    ax, ax_uq = fig.subplots(1, 2)
    exact = [r for r in rows if r["method"] == "pfr"]
    trunc = [r for r in rows if r["method"].startswith("pfr N=")]
    uq = [r for r in rows if r["method"].startswith("uq")]
    if exact:
        kl = [r["kl_bits"] for r in exact]
        ax.plot(kl, [r["bits"] for r in exact], "o-", color=COLOURS["pfr"], label="exact PFR: real bits")
        ax.plot(kl, [r["bound_bits"] for r in exact], "--", color=COLOURS["pfr"], label="bound KL + log2(KL + 1) + 4")
        ax.plot(kl, [r["e_log2_index"] for r in exact], "x:", color="0.3", label="E[log2 index]")
        if all("dcs_bits" in r for r in exact):
            ax.plot(kl, [r["dcs_bits"] for r in exact], "-.", color="black",
                    label="D_CS: the least any exact scheme pays")
    for r, marker in zip(trunc, "sD^v"):
        ax.plot([r["kl_bits"]], [r["bits"]], marker, color=COLOURS["pfr"], fillstyle="none", linestyle="none",
                label=f"truncated PFR, {r['method'][4:]} ({r['bias']})")
    top = max([r["bound_bits"] for r in exact + trunc] + [1.0])
    _identity(ax, 0.0, top)
    ax.set(xlabel="KL (bits)", ylabel="payload bits per message", title="PFR: real bits against KL")
    ax.legend(fontsize="small")
    if uq:
        steps = [float(r["method"].split("=")[1]) for r in uq]
        ax_uq.plot(steps, [r["bits"] for r in uq], "o-", color=COLOURS["uq"], label="UQ: real bits")
        ax_uq.plot(steps, [r["bound_bits"] for r in uq], "--", color="0.3", label="I(X; X + U) (one-shot bound)")
        ax_uq.set_xscale("log")
        ax_uq.legend(fontsize="small")
    ax_uq.set(xlabel="quantization step (noise width)", ylabel="bits per dimension",
              title="UQ, X ~ N(0, 1): bits per element")


def _plot_categorical(fig, rows):
    ax = fig.subplots()
    floor = [r for r in rows if r["method"].startswith("exact")]
    for method in dict.fromkeys(r["method"] for r in rows if not r["method"].startswith("exact")):
        rs = [r for r in rows if r["method"] == method]
        ax.plot([r["bits"] for r in rs], [r["tv"] for r in rs], "o-", color=_colour(method), label=f"{method}: real bits")
        ax.plot([r["index_entropy_bits"] for r in rs], [r["tv"] for r in rs], "x--", color=_colour(method),
                label=f"{method}: index entropy")
    for r in floor:
        ax.axhline(r["tv"], color=COLOURS["exact"], linestyle=":", label="exact sampler (noise floor)")
        ax.axvline(r["kl_bits"], color="0.3", linestyle="-.", linewidth=1, label=f"mean KL = {r['kl_bits']:.2f} bits")
    ax.set(xlabel="bits per sample", ylabel="total variation to q (bias)",
           title="Categorical targets: bias against bits (N = number of candidates grows to the right)")
    ax.legend(fontsize="small")


def _plot_equal_variance(fig, rows):
    from matplotlib.lines import Line2D

    ax_mean, ax_var = fig.subplots(1, 2)
    markers = dict(zip(dict.fromkeys(r["kl_bits"] for r in rows), "osD^v<>"))
    for (method, kl), marker in ((k, markers[k[1]]) for k in dict.fromkeys((r["method"], r["kl_bits"]) for r in rows)):
        rs = [r for r in rows if r["method"] == method and r["kl_bits"] == kl]
        bits = [r["bits"] for r in rs]
        ax_mean.plot(bits, [r["mean_ratio"] for r in rs], marker + "-", color=_colour(method))
        ax_var.plot(bits, [r["var"] for r in rs], marker + "-", color=_colour(method))
    handles = [Line2D([], [], color=_colour(m), label=m) for m in dict.fromkeys(r["method"] for r in rows)]
    handles += [Line2D([], [], marker=mk, color="0.3", linestyle="none", label=f"KL = {kl:g} bits") for kl, mk in markers.items()]
    handles.append(Line2D([], [], color="0.6", linestyle=":", label="exact sampler"))
    for ax, what in ((ax_mean, "decoded mean / mu"), (ax_var, "decoded variance")):
        ax.axhline(1.0, color="0.6", linestyle=":")
        ax.set(xlabel="payload bits per sample", ylabel=f"{what} (1 when exact)")
    ax_mean.set_title("q = N(mu, 1), p = N(0, 1): bias against bits")
    ax_var.set_title("more candidates: less bias, more bits")
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")


def _plot_hybrid(fig, rows):
    from matplotlib.lines import Line2D

    ax = fig.subplots()
    markers = dict(zip(dict.fromkeys(r["target"] for r in rows), "os^D"))
    for target, marker in markers.items():
        rs = [r for r in rows if r["target"] == target]
        ax.plot([r["candidates"] for r in rs], [r["bits"] for r in rs], "-", color="0.8", zorder=1)
        for r in rs:
            ax.plot([r["candidates"]], [r["bits"]], marker, color=_colour(r["method"]), linestyle="none", zorder=2)
            ax.annotate(r["method"], (r["candidates"], r["bits"]), textcoords="offset points", xytext=(5, 4),
                        fontsize="x-small")
    handles = [Line2D([], [], color=COLOURS[m], linewidth=6, label=label)
               for m, label in (("pfr", "exact PFR"), ("hybrid", "hybrid coding, M bins"))]
    kls = {r["target"]: r["kl_bits"] for r in rows}
    handles += [Line2D([], [], marker=mk, color="0.3", linestyle="none", label=f"q = {t} (KL {kls[t]:.1f} bits)")
                for t, mk in markers.items()]
    ax.set_xscale("log")
    ax.set(xlabel="candidates scored per message (log scale)", ylabel="payload bits per message",
           title="Hybrid coding against exact PFR (p = N(0, 1)): fewer candidates, similar bits")
    ax.legend(handles=handles, fontsize="small")


def _plot_compress(fig, rows):
    ax_bits, ax_time = fig.subplots(1, 2)
    names = [r["method"] for r in rows]
    colours = [_colour(m) for m in names]
    ax_bits.bar(names, [r["bits_per_kl"] for r in rows], color=colours)
    ax_bits.axhline(1.0, color="0.3", linestyle=":", label="bits = KL")
    if rows and "dcs_bits" in rows[0]:
        ax_bits.axhline(rows[0]["dcs_bits"] / rows[0]["kl_bits"], color="black", linestyle="-.",
                        label="D_CS of the chunks / KL (least any exact scheme pays)")
    ax_bits.set(ylabel="payload bits / KL", title=f"rcc.compress, KL = {rows[0]['kl_bits']:.0f} bits" if rows else "")
    ax_bits.legend(fontsize="small")
    x = np.arange(len(rows))
    ax_time.bar(x - 0.2, [r["encode_ms"] for r in rows], 0.4, color=colours, label="compress")
    ax_time.bar(x + 0.2, [r["decode_ms"] for r in rows], 0.4, color=colours, hatch="//", alpha=0.6, label="decompress")
    ax_time.set_xticks(x, names)
    ax_time.set_yscale("log")
    ax_time.set(ylabel="time per message (ms, log scale)", title="time")
    ax_time.legend(fontsize="small")


def _plot_speed(fig, rows):
    import textwrap

    ax = fig.subplots()
    names = [textwrap.fill(r["what"], 32) for r in rows]
    ax.barh(names, [r["rate_per_s"] for r in rows], color=["tab:blue", "tab:gray", COLOURS["uq"], "tab:blue"])
    for i, r in enumerate(rows):
        note = r.get("ratio_to_numpy_normal", math.nan)
        text = f"{r['rate_per_s']:.3g}/s" + ("" if math.isnan(note) else f"  ({note:.2f} x numpy)")
        if "ratio" in r:
            text += f"  (time ratio {r['ratio']:.2f})"
        ax.annotate(text, (r["rate_per_s"], i), textcoords="offset points", xytext=(4, -3), fontsize="x-small")
    ax.set_xscale("log")
    rates = [r["rate_per_s"] for r in rows] or [1.0]
    ax.set_xlim(min(rates) / 10, max(rates) * 300)
    ax.invert_yaxis()
    ax.set(xlabel="items per second (log scale): candidate coordinates, normals, UQ elements, decodes",
           title="Throughput (higher is faster)")


_PLOTS = {"core": _plot_core, "categorical": _plot_categorical, "equal-variance": _plot_equal_variance,
          "hybrid": _plot_hybrid, "compress": _plot_compress, "speed": _plot_speed}


def plot_rows(suite: str, rows: list[dict], path: str, title: str = "") -> None:
    """Write the figure of one suite's rows (``suite``: core, categorical, equal-variance, hybrid,
    compress or speed) to ``path`` (.png, .pdf or .svg). Needs matplotlib (imported here, Agg
    backend); each channel keeps one colour in every figure (:data:`COLOURS`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 5) if suite in ("core", "equal-variance", "compress") else (9, 5.5),
                     layout="constrained")
    try:
        _PLOTS[suite](fig, rows)
        if title:
            fig.suptitle(title, fontsize="small")
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
