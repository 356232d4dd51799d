"""Noise schedules gamma(t) and the discrete-time step coefficients they imply.

Variance-preserving diffusion in the notation of Kingma et al., "Variational Diffusion Models"
(VDM, NeurIPS 2021): ``gamma(t)`` is the negative log signal-to-noise ratio,

    sigma_t^2 = sigmoid(gamma(t)),   alpha_t^2 = sigmoid(-gamma(t)),   SNR(t) = exp(-gamma(t)),

and the forward marginal is ``q(z_t | x) = N(alpha_t x, sigma_t^2)``. Discrete time uses
``t_i = i / T`` for ``i = 0..T``; reverse step ``i`` goes from ``t = t_i`` to ``s = t_{i-1}``.

:func:`step_coefficients` gives, for a pair ``s < t``, the Gaussian posterior
``q(z_s | z_t, x) = N(b z_t + c x, v)`` (VDM eqs. 25-33) in the numerically stable form that uses
``expm1(gamma_s - gamma_t)``, the variance of the forward kernel ``q(z_t | z_s)``, and the UQDM
uniform width ``Delta = sqrt(12 v)`` (Yang, Will & Mandt, ICLR 2025, Sec. 3).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LinearGamma", "StepCoefficients", "step_coefficients", "discrete_times"]


class LinearGamma(nn.Module):
    """VDM's linear schedule ``gamma(t) = gamma_min + |w| t``, fixed or learned.

    Parameters
    ----------
    gamma_min, gamma_max : float
        gamma(0) and gamma(1) at initialisation (VDM colab: -13.3 and 5.0).
    learned : bool
        If True, both end points are trained (VDM's "learned linear" schedule; ``w`` enters through
        its absolute value so the schedule stays monotone); else they are buffers.

    ``forward(t)`` takes a tensor of times in [0, 1] of any shape and returns gamma of that shape,
    in the dtype of the parameters (cast ``t`` first).
    """

    def __init__(self, gamma_min: float = -13.3, gamma_max: float = 5.0, learned: bool = True):
        super().__init__()
        if not gamma_max > gamma_min:
            raise ValueError(f"gamma_max must exceed gamma_min, got {gamma_min!r}, {gamma_max!r}")
        b = torch.tensor(float(gamma_min), dtype=torch.float64)
        w = torch.tensor(float(gamma_max - gamma_min), dtype=torch.float64)
        self.learned = bool(learned)
        if self.learned:
            self.b = nn.Parameter(b.float())
            self.w = nn.Parameter(w.float())
        else:
            self.register_buffer("b", b.float())
            self.register_buffer("w", w.float())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=self.b.dtype, device=self.b.device)
        return self.b + self.w.abs() * t

    def endpoints(self) -> tuple[float, float]:
        """(gamma(0), gamma(1)) as Python floats."""
        with torch.no_grad():
            return float(self.b), float(self.b + self.w.abs())


def discrete_times(num_steps: int, dtype=torch.float64) -> torch.Tensor:
    """Times ``t_i = i / T`` for ``i = 0..T``, shape (T + 1,)."""
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    return torch.arange(int(num_steps) + 1, dtype=dtype) / int(num_steps)


@dataclass
class StepCoefficients:
    """Coefficients of one reverse step from time t to time s < t (tensors broadcastable together).

    Attributes
    ----------
    alpha_s, sigma_s, alpha_t, sigma_t : marginal scale of the signal and of the noise.
    b, c : posterior mean ``E[z_s | z_t, x] = b z_t + c x``.
    post_var : posterior variance ``Var[z_s | z_t, x] = sigma_s^2 sigma_{t|s}^2 / sigma_t^2``.
    kernel_var : forward-kernel variance ``sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2``.
    delta : UQDM uniform width ``sqrt(12 post_var)``, so that ``Delta U(-1/2, 1/2)`` has the
        posterior variance.
    snr_drop : ``SNR(s) - SNR(t)`` (>= 0), the weight of the VDM diffusion loss.
    """

    alpha_s: torch.Tensor
    sigma_s: torch.Tensor
    alpha_t: torch.Tensor
    sigma_t: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    post_var: torch.Tensor
    kernel_var: torch.Tensor
    delta: torch.Tensor
    snr_drop: torch.Tensor


def step_coefficients(gamma_s: torch.Tensor, gamma_t: torch.Tensor) -> StepCoefficients:
    """Step coefficients from ``gamma_s = gamma(s)`` and ``gamma_t = gamma(t)``, ``s < t``.

    Stable forms (VDM appendix): with ``e = -expm1(gamma_s - gamma_t) = sigma_{t|s}^2 / sigma_t^2``,
    ``b = (alpha_s / alpha_t)(1 - e)``, ``c = alpha_s e``, ``post_var = sigma_s^2 e``,
    ``kernel_var = sigma_t^2 e``.
    """
    e = -torch.expm1(gamma_s - gamma_t)
    alpha_s = torch.sqrt(torch.sigmoid(-gamma_s))
    alpha_t = torch.sqrt(torch.sigmoid(-gamma_t))
    sigma_s = torch.sqrt(torch.sigmoid(gamma_s))
    sigma_t = torch.sqrt(torch.sigmoid(gamma_t))
    post_var = torch.sigmoid(gamma_s) * e
    return StepCoefficients(
        alpha_s=alpha_s,
        sigma_s=sigma_s,
        alpha_t=alpha_t,
        sigma_t=sigma_t,
        b=alpha_s / alpha_t * (1.0 - e),
        c=alpha_s * e,
        post_var=post_var,
        kernel_var=torch.sigmoid(gamma_t) * e,
        delta=torch.sqrt(12.0 * post_var),
        snr_drop=torch.exp(-gamma_s) - torch.exp(-gamma_t),
    )
