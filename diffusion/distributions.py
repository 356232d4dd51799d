"""Per-element step distributions of the hierarchies (torch), and their `rcc` counterparts.

A reverse step hands the codec a pair (target q, prior p) of these. All are factorised: every
field is a tensor of shape (B, D) (or broadcastable to it). Densities are in nats.

* :class:`GaussianStep` ``N(loc, scale^2)`` - Gaussian hierarchy, both q and p (VDM).
* :class:`UniformStep` ``U(loc - delta/2, loc + delta/2)`` - the UQDM forward posterior.
* :class:`LogisticUniformStep` ``Logistic(loc, scale) * U(-delta/2, delta/2)`` (convolution) -
  the UQDM reverse prior; its log-density is ``log(F((z - loc + delta/2)/scale)
  - F((z - loc - delta/2)/scale)) - log(delta)`` with F the logistic CDF.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

__all__ = [
    "GaussianStep",
    "UniformStep",
    "LogisticUniformStep",
    "log_sigmoid_diff",
    "kl_gaussian",
    "kl_uniform_logistic",
]

_LOG_2PI = math.log(2 * math.pi)


def log_sigmoid_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``log(sigmoid(a) - sigmoid(b))`` for ``a > b``, stable in both tails.

    Uses ``sigmoid(a) - sigmoid(b) = (e^a - e^b) / ((1 + e^a)(1 + e^b))``, hence
    ``a + log(-expm1(b - a)) - softplus(a) - softplus(b)``.
    """
    return a + torch.log(-torch.expm1(b - a)) - F.softplus(a) - F.softplus(b)


@dataclass
class GaussianStep:
    """Diagonal Gaussian ``N(loc, scale^2)``; loc, scale tensors of shape (B, D)."""

    loc: torch.Tensor
    scale: torch.Tensor

    def sample(self, noise: torch.Tensor) -> torch.Tensor:
        """Reparameterised sample from standard normal ``noise`` of shape (B, D)."""
        return self.loc + self.scale * noise

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Per-element log-density in nats, shape (B, D)."""
        return -0.5 * ((z - self.loc) / self.scale) ** 2 - torch.log(self.scale) - 0.5 * _LOG_2PI

    def to_rcc(self):
        """As a flat ``rcc.Gaussian`` (float64 numpy arrays of shape (B*D,))."""
        import rcc

        loc, scale = torch.broadcast_tensors(self.loc, self.scale)
        return rcc.Gaussian(_np64(loc).ravel(), _np64(scale).ravel())


@dataclass
class UniformStep:
    """Box ``U(loc - delta/2, loc + delta/2)``; loc (B, D), delta broadcastable to it."""

    loc: torch.Tensor
    delta: torch.Tensor

    def sample(self, u: torch.Tensor) -> torch.Tensor:
        """Sample from ``u ~ U(-1/2, 1/2)`` of shape (B, D)."""
        return self.loc + self.delta * u

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        inside = (z - self.loc).abs() <= self.delta / 2
        lp = -torch.log(self.delta).expand_as(z)
        return torch.where(inside, lp, torch.full_like(lp, -math.inf))

    def to_rcc(self):
        """As a flat ``rcc.Uniform(low, high)`` (float64, shape (B*D,))."""
        import rcc

        loc, delta = torch.broadcast_tensors(self.loc, self.delta)
        loc, delta = _np64(loc).ravel(), _np64(delta).ravel()
        return rcc.Uniform(loc - delta / 2, loc + delta / 2)


@dataclass
class LogisticUniformStep:
    """``Logistic(loc, scale)`` convolved with ``U(-delta/2, delta/2)``; fields (B, D)."""

    loc: torch.Tensor
    scale: torch.Tensor
    delta: torch.Tensor

    def sample(self, u_logistic: torch.Tensor, u_box: torch.Tensor) -> torch.Tensor:
        """Sample from two independent ``U(0, 1)`` tensors (logistic by inverse CDF, box dither)."""
        eps = torch.log(u_logistic) - torch.log1p(-u_logistic)
        return self.loc + self.scale * eps + self.delta * (u_box - 0.5)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Per-element log-density in nats, shape (B, D)."""
        a = (z - self.loc + self.delta / 2) / self.scale
        b = (z - self.loc - self.delta / 2) / self.scale
        return log_sigmoid_diff(a, b) - torch.log(self.delta)

    def to_rcc(self):
        """The channel-input prior ``rcc.Logistic(loc, scale)``, flat float64 (B*D,).

        UQ codes its index under this prior convolved with ``U(-delta/2, delta/2)``, which is
        this distribution exactly.
        """
        import rcc

        loc, scale = torch.broadcast_tensors(self.loc, self.scale)
        return rcc.Logistic(_np64(loc).ravel(), _np64(scale).ravel())


def kl_gaussian(q: GaussianStep, p: GaussianStep) -> torch.Tensor:
    """``KL[q || p]`` per element in nats, closed form, shape (B, D)."""
    var_ratio = (q.scale / p.scale) ** 2
    return 0.5 * (var_ratio + ((q.loc - p.loc) / p.scale) ** 2 - 1.0 - torch.log(var_ratio))


_GL_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gauss_legendre(n: int):
    if n not in _GL_CACHE:
        x, w = np.polynomial.legendre.leggauss(n)
        _GL_CACHE[n] = (x / 2.0, w / 2.0)  # nodes in (-1/2, 1/2), weights summing to 1
    return _GL_CACHE[n]


def kl_uniform_logistic(q: UniformStep, p: LogisticUniformStep, num_nodes: int = 64) -> torch.Tensor:
    """``KL[q || p]`` per element in nats for the UQDM pair, shape (B, D).

    ``KL = -log(delta) - E_q[log p(z)] = -E_{u ~ U(-1/2,1/2)}[log(F(a(u)) - F(b(u)))]`` (it needs
    ``q.delta == p.delta``, as in UQDM), computed by composite Gauss-Legendre quadrature over u with
    ``num_nodes`` nodes split over 4 panels (the integrand is smooth but steep near the box edges
    when the logistic scale is small). This is also the expected length of the universally
    quantised index under ``p`` (Agustsson & Theis, 2020), in nats.
    """
    panels = 4
    x, w = _gauss_legendre(max(num_nodes // panels, 2))
    total = torch.zeros(torch.broadcast_shapes(q.loc.shape, p.loc.shape), dtype=q.loc.dtype, device=q.loc.device)
    for k in range(panels):
        lo = -0.5 + k / panels
        for xi, wi in zip(x, w):
            u = lo + (xi + 0.5) / panels
            z = q.loc + q.delta * u
            total = total + (wi / panels) * p.log_prob(z)
    return -torch.log(q.delta) - total


def _np64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()
