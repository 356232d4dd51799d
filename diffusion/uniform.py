"""Uniform diffusion hierarchy: UQDM (Yang, Will & Mandt, "Progressive Compression with
Universally Quantized Diffusion Models", ICLR 2025).

Forward process, step i (t = i/T -> s = (i-1)/T):

    z_s = b z_t + c x + Delta u,   u ~ U(-1/2, 1/2),   Delta = sqrt(12 post_var)
        = sqrt(12) sigma_{t|s} sigma_s / sigma_t

i.e. ``q(z_s | z_t, x) = U(b z_t + c x -+ Delta/2)``, with b, c the Gaussian (VDM) posterior-mean
coefficients, so the first two moments match the Gaussian hierarchy's. The first latent is
uniform too, ``q(z_1 | x) = U(alpha_1 x -+ Delta_1/2)`` with ``Delta_1 = sqrt(12) sigma_1`` (the
moments of VDM's N(alpha_1 x, sigma_1^2)), under the prior ``p(z_1) = Logistic(0, s_1) *
U(-Delta_1/2, Delta_1/2)`` whose logistic has standard deviation alpha_1 (the spread of
alpha_1 x for standardised data), so z_1 is sent by universal quantisation like every step.

Reverse prior:

    p(z_s | z_t) = Logistic(mu_p, s) * U(-Delta/2, Delta/2)      (convolution)

with ``mu_p = b z_t + c x_hat(z_t)`` and the logistic's standard deviation equal to
``sqrt(base_var) * f`` (so ``s = sqrt(3) / pi * sqrt(base_var) * f``), where base_var is the
forward-kernel variance ``sigma_{t|s}^2`` (UQDM's default) or the posterior variance, and ``f`` is
1 (fixed variance) or the denoiser's learned factor (learned variance).

The per-step KL, ``-E_u log(F(a) - F(b))`` (F the logistic CDF), is exactly the expected code length
of universal quantisation of the step under p (Agustsson & Theis, 2020): UQDM's NELBO is its
file size.
"""
from __future__ import annotations

import math

import torch

from .distributions import LogisticUniformStep, UniformStep, kl_uniform_logistic, log_sigmoid_diff
from .hierarchy import Hierarchy

__all__ = ["UniformDiffusion"]

_LOGISTIC_STD_TO_SCALE = math.sqrt(3.0) / math.pi


class UniformDiffusion(Hierarchy):
    """UQDM's uniform-noise hierarchy; see :class:`diffusion.hierarchy.Hierarchy`.

    Extra parameter ``base_variance``: ``"kernel"`` (sigma_{t|s}^2, UQDM's default) or
    ``"posterior"`` (the posterior variance) as the logistic's variance before the learned factor.
    ``kl_nodes``: quadrature nodes of the exact per-step KL (evaluation only).
    """

    kind = "uniform"

    def __init__(self, num_steps, learned_variance=True, base_variance="kernel", kl_nodes=64, **kw):
        if base_variance not in ("kernel", "posterior"):
            raise ValueError(f"base_variance must be 'kernel' or 'posterior', got {base_variance!r}")
        super().__init__(num_steps, learned_variance=learned_variance, **kw)
        self.base_variance = base_variance
        self.kl_nodes = int(kl_nodes)

    def config(self) -> dict:
        cfg = super().config()
        cfg["base_variance"] = self.base_variance
        return cfg

    def _top_delta(self, f):
        _, s1 = self.alpha_sigma(1.0)
        return (math.sqrt(12.0) * s1).expand_as(f)

    def top_posterior(self, f) -> UniformStep:
        a1, _ = self.alpha_sigma(1.0)
        return UniformStep(a1 * f, self._top_delta(f))

    def top_prior(self, f) -> LogisticUniformStep:
        a1, _ = self.alpha_sigma(1.0)
        return LogisticUniformStep(torch.zeros_like(f), (_LOGISTIC_STD_TO_SCALE * a1).expand_as(f), self._top_delta(f))

    def posterior(self, z_t, f, i) -> UniformStep:
        c = self.coefficients(i)
        return UniformStep(c.b * z_t + c.c * f, c.delta.expand_as(z_t))

    def reverse_prior(self, z_t, i) -> LogisticUniformStep:
        eps_hat, _, factor = self.predict(z_t, i)
        c = self.coefficients(i)
        e = c.c / c.alpha_s
        loc = c.alpha_s / c.alpha_t * (z_t - c.sigma_t * e * eps_hat)
        base = c.kernel_var if self.base_variance == "kernel" else c.post_var
        scale = (_LOGISTIC_STD_TO_SCALE * torch.sqrt(base)).expand_as(z_t)
        if factor is not None:
            scale = scale * factor
        return LogisticUniformStep(loc, scale, c.delta.expand_as(z_t))

    def step_kl(self, q: UniformStep, p: LogisticUniformStep) -> torch.Tensor:
        return kl_uniform_logistic(q, p, num_nodes=self.kl_nodes)

    def sample_posterior(self, q: UniformStep, generator=None) -> torch.Tensor:
        return q.sample(torch.rand(q.loc.shape, generator=generator, dtype=q.loc.dtype) - 0.5)

    def sample_prior(self, p: LogisticUniformStep, generator=None) -> torch.Tensor:
        shape, dt = p.loc.shape, p.loc.dtype
        u1 = torch.rand(shape, generator=generator, dtype=dt).clamp(1e-12, 1 - 1e-12)
        u2 = torch.rand(shape, generator=generator, dtype=dt)
        return p.sample(u1, u2)

    def _training_latents(self, f, i, generator):
        # no closed-form marginal: simulate the (network-free) forward chain, pick z_{t_i}, z_{t_{i-1}}
        chain = torch.stack(self.forward_chain(f, generator))  # (T+1, B, D); chain[k] = z at t_{T-k}
        idx = torch.arange(f.shape[0])
        z_t = chain[self.num_steps - i, idx]
        z_s = chain[self.num_steps - i + 1, idx]
        return z_t, z_s, chain[-1]

    def _training_step_kl(self, q, p, z_s):
        # one-sample estimate log q(z_s) - log p(z_s) = -log(F(a) - F(b)) (UQDM's training loss)
        a = (z_s - p.loc + p.delta / 2) / p.scale
        b = (z_s - p.loc - p.delta / 2) / p.scale
        return -log_sigmoid_diff(a, b)
