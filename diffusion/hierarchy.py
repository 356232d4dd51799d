"""The interface both diffusion hierarchies share (Gaussian VDM and uniform UQDM).

A hierarchy with T steps is the latent-variable model

    p(x) = int p(z_1) prod_{i=1..T} p(z_{t_{i-1}} | z_{t_i}) p(x | z_0) dz,   t_i = i / T,

with variational posterior q(z_{0..1} | x) = q(z_1 | x) prod_i q(z_{t_{i-1}} | z_{t_i}, x). Its
negative ELBO (NELBO), the lossless code length when every step is sent with a perfect channel
simulator, splits into

    prior term      KL[q(z_1 | x) || N(0, I)]
    T diffusion     E_q KL[q(z_s | z_t, x) || p(z_s | z_t)]         (step i: t = t_i, s = t_{i-1})
    data term       E_q [-log p(x | z_0)]

(Kingma et al., VDM, 2021, eq. 11; Yang, Will & Mandt, UQDM, 2025, eq. 5). Everything here works
in the standardised data space (``diffusion.data.standardise``); z and x have shape (B, D).

``p(x | z_0)`` is VDM's factorised categorical over the 256 values v of each dimension, with
logits ``-SNR(0)/2 (z_0 / alpha_0 - f(v))^2`` where ``f(v)`` is the standardised value.

Subclasses set ``kind`` and implement :meth:`posterior`, :meth:`reverse_prior`, :meth:`step_kl`,
:meth:`sample_posterior` and :meth:`sample_prior`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import data as _data
from .models import FourierMLP
from .schedules import LinearGamma, StepCoefficients, step_coefficients

__all__ = ["Hierarchy"]

LN2 = math.log(2.0)


class Hierarchy(nn.Module):
    """Base class of the Gaussian and uniform diffusion hierarchies.

    Parameters
    ----------
    num_steps : int
        T, the number of reverse steps.
    learned_variance : bool
        Whether the reverse prior's scale is multiplied by a learned, per-element factor
        (the denoiser's second head).
    denoiser : nn.Module, optional
        Maps (z (B, D), gamma (B,)) to (eps_hat (B, D), scale factors (B, D) or None). Default:
        :class:`diffusion.models.FourierMLP` (2 x 512, swish, Fourier features).
    schedule : LinearGamma, optional
        Default: learned linear gamma from -13.3 to 5 (VDM colab).
    data_mean, data_std : array-like (D,), optional
        Standardisation constants; default those of the seed-0 swirl set.
    """

    kind = "base"

    def __init__(
        self,
        num_steps: int,
        learned_variance: bool = True,
        denoiser: nn.Module | None = None,
        schedule: LinearGamma | None = None,
        data_mean=None,
        data_std=None,
    ):
        super().__init__()
        if int(num_steps) != num_steps or num_steps < 1:
            raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
        self.num_steps = int(num_steps)
        self.learned_variance = bool(learned_variance)
        if data_mean is None or data_std is None:
            data_mean, data_std = _data.swirl_stats()
        data_mean = torch.as_tensor(np.asarray(data_mean, dtype=np.float64))
        data_std = torch.as_tensor(np.asarray(data_std, dtype=np.float64))
        if data_mean.ndim != 1 or data_mean.shape != data_std.shape or not bool((data_std > 0).all()):
            raise ValueError("data_mean and data_std must be 1-D, of one shape, with std > 0")
        self.dim = int(data_mean.shape[0])
        # float64 buffers; kept in float64 by _apply below so encoder and decoder agree on them
        self.register_buffer("data_mean", data_mean)
        self.register_buffer("data_std", data_std)
        self.schedule = schedule if schedule is not None else LinearGamma()
        if denoiser is None:
            denoiser = FourierMLP(dim=self.dim, learned_scale=self.learned_variance)
        if getattr(denoiser, "learned_scale", self.learned_variance) != self.learned_variance:
            raise ValueError("denoiser.learned_scale must equal learned_variance")
        self.denoiser = denoiser

    # ------------------------------------------------------------------ configuration
    def config(self) -> dict:
        """Constructor arguments that rebuild this model (saved in checkpoints)."""
        den = self.denoiser
        cfg = {
            "hierarchy": self.kind,
            "steps": self.num_steps,
            "learned_variance": self.learned_variance,
            "learned_schedule": self.schedule.learned,
        }
        if isinstance(den, FourierMLP):
            cfg["hidden"] = den.hidden_layers[0].out_features
            cfg["num_layers"] = len(den.hidden_layers)
        return cfg

    @property
    def dtype(self) -> torch.dtype:
        return self.schedule.b.dtype

    def _apply(self, fn, *args, **kwargs):
        # keep the standardisation constants in float64 whatever .float()/.double() do
        mean, std = self.data_mean, self.data_std
        out = super()._apply(fn, *args, **kwargs)
        self.data_mean = mean.to(device=self.data_std.device, dtype=torch.float64)
        self.data_std = std.to(device=self.data_std.device, dtype=torch.float64)
        return out

    # ------------------------------------------------------------------ data space
    def encode_data(self, x) -> torch.Tensor:
        """uint8 values (B, D) -> standardised tensor (B, D) in the model dtype."""
        x = torch.as_tensor(np.asarray(x))
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}), got {tuple(x.shape)}")
        if x.dtype.is_floating_point:
            raise ValueError(f"x must hold integer values 0..255, got dtype {x.dtype}")
        if int(x.min()) < 0 or int(x.max()) > 255:
            raise ValueError("x must hold values in 0..255")
        f = (x.to(torch.float64) - self.data_mean) / self.data_std
        return f.to(self.dtype)

    def decode_data(self, f: torch.Tensor) -> np.ndarray:
        """Standardised (B, D) -> nearest uint8 values (B, D) (rounded and clipped)."""
        v = f.detach().to(torch.float64) * self.data_std + self.data_mean
        return np.clip(np.rint(v.cpu().numpy()), 0, 255).astype(np.uint8)

    def value_grid(self) -> torch.Tensor:
        """Standardised positions of the 256 values per dimension, (D, 256), model dtype."""
        v = torch.arange(_data.VOCAB_SIZE, dtype=torch.float64)
        g = (v[None, :] - self.data_mean[:, None]) / self.data_std[:, None]
        return g.to(self.dtype)

    # ------------------------------------------------------------------ schedule
    def gamma_at(self, t) -> torch.Tensor:
        return self.schedule(torch.as_tensor(t, dtype=self.dtype))

    def step_gammas(self, i) -> tuple[torch.Tensor, torch.Tensor]:
        """(gamma_s, gamma_t) of step(s) ``i`` in 1..T (int or integer tensor)."""
        i = torch.as_tensor(i)
        if bool((i < 1).any()) or bool((i > self.num_steps).any()):
            raise ValueError(f"step index must be in 1..{self.num_steps}, got {i}")
        t = i.to(self.dtype) / self.num_steps
        s = (i - 1).to(self.dtype) / self.num_steps
        return self.gamma_at(s), self.gamma_at(t)

    def coefficients(self, i) -> StepCoefficients:
        """Coefficients of step(s) ``i``; with a tensor i of shape (B,) each field is (B, 1)."""
        gs, gt = self.step_gammas(i)
        if gs.ndim == 1:
            gs, gt = gs[:, None], gt[:, None]
        return step_coefficients(gs, gt)

    def alpha_sigma(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.gamma_at(t)
        return torch.sqrt(torch.sigmoid(-g)), torch.sqrt(torch.sigmoid(g))

    # ------------------------------------------------------------------ denoiser
    def predict(self, z_t: torch.Tensor, i):
        """Denoiser at step(s) i: returns (eps_hat (B, D), x_hat (B, D), scale factor or None)."""
        _, gt = self.step_gammas(i)
        gt_b = gt.expand(z_t.shape[0]) if gt.ndim == 0 else gt
        eps_hat, factor = self.denoiser(z_t, gt_b)
        gt_c = gt_b[:, None]
        alpha_t = torch.sqrt(torch.sigmoid(-gt_c))
        sigma_t = torch.sqrt(torch.sigmoid(gt_c))
        x_hat = (z_t - sigma_t * eps_hat) / alpha_t
        if not self.learned_variance:
            factor = None
        return eps_hat, x_hat, factor

    def denoise(self, z_t: torch.Tensor, i) -> torch.Tensor:
        """Posterior-mean estimate ``x_hat(z_t)`` in standardised units, (B, D)."""
        return self.predict(z_t, i)[1]

    # ------------------------------------------------------------------ per-step pieces
    def posterior(self, z_t, f, i):  # pragma: no cover - abstract
        """q(z_s | z_t, x) of step i, a step distribution with fields (B, D)."""
        raise NotImplementedError

    def reverse_prior(self, z_t, i):  # pragma: no cover - abstract
        """p(z_s | z_t) of step i from the denoiser, fields (B, D)."""
        raise NotImplementedError

    def step_kl(self, q, p) -> torch.Tensor:  # pragma: no cover - abstract
        """KL[q || p] per element, nats, (B, D)."""
        raise NotImplementedError

    def sample_posterior(self, q, generator=None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def sample_prior(self, p, generator=None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def flow_step(self, z_t, i) -> torch.Tensor:
        """Deterministic (probability-flow / DDIM eta=0) step ``z_s = alpha_s x_hat + sigma_s eps_hat``.

        Song, Meng & Ermon, DDIM (2021); used by Theis et al. (DiffC, 2022) for flow-based
        reconstructions. Defined from the Gaussian marginals, so usable with either hierarchy.
        """
        eps_hat, x_hat, _ = self.predict(z_t, i)
        c = self.coefficients(i)
        return c.alpha_s * x_hat + c.sigma_s * eps_hat

    # ------------------------------------------------------------------ NELBO terms
    def prior_kl(self, f: torch.Tensor) -> torch.Tensor:
        """``KL[N(alpha_1 f, sigma_1^2) || N(0, 1)]`` per example in nats, (B,)."""
        g1 = self.gamma_at(1.0)
        alpha2, sigma2 = torch.sigmoid(-g1), torch.sigmoid(g1)
        log_sigma2 = -torch.nn.functional.softplus(-g1)
        return 0.5 * (alpha2 * f**2 + sigma2 - log_sigma2 - 1.0).sum(dim=1)

    def data_log_probs(self, z_0: torch.Tensor) -> torch.Tensor:
        """``log p(x = v | z_0)`` for all 256 values v: (B, D, 256), nats (VDM Sec. 3.3)."""
        g0 = self.gamma_at(0.0)
        alpha0 = torch.sqrt(torch.sigmoid(-g0))
        z = (z_0 / alpha0)[..., None]
        logits = -0.5 * torch.exp(-g0) * (z - self.value_grid()[None]) ** 2
        return torch.log_softmax(logits, dim=-1)

    def data_nll(self, z_0: torch.Tensor, x) -> torch.Tensor:
        """``-log p(x | z_0)`` per example in nats, (B,); x uint8 (B, D)."""
        idx = torch.as_tensor(np.asarray(x, dtype=np.int64))
        lp = self.data_log_probs(z_0)
        return -lp.gather(-1, idx[..., None]).squeeze(-1).sum(dim=1)

    def decode_x(self, z_0: torch.Tensor) -> np.ndarray:
        """Most probable x under ``p(x | z_0)``, uint8 (B, D)."""
        return self.data_log_probs(z_0).argmax(dim=-1).cpu().numpy().astype(np.uint8)

    # ------------------------------------------------------------------ forward process
    def sample_z1(self, f: torch.Tensor, generator=None) -> torch.Tensor:
        """``z_1 ~ q(z_1 | x) = N(alpha_1 f, sigma_1^2)``, (B, D)."""
        a1, s1 = self.alpha_sigma(1.0)
        return a1 * f + s1 * torch.randn(f.shape, generator=generator, dtype=f.dtype)

    def forward_chain(self, f: torch.Tensor, generator=None) -> list[torch.Tensor]:
        """Ancestral sample of the whole forward process: ``[z_{t_T}, z_{t_{T-1}}, ..., z_{t_0}]``.

        Needs no network; differentiable in the schedule (reparameterised). Each entry (B, D).
        """
        z = self.sample_z1(f, generator)
        chain = [z]
        for i in range(self.num_steps, 0, -1):
            z = self.sample_posterior(self.posterior(z, f, i), generator)
            chain.append(z)
        return chain

    # ------------------------------------------------------------------ objectives
    def loss(self, x, generator=None) -> tuple[torch.Tensor, dict]:
        """Unbiased one-step-per-example estimate of the NELBO in bits/dim (for training).

        The diffusion sum is estimated by ``T * KL_i`` at one uniformly drawn step i per example
        (VDM eq. 13). Returns ``(loss, metrics)`` with metrics in bits/dim (floats).
        """
        f = self.encode_data(x)
        B = f.shape[0]
        i = torch.randint(1, self.num_steps + 1, (B,), generator=generator)
        z_t, z_s_given, z_0 = self._training_latents(f, i, generator)
        q = self.posterior(z_t, f, i)
        p = self.reverse_prior(z_t, i)
        diff = self.num_steps * self._training_step_kl(q, p, z_s_given).sum(dim=1)
        prior = self.prior_kl(f)
        data = self.data_nll(z_0, x)
        scale = 1.0 / (self.dim * LN2)
        loss = (prior + diff + data).mean() * scale
        metrics = {
            "bpd": float(loss.detach()),
            "prior": float(prior.mean().detach()) * scale,
            "diffusion": float(diff.mean().detach()) * scale,
            "data": float(data.mean().detach()) * scale,
        }
        return loss, metrics

    def _training_latents(self, f, i, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def _training_step_kl(self, q, p, z_s):
        return self.step_kl(q, p)

    @torch.no_grad()
    def nelbo(self, x, generator=None, batch_size: int | None = None) -> dict:
        """NELBO of the set ``x`` (uint8 (N, D)) along one sampled forward chain, in bits/dim.

        Every step's KL is evaluated given the sampled ``z_t`` (closed form for Gaussian,
        quadrature for uniform). Returns a dict with ``prior`` (float), ``steps`` (np.ndarray
        (T,), ordered from the first step sent, i = T, to the last, i = 1), ``data`` (float) and
        ``total`` (float).
        """
        f = self.encode_data(x)
        chain = self.forward_chain(f, generator)
        scale = 1.0 / (f.shape[0] * self.dim * LN2)
        steps = np.zeros(self.num_steps)
        for k, i in enumerate(range(self.num_steps, 0, -1)):
            z_t = chain[k]
            q = self.posterior(z_t, f, i)
            p = self.reverse_prior(z_t, i)
            steps[k] = float(self.step_kl(q, p).sum()) * scale
        prior = float(self.prior_kl(f).sum()) * scale
        data = float(self.data_nll(chain[-1], x).sum()) * scale
        return {"prior": prior, "steps": steps, "data": data, "total": prior + float(steps.sum()) + data}

    @torch.no_grad()
    def sample(self, num_points: int, generator=None, z_1: torch.Tensor | None = None) -> np.ndarray:
        """Ancestral samples from the model, uint8 (num_points, D) (argmax of ``p(x | z_0)``)."""
        z = z_1 if z_1 is not None else torch.randn((num_points, self.dim), generator=generator, dtype=self.dtype)
        for i in range(self.num_steps, 0, -1):
            z = self.sample_prior(self.reverse_prior(z, i), generator)
        return self.decode_x(z)
