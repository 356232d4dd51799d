"""Denoisers: an MLP with Fourier features for the 2-D swirl data.

Architecture as in the VDM colab and UQDM's swirl experiment (Yang, Will & Mandt, ICLR 2025,
Sec. 5.1: "MLP, 2 x 512 units, swish, Fourier features"):

    input  = [z, gamma_norm, sin/cos(2^k 2 pi z) for k in fourier_exponents,
              sin/cos(2^j pi gamma_norm) for j < time_features]
    hidden = swish(Linear(512)) -> swish(Linear(512))
    output = eps_hat (D) [+ scale factors (D), positive, 1 at initialisation]

``gamma_norm`` maps gamma(t) from the initial schedule range [gamma_lo, gamma_hi] to [-1, 1], as in
the colab. The noise prediction is residual on z (``eps_hat = net(.) + z``, as UQDM's network),
which is the right answer at high noise. The optional second head gives the learned reverse
scale factors of UQDM (``softplus(h + softplus^{-1}(1))``, so 1 at initialisation).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FourierMLP"]


class FourierMLP(nn.Module):
    """Noise-prediction MLP with Fourier features.

    Parameters
    ----------
    dim : int
        Data dimension D (2 for swirl).
    hidden : int
        Units per hidden layer (512).
    num_layers : int
        Number of hidden layers (2).
    fourier_exponents : tuple of int
        Exponents k of the Fourier features ``sin(2^k 2 pi z), cos(2^k 2 pi z)``.
    time_features : int
        Number of sinusoidal features of the normalised gamma.
    learned_scale : bool
        If True, a second head predicts per-dimension reverse scale factors.
    gamma_range : (float, float)
        Range used to normalise gamma to [-1, 1].

    ``forward(z, gamma)``: z (B, D), gamma (B,) or scalar; returns ``(eps_hat, scale)`` with
    eps_hat (B, D) and scale (B, D) or None.
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 512,
        num_layers: int = 2,
        fourier_exponents: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6),
        time_features: int = 8,
        learned_scale: bool = True,
        gamma_range: tuple[float, float] = (-13.3, 5.0),
    ):
        super().__init__()
        if dim < 1 or hidden < 1 or num_layers < 1:
            raise ValueError(f"dim, hidden, num_layers must be >= 1, got {dim}, {hidden}, {num_layers}")
        self.dim = int(dim)
        self.learned_scale = bool(learned_scale)
        self.gamma_range = (float(gamma_range[0]), float(gamma_range[1]))
        self.register_buffer(
            "freqs", 2.0 ** torch.tensor(list(fourier_exponents), dtype=torch.float32) * 2 * math.pi
        )
        self.register_buffer(
            "tfreqs", 2.0 ** torch.arange(time_features, dtype=torch.float32) * math.pi
        )
        in_dim = dim + 1 + 2 * dim * len(fourier_exponents) + 2 * time_features
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(in_dim if i == 0 else hidden, hidden))
        self.hidden_layers = nn.ModuleList(layers)
        self.out = nn.Linear(hidden, dim * (2 if learned_scale else 1))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self._softplus_inv1 = math.log(math.expm1(1.0))

    def features(self, z: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        lo, hi = self.gamma_range
        g = (gamma - lo) / (hi - lo) * 2 - 1
        g = g.expand(z.shape[0]).to(z.dtype)[:, None]  # (B, 1)
        zf = z[:, None, :] * self.freqs.to(z.dtype)[None, :, None]  # (B, F, D)
        gf = g * self.tfreqs.to(z.dtype)[None, :]  # (B, Ft)
        return torch.cat(
            [z, g, zf.sin().flatten(1), zf.cos().flatten(1), gf.sin(), gf.cos()], dim=1
        )

    def forward(self, z: torch.Tensor, gamma: torch.Tensor):
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"z must have shape (B, {self.dim}), got {tuple(z.shape)}")
        gamma = torch.as_tensor(gamma, dtype=z.dtype, device=z.device).reshape(-1)
        h = self.features(z, gamma)
        for layer in self.hidden_layers:
            h = F.silu(layer(h))
        h = self.out(h)
        eps_hat = h[:, : self.dim] + z
        if self.learned_scale:
            scale = F.softplus(h[:, self.dim :] + self._softplus_inv1)
            return eps_hat, scale
        return eps_hat, None
