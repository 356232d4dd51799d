"""The interface both diffusion hierarchies share (Gaussian VDM and uniform UQDM).

A hierarchy with T steps is the latent-variable model

    p(x) = int p(z_1) prod_{i=1..T} p(z_{t_{i-1}} | z_{t_i}) p(x | z_0) dz,   t_i = i / T,

with variational posterior q(z_{0..1} | x) = q(z_1 | x) prod_i q(z_{t_{i-1}} | z_{t_i}, x). Its
negative ELBO (NELBO), the lossless code length when every step is sent with a perfect channel
simulator, splits into

    prior term      KL[q(z_1 | x) || p(z_1)]
    T diffusion     E_q KL[q(z_s | z_t, x) || p(z_s | z_t)]         (step i: t = t_i, s = t_{i-1})
    data term       E_q [-log p(x | z_0)]

(Kingma et al., VDM, 2021, eq. 11; Yang, Will & Mandt, UQDM, 2025, eq. 5). Everything here works
in the standardised data space of :mod:`diffusion.space`; z and x have shape (B, *S): a batch of
B examples of shape S, (2,) for a swirl point, (3, H, W) for a photo. Sums (KL, NLL) run over all
of S, so every per-example quantity is (B,).

``p(x | z_0)`` is VDM's factorised categorical over the 256 values v of each dimension, with
logits ``-SNR(0)/2 (z_0 / alpha_0 - f(v))^2`` where ``f(v)`` is the standardised value.

Subclasses set ``kind`` and implement :meth:`top_posterior`, :meth:`top_prior`, :meth:`posterior`,
:meth:`reverse_prior`, :meth:`step_kl`, :meth:`sample_posterior` and :meth:`sample_prior`. The
first latent z_1 is a step like the others (q(z_1 | x) against p(z_1)), so the codec sends it
through the same channel.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import data as _data
from .models import FourierMLP
from .space import DataSpace
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
        A :class:`diffusion.models.Denoiser`: maps (z (B, *S), gamma (B,)) to (eps_hat (B, *S),
        scale factors (B, *S) or None). Default: :class:`diffusion.models.FourierMLP` (2 x 512,
        swish, Fourier features) for swirl points.
    schedule : LinearGamma, optional
        Default: learned linear gamma from -13.3 to 5 (VDM colab).
    data_mean, data_std : array-like, optional
        Standardisation constants, broadcastable against S (:class:`diffusion.space.DataSpace`):
        (2,) for swirl, (3, 1, 1) for images; default those of the seed-0 swirl set.
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
        DataSpace(data_mean, data_std)  # validates
        # float64 buffers; kept in float64 by _apply below so encoder and decoder agree on them
        self.register_buffer("data_mean", data_mean)
        self.register_buffer("data_std", data_std)
        self.schedule = schedule if schedule is not None else LinearGamma()
        if denoiser is None:
            if data_mean.ndim != 1:
                raise ValueError("a denoiser is needed for data of rank > 1 (the default FourierMLP is for points)")
            denoiser = FourierMLP(dim=int(data_mean.shape[0]), learned_scale=self.learned_variance)
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
        else:
            cfg["data"] = "images"
            cfg.update(den.config())
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
    @property
    def space(self) -> DataSpace:
        """The model's :class:`diffusion.space.DataSpace` (uint8 <-> model space, value grid)."""
        return DataSpace(self.data_mean, self.data_std)

    @property
    def event_rank(self) -> int:
        """Rank of one example's shape S (1 for swirl points, 3 for images)."""
        return self.data_mean.ndim

    def _per_example(self, t: torch.Tensor) -> torch.Tensor:
        """A (B,) tensor shaped (B, 1, ..., 1) to broadcast against (B, *S)."""
        return t.reshape(t.shape[0], *([1] * self.event_rank))

    def encode_data(self, x) -> torch.Tensor:
        """uint8 values (B, *S) -> standardised tensor (B, *S) in the model dtype."""
        return self.space.to_model(x, self.dtype)

    def decode_data(self, f: torch.Tensor) -> np.ndarray:
        """Standardised (B, *S) -> nearest uint8 values (B, *S) (rounded and clipped)."""
        return self.space.to_uint8(f)

    def value_grid(self) -> torch.Tensor:
        """Standardised positions of the 256 values, ``data_mean.shape + (256,)``, model dtype."""
        return self.space.value_grid(self.dtype)

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
        """Coefficients of step(s) ``i``; with a tensor i of shape (B,) each field is (B, 1, ..., 1)
        (broadcasting against (B, *S))."""
        gs, gt = self.step_gammas(i)
        if gs.ndim == 1:
            gs, gt = self._per_example(gs), self._per_example(gt)
        return step_coefficients(gs, gt)

    def alpha_sigma(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.gamma_at(t)
        return torch.sqrt(torch.sigmoid(-g)), torch.sqrt(torch.sigmoid(g))

    # ------------------------------------------------------------------ denoiser
    def predict(self, z_t: torch.Tensor, i):
        """Denoiser at step(s) i: returns (eps_hat (B, *S), x_hat (B, *S), scale factor or None)."""
        _, gt = self.step_gammas(i)
        gt_b = gt.expand(z_t.shape[0]) if gt.ndim == 0 else gt
        eps_hat, factor = self.denoiser(z_t, gt_b)
        gt_c = self._per_example(gt_b)
        alpha_t = torch.sqrt(torch.sigmoid(-gt_c))
        sigma_t = torch.sqrt(torch.sigmoid(gt_c))
        x_hat = (z_t - sigma_t * eps_hat) / alpha_t
        if not self.learned_variance:
            factor = None
        return eps_hat, x_hat, factor

    def denoise(self, z_t: torch.Tensor, i) -> torch.Tensor:
        """Posterior-mean estimate ``x_hat(z_t)`` in standardised units, (B, *S)."""
        return self.predict(z_t, i)[1]

    # ------------------------------------------------------------------ per-step pieces
    def top_posterior(self, f):  # pragma: no cover - abstract
        """q(z_1 | x), a step distribution with fields (B, *S) (f: standardised data (B, *S))."""
        raise NotImplementedError

    def top_prior(self, f):  # pragma: no cover - abstract
        """p(z_1), a step distribution shaped like ``f`` (B, *S) (only f's shape and dtype are used)."""
        raise NotImplementedError

    def posterior(self, z_t, f, i):  # pragma: no cover - abstract
        """q(z_s | z_t, x) of step i, a step distribution with fields (B, *S)."""
        raise NotImplementedError

    def reverse_prior(self, z_t, i):  # pragma: no cover - abstract
        """p(z_s | z_t) of step i from the denoiser, fields (B, *S)."""
        raise NotImplementedError

    def step_kl(self, q, p) -> torch.Tensor:  # pragma: no cover - abstract
        """KL[q || p] per element, nats, (B, *S)."""
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
        """``KL[q(z_1 | x) || p(z_1)]`` per example in nats, (B,) (:meth:`top_posterior`,
        :meth:`top_prior`)."""
        return self.step_kl(self.top_posterior(f), self.top_prior(f)).flatten(1).sum(dim=1)

    def data_log_probs(self, z_0: torch.Tensor, grid: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(x = v | z_0)`` for all 256 values v: z_0's shape + (256,), nats (VDM Sec. 3.3).

        ``grid``: the value positions, broadcastable to z_0's shape + (256,); default
        :meth:`value_grid` (a coder walking flat blocks of elements passes the block's rows of
        :meth:`diffusion.space.DataSpace.flat_grid`).
        """
        g0 = self.gamma_at(0.0)
        alpha0 = torch.sqrt(torch.sigmoid(-g0))
        z = (z_0 / alpha0)[..., None]
        grid = self.value_grid() if grid is None else grid.to(z.dtype)
        logits = -0.5 * torch.exp(-g0) * (z - grid) ** 2
        return torch.log_softmax(logits, dim=-1)

    def data_nll(self, z_0: torch.Tensor, x) -> torch.Tensor:
        """``-log p(x | z_0)`` per example in nats, (B,); x uint8 (B, *S)."""
        idx = torch.as_tensor(np.asarray(x, dtype=np.int64))
        lp = self.data_log_probs(z_0)
        return -lp.gather(-1, idx[..., None]).squeeze(-1).flatten(1).sum(dim=1)

    #: values on each side of ``z_0 / alpha_0`` the training loss's data term sums over
    TRAIN_DATA_WINDOW = 16

    def _training_data_nll(self, z_0: torch.Tensor, x) -> torch.Tensor:
        """:meth:`data_nll` for the training loss, summing the softmax over the 2K + 1 values
        nearest ``z_0 / alpha_0`` (K = ``TRAIN_DATA_WINDOW``) and x's own, instead of all 256.

        Used only while every value left out is at least 16 grid steps from the window's centre,
        where its logit is below the nearest one's by ``SNR(0) / 2 (16 steps)^2 >= 100`` nats, so
        the sum changes by less than 256 e^-100 (relative); otherwise it is :meth:`data_nll`.
        Evaluation (:meth:`nelbo`) and the codec always use all 256 values.
        """
        K, g0 = self.TRAIN_DATA_WINDOW, self.gamma_at(0.0)
        step = float((1.0 / self.data_std).min())  # the smallest grid step in model units
        if 0.5 * float(torch.exp(-g0.detach())) * (K * step) ** 2 < 100.0:
            return self.data_nll(z_0, x)
        alpha0 = torch.sqrt(torch.sigmoid(-g0))
        u = z_0 / alpha0
        mean, std = self.data_mean.to(u.dtype), self.data_std.to(u.dtype)
        centre = torch.round(u.detach() * std + mean).clamp(K, 255 - K)
        v = centre[..., None] + torch.arange(-K, K + 1, dtype=u.dtype)  # (B, *S, 2K + 1) values
        xv = torch.as_tensor(np.asarray(x, dtype=np.int64)).to(u.dtype)
        outside = ((xv - centre).abs() > K)[..., None]
        v = torch.cat([v, torch.where(outside, xv[..., None], v[..., :1])], dim=-1)  # x's own value, once
        logits = -0.5 * torch.exp(-g0) * (u[..., None] - (v - mean[..., None]) / std[..., None]) ** 2
        logits[..., -1:] = torch.where(outside, logits[..., -1:], torch.full_like(logits[..., -1:], -math.inf))
        own = -0.5 * torch.exp(-g0) * (u - (xv - mean) / std) ** 2
        return (torch.logsumexp(logits, dim=-1) - own).flatten(1).sum(dim=1)

    def decode_x(self, z_0: torch.Tensor) -> np.ndarray:
        """Most probable x under ``p(x | z_0)``, uint8 (B, *S)."""
        return self.data_log_probs(z_0).argmax(dim=-1).cpu().numpy().astype(np.uint8)

    # ------------------------------------------------------------------ forward process
    def sample_z1(self, f: torch.Tensor, generator=None) -> torch.Tensor:
        """``z_1 ~ q(z_1 | x)`` (:meth:`top_posterior`), (B, *S)."""
        return self.sample_posterior(self.top_posterior(f), generator)

    def forward_chain(self, f: torch.Tensor, generator=None) -> list[torch.Tensor]:
        """Ancestral sample of the whole forward process: ``[z_{t_T}, z_{t_{T-1}}, ..., z_{t_0}]``.

        Needs no network; differentiable in the schedule (reparameterised). Each entry (B, *S).
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
        diff = self.num_steps * self._training_step_kl(q, p, z_s_given).flatten(1).sum(dim=1)
        prior = self.prior_kl(f)
        data = self._training_data_nll(z_0, x)
        scale = 1.0 / (f[0].numel() * LN2)
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
        """NELBO of the set ``x`` (uint8 (N, *S)) along one sampled forward chain, in bits/dim.

        Every step's KL is evaluated given the sampled ``z_t`` (closed form for Gaussian,
        quadrature for uniform). Returns a dict with ``prior`` (float), ``steps`` (np.ndarray
        (T,), ordered from the first step sent, i = T, to the last, i = 1), ``data`` (float) and
        ``total`` (float).
        """
        f = self.encode_data(x)
        chain = self.forward_chain(f, generator)
        scale = 1.0 / (f.numel() * LN2)
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
    def sample(self, num_points: int, generator=None, z_1: torch.Tensor | None = None,
               shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Ancestral samples from the model, uint8 (num_points, *S) (argmax of ``p(x | z_0)``).

        ``shape`` is S (default ``data_mean.shape``, right for swirl; pass (3, H, W) for images).
        """
        shape = tuple(self.data_mean.shape) if shape is None else tuple(shape)
        if z_1 is None:
            self.space.check_shape((num_points, *shape))
            z_1 = self.sample_prior(self.top_prior(torch.zeros((num_points, *shape), dtype=self.dtype)), generator)
        z = z_1
        for i in range(self.num_steps, 0, -1):
            z = self.sample_prior(self.reverse_prior(z, i), generator)
        return self.decode_x(z)
