"""Gaussian diffusion hierarchy: discrete-time VDM (Kingma et al., NeurIPS 2021).

The first latent: ``q(z_1 | x) = N(alpha_1 x, sigma_1^2)`` against ``p(z_1) = N(0, 1)``.
Step i (t = i/T -> s = (i-1)/T), with the coefficients of :mod:`diffusion.schedules`:

    q(z_s | z_t, x) = N(b z_t + c x,  post_var)                       (VDM eqs. 25-26)
    p(z_s | z_t)    = N(b z_t + c x_hat(z_t),  post_var * f^2)         (VDM eq. 27)

where ``x_hat = (z_t - sigma_t eps_hat) / alpha_t`` and ``f = 1`` (fixed variance, VDM) or the
denoiser's learned per-element factor (learned variance, as in UQDM's Gaussian baseline). The
per-step KL is in closed form; with fixed variance it is ``SNR drop / 2 * ||x - x_hat||^2``.
"""
from __future__ import annotations

import torch

from .distributions import GaussianStep, kl_gaussian
from .hierarchy import Hierarchy

__all__ = ["GaussianDiffusion"]


class GaussianDiffusion(Hierarchy):
    """VDM's discrete-time Gaussian hierarchy; see :class:`diffusion.hierarchy.Hierarchy`."""

    kind = "gaussian"

    def top_posterior(self, f) -> GaussianStep:
        a1, s1 = self.alpha_sigma(1.0)
        return GaussianStep(a1 * f, s1.expand_as(f))

    def top_prior(self, f) -> GaussianStep:
        return GaussianStep(torch.zeros_like(f), torch.ones_like(f))

    def posterior(self, z_t, f, i) -> GaussianStep:
        c = self.coefficients(i)
        return GaussianStep(c.b * z_t + c.c * f, torch.sqrt(c.post_var).expand_as(z_t))

    def reverse_prior(self, z_t, i) -> GaussianStep:
        eps_hat, _, factor = self.predict(z_t, i)
        c = self.coefficients(i)
        # b z_t + c x_hat, written as (alpha_s / alpha_t)(z_t - sigma_t e eps_hat) to avoid 1/alpha_t
        e = c.c / c.alpha_s
        loc = c.alpha_s / c.alpha_t * (z_t - c.sigma_t * e * eps_hat)
        scale = torch.sqrt(c.post_var).expand_as(z_t)
        if factor is not None:
            scale = scale * factor
        return GaussianStep(loc, scale)

    def step_kl(self, q: GaussianStep, p: GaussianStep) -> torch.Tensor:
        return kl_gaussian(q, p)

    def sample_posterior(self, q: GaussianStep, generator=None) -> torch.Tensor:
        return q.sample(torch.randn(q.loc.shape, generator=generator, dtype=q.loc.dtype))

    def sample_prior(self, p: GaussianStep, generator=None) -> torch.Tensor:
        return p.sample(torch.randn(p.loc.shape, generator=generator, dtype=p.loc.dtype))

    def _training_latents(self, f, i, generator):
        # Gaussian marginals are known: z_t ~ N(alpha_t x, sigma_t^2), z_0 ~ N(alpha_0 x, sigma_0^2)
        t = self._per_example(i.to(self.dtype)) / self.num_steps
        a_t, s_t = self.alpha_sigma(t)
        z_t = a_t * f + s_t * torch.randn(f.shape, generator=generator, dtype=f.dtype)
        a0, s0 = self.alpha_sigma(0.0)
        z_0 = a0 * f + s0 * torch.randn(f.shape, generator=generator, dtype=f.dtype)
        return z_t, None, z_0
