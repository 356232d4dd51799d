"""A small fully convolutional UNet denoiser for 8-bit RGB images.

In the spirit of UQDM's small image models (Yang, Will & Mandt, ICLR 2025; VDM's UNet, Kingma et
al., 2021, scaled down for the CPU): three resolutions, one residual block per level on the way
down and up, two in the middle, a learned embedding of the normalised gamma added inside every
block, VDM's Fourier features of the input (``sin/cos(2^k 2 pi z)``, which let the network see the
fine structure of the 8-bit grid at low noise), and an optional second head of positive reverse
scale factors (UQDM's learned variance; ``softplus(h + softplus^{-1}(1))``, 1 at initialisation).

There is no normalisation layer: every output pixel depends only on the input pixels within the
receptive field, so the network gives the same answer on a crop as on the whole photo away from
the borders, and a photo of any size is denoised in one pass. Inputs whose height or width is not
a multiple of 4 are padded (edge replication) and the output cropped back.

Both denoisers of this package implement one protocol (:class:`diffusion.models.Denoiser`):
``forward(z, gamma) -> (eps_hat, scale | None)`` with z (B, *event_shape), gamma (B,) or a scalar,
eps_hat of z's shape and scale of z's shape (or None without ``learned_scale``).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UNet"]


class _ResBlock(nn.Module):
    """silu -> conv3x3 -> (+ gamma embedding) -> silu -> conv3x3 (zero-initialised), plus a 1x1
    skip when the width changes."""

    def __init__(self, cin: int, cout: int, embed: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(embed, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        r = self.conv1(F.silu(h)) + self.emb(e)[:, :, None, None]
        r = self.conv2(F.silu(r))
        return (h if self.skip is None else self.skip(h)) + r


class UNet(nn.Module):
    """Noise-prediction UNet for images (B, 3, H, W) of any size.

    Parameters
    ----------
    channels : (int, int, int)
        Widths at full, half and quarter resolution (default 32, 64, 96: about 0.6 M parameters).
    in_channels : int
        Image channels (3).
    fourier_exponents : tuple of int
        k of the input features ``sin(2^k 2 pi z), cos(2^k 2 pi z)`` (5, 6, 7: periods of 4, 2
        and 1 grid steps for data in [-1, 1]).
    time_features, embed : int
        Sinusoidal features of the normalised gamma, and the width of its embedding.
    learned_scale : bool
        Second head: per-element reverse scale factors.
    gamma_range : (float, float)
        Range mapped to [-1, 1] before the sinusoidal features.

    ``forward(z, gamma)``: z (B, C, H, W) float, gamma (B,) or scalar; returns ``(eps_hat,
    scale)``, both (B, C, H, W) (scale None without ``learned_scale``). ``eps_hat = net + z``,
    the right answer at high noise.
    """

    event_rank = 3

    def __init__(
        self,
        channels: tuple[int, int, int] = (32, 64, 96),
        in_channels: int = 3,
        fourier_exponents: tuple[int, ...] = (5, 6, 7),
        time_features: int = 8,
        embed: int = 64,
        learned_scale: bool = True,
        gamma_range: tuple[float, float] = (-13.3, 5.0),
    ):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 3 or min(channels) < 1 or in_channels < 1 or embed < 1 or time_features < 1:
            raise ValueError(f"channels must be three positive widths (got {channels}); in_channels, embed, "
                             "time_features must be >= 1")
        self.channels = channels
        self.in_channels = int(in_channels)
        self.learned_scale = bool(learned_scale)
        self.gamma_range = (float(gamma_range[0]), float(gamma_range[1]))
        self.register_buffer("freqs", 2.0 ** torch.tensor(list(fourier_exponents), dtype=torch.float32) * 2 * math.pi)
        self.register_buffer("tfreqs", 2.0 ** torch.arange(time_features, dtype=torch.float32) * math.pi)
        c0, c1, c2 = channels
        self.embed = nn.Sequential(nn.Linear(2 * time_features, embed), nn.SiLU(), nn.Linear(embed, embed))
        n_in = in_channels * (1 + 2 * len(fourier_exponents))
        self.conv_in = nn.Conv2d(n_in, c0, 3, padding=1)
        self.down0 = _ResBlock(c0, c0, embed)
        self.pool0 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)
        self.down1 = _ResBlock(c1, c1, embed)
        self.pool1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.mid0 = _ResBlock(c2, c2, embed)
        self.mid1 = _ResBlock(c2, c2, embed)
        self.unpool1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.up1 = _ResBlock(2 * c1, c1, embed)
        self.unpool0 = nn.Conv2d(c1, c0, 3, padding=1)
        self.up0 = _ResBlock(2 * c0, c0, embed)
        self.conv_out = nn.Conv2d(c0, in_channels * (2 if learned_scale else 1), 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        self._softplus_inv1 = math.log(math.expm1(1.0))

    def config(self) -> dict:
        """The arguments that rebuild this network's shape (saved in checkpoints)."""
        return {"channels": list(self.channels)}

    def forward(self, z: torch.Tensor, gamma: torch.Tensor):
        if z.ndim != 4 or z.shape[1] != self.in_channels or z.shape[0] < 1:
            raise ValueError(f"z must have shape (B, {self.in_channels}, H, W), got {tuple(z.shape)}")
        B, C, H, W = z.shape
        gamma = torch.as_tensor(gamma, dtype=z.dtype, device=z.device).reshape(-1).expand(B)
        lo, hi = self.gamma_range
        g = ((gamma - lo) / (hi - lo) * 2 - 1)[:, None] * self.tfreqs.to(z.dtype)[None, :]
        e = self.embed(torch.cat([g.sin(), g.cos()], dim=1))
        ph, pw = (-H) % 4, (-W) % 4
        x = F.pad(z, (0, pw, 0, ph), mode="replicate") if ph or pw else z
        zf = x[:, :, None] * self.freqs.to(z.dtype)[None, None, :, None, None]  # (B, C, F, H', W')
        h = self.conv_in(torch.cat([x, zf.sin().flatten(1, 2), zf.cos().flatten(1, 2)], dim=1))
        h0 = self.down0(h, e)
        h1 = self.down1(self.pool0(h0), e)
        h = self.mid1(self.mid0(self.pool1(h1), e), e)
        h = F.interpolate(self.unpool1(h), scale_factor=2.0, mode="nearest")
        h = self.up1(torch.cat([h, h1], dim=1), e)
        h = F.interpolate(self.unpool0(h), scale_factor=2.0, mode="nearest")
        h = self.up0(torch.cat([h, h0], dim=1), e)
        out = self.conv_out(F.silu(h))[:, :, :H, :W]
        eps_hat = out[:, :C] + z
        if self.learned_scale:
            return eps_hat, F.softplus(out[:, C:] + self._softplus_inv1)
        return eps_hat, None
