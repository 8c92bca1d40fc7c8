"""Torch building blocks (training/export only): GDN, the factorized prior, fake quantization.

Nothing in the onboard runtime imports this module; it needs torch.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé 2016), simplified parametrisation.

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2); ``inverse=True`` multiplies instead (IGDN).
    beta and gamma are kept non-negative by squaring a reparametrised value with a small floor.
    Exports to ONNX as Mul, Conv(1x1), Add, Sqrt, Div/Mul.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self._pedestal = 2.0 ** -18
        self.beta_bound = (beta_min + self._pedestal) ** 0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self._pedestal))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self._pedestal))

    def _params(self) -> tuple[torch.Tensor, torch.Tensor]:
        beta = torch.clamp(self.beta, min=self.beta_bound) ** 2 - self._pedestal
        gamma = torch.clamp(self.gamma, min=self._pedestal ** 0.5) ** 2 - self._pedestal
        return beta, gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta, gamma = self._params()
        c = x.shape[1]
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


class FactorizedPrior(nn.Module):
    """Learned per-channel density for z (Ballé 2018 'EntropyBottleneck'), non-parametric CDF MLP.

    ``likelihood(z_tilde)`` gives P(z in [z-.5, z+.5]); ``pmf_table(support)`` gives the discretised
    pmf per channel used to build frozen integer CDF tables at export.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9):
        super().__init__()
        self.channels = channels
        self.tail_mass = tail_mass
        # per-channel (lower tail, median, upper tail) of the learned CDF, fitted by the auxiliary loss; the
        # export uses them to bound each channel's table support
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def _logits_cumulative(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        # x: (C, 1, n); detach=True lets only x receive gradients (the auxiliary loss)
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            if detach:
                m, b = m.detach(), b.detach()
            x = torch.matmul(F.softplus(m), x) + b
            if i < len(self.factors):
                f = self.factors[i].detach() if detach else self.factors[i]
                x = x + torch.tanh(f) * torch.tanh(x)
        return x

    def aux_loss(self) -> torch.Tensor:
        """Auxiliary loss (Balle 2018 / CompressAI): moves ``quantiles`` to the tail_mass/2, 0.5 and
        1 - tail_mass/2 points of each channel's learned CDF; only ``quantiles`` receive its gradient."""
        logits = self._logits_cumulative(self.quantiles, detach=True)
        t = math.log(2.0 / self.tail_mass - 1.0)
        target = torch.tensor([-t, 0.0, t], dtype=logits.dtype, device=logits.device)
        return torch.abs(logits - target).sum()

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, C, H, W) noisy or rounded values -> likelihoods of the same shape."""
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self._logits_cumulative(v - 0.5)
        upper = self._logits_cumulative(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        lik = lik.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return torch.clamp(lik, min=1e-9)

    @torch.no_grad()
    def pmf_table(self, low: int, high: int) -> torch.Tensor:
        """Discretised pmf per channel over integers low..high (inclusive): (C, high-low+1)."""
        v = torch.arange(low, high + 1, dtype=torch.float32).view(1, 1, -1).expand(self.channels, 1, -1)
        lower = self._logits_cumulative(v - 0.5)
        upper = self._logits_cumulative(v + 0.5)
        sign = -torch.sign(lower + upper)
        pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return pmf.reshape(self.channels, -1)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient."""
    return x + (torch.round(x) - x).detach()


def gaussian_likelihood(y: torch.Tensor, scale: torch.Tensor, scale_min: float = 0.11) -> torch.Tensor:
    """P(y in [y-.5, y+.5]) under N(0, scale) with scale bounded below."""
    s = torch.clamp(scale, min=scale_min)
    v = torch.abs(y)
    upper = 0.5 * torch.erfc(-(0.5 - v) / (s * math.sqrt(2)))
    lower = 0.5 * torch.erfc(-(-0.5 - v) / (s * math.sqrt(2)))
    return torch.clamp(upper - lower, min=1e-9)


class FakeQuantConv(nn.Module):
    """Conv whose weights (int8 per output channel) and output activation (uint8 per tensor, after ReLU)
    can be fake-quantized, mirroring the integer hyper-synthesis exactly up to the requantisation rounding.

    ``act_scale`` is a running max / 255 of the post-ReLU output while calibrating, frozen afterwards.
    ``relu_out=False`` (the last layer) leaves the output in the accumulator domain (no activation quant).
    """

    def __init__(self, cin: int, cout: int, k: int, relu_out: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.relu_out = relu_out
        self.register_buffer("act_scale", torch.tensor(0.0))
        self.quantize = False
        self.calibrate = False

    def weight_scale(self) -> torch.Tensor:
        w = self.conv.weight.detach()
        return torch.clamp(w.abs().amax(dim=(1, 2, 3)), min=1e-8) / 127.0

    def qweight(self) -> torch.Tensor:
        s = self.weight_scale().view(-1, 1, 1, 1)
        w = self.conv.weight
        return round_ste(torch.clamp(w / s, -127, 127)) * s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.qweight() if self.quantize else self.conv.weight
        out = F.conv2d(x, w, self.conv.bias, padding=self.conv.padding)
        if not self.relu_out:
            return out
        out = F.relu(out)
        if self.calibrate:
            with torch.no_grad():
                m = out.detach().amax() / 255.0
                self.act_scale.copy_(torch.maximum(self.act_scale * 0.99, m) if self.act_scale > 0 else m)
        if self.quantize and self.act_scale > 0:
            s = self.act_scale
            out = round_ste(torch.clamp(out / s, 0, 255)) * s
        return out
