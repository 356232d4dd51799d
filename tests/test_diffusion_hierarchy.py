"""Diffusion hierarchies: data, schedules, shapes, invariants, NELBO vs Monte Carlo, shipped checkpoints."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import diffusion
from diffusion import data
from diffusion.distributions import (
    GaussianStep,
    LogisticUniformStep,
    UniformStep,
    kl_gaussian,
    kl_uniform_logistic,
    log_sigmoid_diff,
)
from diffusion.schedules import LinearGamma, discrete_times, step_coefficients
from diffusion.train import checkpoint_path, shipped_checkpoints

torch.set_num_threads(1)

SHIPPED = [checkpoint_path(h, t) for h, t in shipped_checkpoints()]


# ------------------------------------------------------------------------------------ data
def test_swirl_is_the_vdm_colab_set():
    x = data.swirl()
    assert x.shape == (1024, 2) and x.dtype == np.uint8
    # golden rows of the seed-0 set (np.random.seed(0); rand(N); randn(N, 2); astype uint8)
    np.testing.assert_array_equal(x[:3], [[172, 164], [109, 195], [155, 181]])
    np.testing.assert_array_equal(x, data.swirl(seed=0))
    assert not np.array_equal(x, data.swirl(seed=1))


def test_swirl_leaves_global_rng_alone():
    np.random.seed(123)
    a = np.random.rand()
    np.random.seed(123)
    data.swirl(seed=5)
    assert np.random.rand() == a


def test_standardise_round_trip_and_stats():
    x = data.swirl()
    f = data.standardise(x)
    np.testing.assert_allclose(f.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(f.std(0), 1.0, atol=1e-12)
    np.testing.assert_allclose(data.destandardise(f), x, atol=1e-9)
    assert data.value_grid().shape == (2, 256)


@pytest.mark.parametrize("bad", [dict(num_points=0), dict(num_points=2.5), dict(seed=-1)])
def test_swirl_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        data.swirl(**bad)


# ------------------------------------------------------------------------------------ schedules
def test_step_coefficients_match_direct_formulas():
    sched = LinearGamma(-10.0, 6.0, learned=False).double()
    T = 7
    t = discrete_times(T)
    for i in range(1, T + 1):
        gs, gt = sched(t[i - 1]), sched(t[i])
        c = step_coefficients(gs, gt)
        a_s, a_t = math.sqrt(1 / (1 + math.exp(gs))), math.sqrt(1 / (1 + math.exp(gt)))
        s2_s, s2_t = 1 / (1 + math.exp(-gs)), 1 / (1 + math.exp(-gt))
        a_ts = a_t / a_s
        s2_ts = s2_t - a_ts**2 * s2_s
        assert float(c.b) == pytest.approx(a_ts * s2_s / s2_t, rel=1e-10)
        assert float(c.c) == pytest.approx(a_s * s2_ts / s2_t, rel=1e-10)
        assert float(c.post_var) == pytest.approx(s2_ts * s2_s / s2_t, rel=1e-9)
        assert float(c.kernel_var) == pytest.approx(s2_ts, rel=1e-9)
        # UQDM width: Delta U(-1/2,1/2) has the posterior variance
        assert float(c.delta) ** 2 / 12 == pytest.approx(float(c.post_var), rel=1e-12)
        assert float(c.delta) == pytest.approx(math.sqrt(12 * s2_ts) * math.sqrt(s2_s / s2_t), rel=1e-9)


def test_linear_gamma_validation_and_monotone():
    with pytest.raises(ValueError):
        LinearGamma(5.0, -5.0)
    g = LinearGamma(-13.3, 5.0)
    assert g.endpoints() == pytest.approx((-13.3, 5.0), abs=1e-5)
    with pytest.raises(ValueError):
        discrete_times(0)


# ------------------------------------------------------------------------------------ make / shapes
@pytest.mark.parametrize("bad", [dict(hierarchy="laplace"), dict(steps=0), dict(steps=1.5)])
def test_make_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        diffusion.make(**bad)


def _small(hierarchy, steps=4, learned_variance=True, seed=0):
    torch.manual_seed(seed)
    m = diffusion.make(hierarchy, steps=steps, hidden=32, learned_variance=learned_variance).double()
    # give the zero-initialised output layer some weights so the prior is not trivial
    with torch.no_grad():
        m.denoiser.out.weight.normal_(0, 0.05)
    return m.eval()


@pytest.mark.parametrize("hierarchy", ["gaussian", "uniform"])
@pytest.mark.parametrize("learned_variance", [True, False])
def test_step_distribution_shapes(hierarchy, learned_variance):
    m = _small(hierarchy, learned_variance=learned_variance)
    x = data.swirl(16)
    f = m.encode_data(x)
    z = torch.randn(16, 2, dtype=torch.float64)
    for i in range(1, m.num_steps + 1):
        q, p = m.posterior(z, f, i), m.reverse_prior(z, i)
        kl = m.step_kl(q, p)
        assert kl.shape == (16, 2)
        assert bool((kl >= -1e-9).all())
        assert q.loc.shape == p.loc.shape == (16, 2)
    if hierarchy == "gaussian":
        assert isinstance(q, GaussianStep) and isinstance(p, GaussianStep)
    else:
        assert isinstance(q, UniformStep) and isinstance(p, LogisticUniformStep)
        assert torch.equal(q.delta, p.delta)
    chain = m.forward_chain(f, torch.Generator().manual_seed(0))
    assert len(chain) == m.num_steps + 1 and all(c.shape == (16, 2) for c in chain)
    s = m.sample(8, torch.Generator().manual_seed(0))
    assert s.shape == (8, 2) and s.dtype == np.uint8
    lp = m.data_log_probs(chain[-1])
    assert lp.shape == (16, 2, 256)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(16, 2, dtype=torch.float64))


def test_encode_data_rejects_bad_input():
    m = _small("uniform")
    with pytest.raises(ValueError):
        m.encode_data(np.zeros((4, 3), np.uint8))
    with pytest.raises(ValueError):
        m.encode_data(np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError):
        m.step_gammas(0)


def test_posterior_mean_is_bayes_denoiser_form():
    """With x_hat = x the reverse prior's mean equals the posterior mean (both hierarchies)."""
    for hierarchy in ("gaussian", "uniform"):
        m = _small(hierarchy)
        x = data.swirl(32)
        f = m.encode_data(x)
        i = 3
        c = m.coefficients(i)
        a_t, s_t = c.alpha_t, c.sigma_t
        eps = torch.randn(32, 2, dtype=torch.float64)
        z_t = a_t * f + s_t * eps
        q = m.posterior(z_t, f, i)
        # prior mean formula evaluated with the true eps equals q's mean
        e = c.c / c.alpha_s
        loc = c.alpha_s / c.alpha_t * (z_t - c.sigma_t * e * eps)
        torch.testing.assert_close(loc, q.loc, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------ KL vs Monte Carlo
def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    q = GaussianStep(torch.tensor([[0.3, -1.0]], dtype=torch.float64), torch.tensor([[0.2, 0.5]], dtype=torch.float64))
    p = GaussianStep(torch.tensor([[0.0, -0.5]], dtype=torch.float64), torch.tensor([[0.25, 0.7]], dtype=torch.float64))
    z = q.sample(torch.randn((200_000, 2), generator=g, dtype=torch.float64))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    torch.testing.assert_close(mc, kl_gaussian(q, p)[0], atol=5e-3, rtol=0)


@pytest.mark.parametrize("ratio", [0.05, 0.3, 2.0])
def test_uniform_logistic_kl_matches_monte_carlo(ratio):
    """The quadrature KL equals the Monte-Carlo mean of log q - log p (= -log(F(a) - F(b)))."""
    g = torch.Generator().manual_seed(2)
    delta = torch.tensor([[0.1, 0.4]], dtype=torch.float64)
    q = UniformStep(torch.tensor([[0.02, -0.3]], dtype=torch.float64), delta)
    p = LogisticUniformStep(torch.tensor([[0.0, -0.2]], dtype=torch.float64), ratio * delta, delta)
    u = torch.rand((400_000, 2), generator=g, dtype=torch.float64) - 0.5
    z = q.sample(u)
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    exact = kl_uniform_logistic(q, p, num_nodes=256)[0]
    se = (q.log_prob(z) - p.log_prob(z)).std(0) / math.sqrt(z.shape[0])
    assert bool((exact >= 0).all())
    assert bool(((mc - exact).abs() < 5 * se + 1e-6).all()), (mc, exact, se)
    torch.testing.assert_close(kl_uniform_logistic(q, p, 64)[0], exact, rtol=2e-3, atol=1e-6)


def test_log_sigmoid_diff_is_stable():
    a = torch.tensor([50.0, -50.0, 0.5, 700.0], dtype=torch.float64)
    b = a - torch.tensor([1.0, 1.0, 1e-8, 3.0], dtype=torch.float64)
    ref = torch.log(torch.sigmoid(a[2]) - torch.sigmoid(b[2]))
    out = log_sigmoid_diff(a, b)
    assert bool(torch.isfinite(out).all())
    assert float(out[2]) == pytest.approx(float(ref), rel=1e-6)
    # right tail: log(e^{-b} - e^{-a}) = -b + log(1 - e^{b-a})
    assert float(out[0]) == pytest.approx(-49.0 + math.log(1 - math.exp(-1)), rel=1e-9)
    # left tail: log(e^{a} - e^{b})
    assert float(out[1]) == pytest.approx(-50.0 + math.log(1 - math.exp(-1)), rel=1e-9)


@pytest.mark.parametrize("hierarchy", ["gaussian", "uniform"])
def test_nelbo_matches_monte_carlo_of_its_terms(hierarchy):
    """nelbo() (closed-form / quadrature step KLs) equals a plain Monte-Carlo estimate
    E_q[log q(z_{0..1}|x) - log p(z_{0..1}) - log p(x|z_0)] over many forward chains."""
    m = _small(hierarchy, steps=3)
    x = data.swirl(64, seed=3)
    f = m.encode_data(x)
    reps = 400
    xs = np.tile(x, (reps, 1))
    fs = f.repeat(reps, 1)
    with torch.no_grad():
        g = torch.Generator().manual_seed(4)
        chain = m.forward_chain(fs, g)
        total = m.prior_kl(fs).clone()
        for k, i in enumerate(range(m.num_steps, 0, -1)):
            q, p = m.posterior(chain[k], fs, i), m.reverse_prior(chain[k], i)
            total += (q.log_prob(chain[k + 1]) - p.log_prob(chain[k + 1])).sum(1)
        total += m.data_nll(chain[-1], xs)
        per = total / (2 * math.log(2))
        mc, se = float(per.mean()), float(per.std()) / math.sqrt(per.numel())
        est = [m.nelbo(x, torch.Generator().manual_seed(s))["total"] for s in range(40)]
    assert abs(np.mean(est) - mc) < 5 * se + 4 * np.std(est) / math.sqrt(len(est)) + 1e-3, (np.mean(est), mc, se)


@pytest.mark.parametrize("hierarchy", ["gaussian", "uniform"])
def test_training_loss_is_unbiased_for_nelbo(hierarchy):
    m = _small(hierarchy, steps=4)
    x = data.swirl(128, seed=7)
    with torch.no_grad():
        losses = [float(m.loss(x, torch.Generator().manual_seed(s))[0]) for s in range(150)]
        nel = [m.nelbo(x, torch.Generator().manual_seed(s))["total"] for s in range(20)]
    se = np.std(losses) / math.sqrt(len(losses)) + np.std(nel) / math.sqrt(len(nel))
    assert abs(np.mean(losses) - np.mean(nel)) < 5 * se, (np.mean(losses), np.mean(nel), se)


# ------------------------------------------------------------------------------------ uniform -> Gaussian
def test_uniform_forward_process_approaches_gaussian_as_T_grows():
    """UQDM's forward marginal q(z_0 | x) is z_1's Gaussian plus T scaled uniforms; its mean and
    variance match VDM's exactly for every T, and its excess kurtosis (the first shape
    difference) shrinks towards the Gaussian's 0 as T grows (about 1/T)."""
    sched = LinearGamma(-6.0, 4.0, learned=False).double()
    kurt = {}
    for T in (1, 2, 5, 20, 100, 1000):
        m = diffusion.UniformDiffusion(T, learned_variance=False, schedule=sched,
                                       denoiser=diffusion.FourierMLP(hidden=8, learned_scale=False)).double()
        # z_0 = A z_1 + sum_j w_j u_j + const: propagate the coefficients exactly
        A, w = 1.0, []
        for i in range(T, 0, -1):
            c = m.coefficients(i)
            w = [float(c.b) * wj for wj in w] + [float(c.delta)]
            A *= float(c.b)
        a1, s1 = (float(v) for v in m.alpha_sigma(1.0))
        a0, s0 = (float(v) for v in m.alpha_sigma(0.0))
        var = (A * s1) ** 2 + sum(wj**2 for wj in w) / 12.0
        assert var == pytest.approx(s0**2, rel=1e-9)
        k4 = sum(wj**4 for wj in w) * (-1.0 / 120.0)  # 4th cumulant of U(-1/2, 1/2) is -1/120
        kurt[T] = k4 / var**2
    assert abs(kurt[1]) > abs(kurt[2]) > abs(kurt[5]) > abs(kurt[20]) > abs(kurt[100]) > abs(kurt[1000])
    assert kurt[1] == pytest.approx(-1.2, abs=0.01)  # a single uniform step: kurtosis of U is -1.2
    assert abs(kurt[1000]) < 0.01  # decays like 6 / T for this schedule
    assert 5 < abs(kurt[100]) * 100 < 7 and 5 < abs(kurt[1000]) * 1000 < 7
    # and empirically: the chain's z_0 has VDM's marginal to within sampling error at T = 20
    m = diffusion.UniformDiffusion(20, learned_variance=False, schedule=sched,
                                   denoiser=diffusion.FourierMLP(hidden=8, learned_scale=False)).double()
    f = torch.full((100_000, 2), 0.7, dtype=torch.float64)
    z0 = m.forward_chain(f, torch.Generator().manual_seed(0))[-1]
    a0, s0 = (float(v) for v in m.alpha_sigma(0.0))
    assert float(z0.mean()) == pytest.approx(a0 * 0.7, abs=4 * s0 / math.sqrt(2e5))
    assert float(z0.std()) == pytest.approx(s0, rel=0.01)


def test_why_the_uniform_nelbo_does_not_approach_the_gaussian_one():
    """A uniform step costs about linearly in the mean error, a Gaussian one quadratically.

    For q = U(delta -+ Delta/2) against p = Logistic(0, s) * U(-Delta/2, Delta/2) with the best
    logistic scale s, KL = 1.814 |delta| / Delta nats (measured here over a 16x range of delta);
    the matched Gaussian pair costs 6 (delta / Delta)^2. In a T-step hierarchy delta ~ 1/T and
    Delta ~ T^(-1/2), so the uniform diffusion term grows like sqrt(T) while the Gaussian one
    converges (to VDM's continuous-time loss): the NELBOs separate as T grows, as the shipped
    checkpoints show (docs/diffusion.md). What converges is the forward process (test above).
    """
    delta_w = torch.tensor([[1.0]], dtype=torch.float64)
    scales = torch.exp(torch.linspace(math.log(1e-4), math.log(2.0), 240, dtype=torch.float64))[None, :]
    per = []
    for d in (0.005, 0.01, 0.02, 0.04, 0.08):
        q = UniformStep(torch.full((1, 240), d, dtype=torch.float64), delta_w.expand(1, 240))
        p = LogisticUniformStep(torch.zeros(1, 240, dtype=torch.float64), scales, delta_w.expand(1, 240))
        best = float(kl_uniform_logistic(q, p, num_nodes=1024).min())
        per.append(best / d)
        sd = torch.tensor([[12**-0.5]], dtype=torch.float64)  # the posterior sd: Delta / sqrt(12)
        gauss = kl_gaussian(GaussianStep(torch.tensor([[d]], dtype=torch.float64), sd),
                            GaussianStep(torch.tensor([[0.0]], dtype=torch.float64), sd))
        assert float(gauss) == pytest.approx(6 * d**2, rel=1e-9)
    assert np.ptp(per) < 0.01 * np.mean(per)  # linear in delta
    assert np.mean(per) == pytest.approx(1.814, abs=0.01)


# ------------------------------------------------------------------------------------ shipped checkpoints
def test_shipped_checkpoints_load_and_are_small():
    total = sum(p.stat().st_size for p in SHIPPED)
    assert total < 6.5e6, f"shipped checkpoints take {total / 1e6:.2f} MB"
    for p in SHIPPED:
        m = diffusion.load_checkpoint(p)
        h, t = p.stem.split("_T")
        assert m.kind == h and m.num_steps == int(t)
        assert not m.training
        assert m.info.get("command", "").startswith("rcc-diffusion train")
    # deterministic loading
    a, b = diffusion.load_checkpoint(SHIPPED[0]), diffusion.load_checkpoint(SHIPPED[0])
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_shipped_uniform_T5_reaches_paper_rate():
    """UQDM, learned variance, T = 5 on seed-0 swirl: the paper reports about 8 bits/dim."""
    m = diffusion.load_pretrained("uniform", 5)
    nel = m.nelbo(data.swirl(), torch.Generator().manual_seed(0))
    assert nel["total"] < 8.2
    assert nel["prior"] < 0.08  # z_1 uniform, under its logistic-uniform prior: 0.07 (Gaussian: 0.006)


def test_top_latent_is_a_step_of_each_hierarchy():
    """q(z_1 | x) and p(z_1): the Gaussian pair is VDM's (its KL the closed form
    0.5 (alpha_1^2 f^2 + sigma_1^2 - log sigma_1^2 - 1)); the uniform pair is U(alpha_1 f -+
    Delta_1 / 2) under a logistic-uniform prior, whose quadrature KL matches a Monte Carlo
    estimate of E_q[log q - log p] (seeded, 4e5 draws, 3 standard errors)."""
    f = torch.linspace(-2.5, 2.5, 11, dtype=torch.float64).reshape(-1, 1)
    g = diffusion.make("gaussian", steps=4, hidden=8).double()
    a2, s2 = torch.sigmoid(-g.gamma_at(1.0)), torch.sigmoid(g.gamma_at(1.0))
    want = 0.5 * (a2 * f**2 + s2 - torch.log(s2) - 1.0)
    torch.testing.assert_close(g.prior_kl(f), want.flatten(), rtol=1e-12, atol=1e-12)
    u = diffusion.make("uniform", steps=4, hidden=8).double()
    q, p = u.top_posterior(f), u.top_prior(f)
    torch.testing.assert_close(q.delta, torch.sqrt(12 * s2).expand_as(f))
    gen = torch.Generator().manual_seed(0)
    z = u.sample_posterior(type(q)(q.loc.expand(-1, 400_000), q.delta.expand(-1, 400_000)), gen)
    lq = -torch.log(q.delta)
    lp = type(p)(p.loc.expand_as(z), p.scale.expand_as(z), p.delta.expand_as(z)).log_prob(z)
    mc = (lq - lp)
    kl = u.prior_kl(f)
    se = mc.std(dim=1) / math.sqrt(z.shape[1])
    assert torch.all((mc.mean(dim=1) - kl).abs() < 3 * se + 1e-6), (mc.mean(dim=1), kl)
    assert torch.all(kl > 0)
    x = u.sample(3, generator=torch.Generator().manual_seed(1))
    assert x.shape == (3, 2) and x.dtype == np.uint8
