"""Scale-only hyperprior (Ballé et al. 2018) with per-rate gain vectors (Cui et al. 2021).

Training/export only (torch). Architecture, all widths configurable::

    g_a : conv5x5/2 -> GDN -> conv5x5/2 -> GDN -> conv5x5/2 -> GDN -> conv5x5/2          (bands -> N_a -> M)
    y_r = g_a(x) * gain[r]          (per-channel gain of rate point r)
    h_a : |y| -> conv3x3 -> ReLU -> conv5x5/2 -> ReLU -> conv5x5/2                       (M -> N -> Nz)
    h_s : integer-friendly sub-pixel synthesis, every layer a 3x3 conv, depth-to-space (CRD) for upsampling:
          z_hat -> conv(Nz->4N) ReLU D2S -> conv(N->4N) ReLU D2S -> conv(N->M) = sigma_base
    sigma_r = sigma_base * gain[r]
    g_s : y_hat / gain[r] -> deconv5x5/2 -> IGDN -> ... -> deconv5x5/2                    (M -> N_s -> bands)

``N_s`` (``n_s``, default ``n``) is the width of the synthesis: it runs on the ground, outside the onboard
MAC budget, so a model may be asymmetric (a wider ground decoder for the same onboard encoder). ``N_a``
(``n_a``, default ``n``) is the width of the onboard analysis alone; ``h_a`` and ``h_s`` keep ``N``. The latent
of a hyperprior is a bottleneck twice over: ``M`` values per 16 x 16 pixels, and ``N_a`` per 8 x 8 pixels in
``g_a``'s last hidden layer. On RGB development crops a block PCA keeping as many dimensions reaches 33.9 dB
for M = 192 of 768 and 36.4 dB for N = 64 of 192 (42.5 dB for M = 384, 42.0 dB for N = 96; ``python -m
tools.model_ceiling --pca-block 16 --pca-keep 192 384 --crops 64 --crop 256``). The M = 192, N = 64 model's
transform ceiling (30.9 dB, ``tools.model_ceiling --checkpoint``) is below both linear figures, so its widths
are not yet what holds it: widened from it to M = 320 and N_a = 96 (``--widen-warmup``, ``--widen-lr-mult``), a
run raised the ceiling by only 0.34 dB in 9500 steps, for 2.2x the onboard MACs (``checkpoints/README.md``).

``h_a`` sees the un-gained ``y``, so ``z`` and the integer ``h_s`` are shared by every rate; only the
quantisation step of ``y`` (through the gain) and the scale thresholds change per rate.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from onboard.models.layers import GDN, FactorizedPrior, FakeQuantConv, gaussian_likelihood, round_ste


@dataclass(frozen=True)
class HyperpriorConfig:
    """Widths and rate points of a :class:`ScaleHyperprior`."""

    bands: int = 3
    n: int = 64
    m: int = 96
    nz: int = 48
    lambdas: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.013, 0.025)
    cluster_bands: int | None = None  # B for a channel-clustered model (bands == B), None for an image model
    n_s: int | None = None  # width of the ground-side synthesis g_s; None: the same as n
    n_a: int | None = None  # width of the onboard analysis g_a; None: the same as n (h_a and h_s keep n)
    spectral: str = "none"  # clustered models: "klt" when trained on spectral KLT components (onboard.spectral)

    @property
    def synthesis_width(self) -> int:
        """Hidden width of ``g_s`` (``n_s`` when set, else ``n``)."""
        return self.n_s or self.n

    @property
    def analysis_width(self) -> int:
        """Hidden width of ``g_a`` (``n_a`` when set, else ``n``)."""
        return self.n_a or self.n

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lambdas"] = list(self.lambdas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HyperpriorConfig":
        d = dict(d)
        d["lambdas"] = tuple(d["lambdas"])
        d.setdefault("cluster_bands", None)
        d.setdefault("n_s", None)
        d.setdefault("n_a", None)
        d.setdefault("spectral", "none")
        return cls(**d)


def _conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def _deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


class AnalysisTransform(nn.Module):
    def __init__(self, bands: int, n: int, m: int):
        super().__init__()
        self.net = nn.Sequential(_conv(bands, n), GDN(n), _conv(n, n), GDN(n), _conv(n, n), GDN(n), _conv(n, m))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SynthesisTransform(nn.Module):
    def __init__(self, bands: int, n: int, m: int):
        super().__init__()
        self.net = nn.Sequential(_deconv(m, n), GDN(n, inverse=True), _deconv(n, n), GDN(n, inverse=True),
                                 _deconv(n, n), GDN(n, inverse=True), _deconv(n, bands))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


class HyperAnalysis(nn.Module):
    def __init__(self, n: int, m: int, nz: int):
        super().__init__()
        self.net = nn.Sequential(_conv(m, n, 3, 1), nn.ReLU(), _conv(n, n), nn.ReLU(), _conv(n, nz))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.abs(y))


class HyperSynthesis(nn.Module):
    """Integer-friendly h_s: the layers the integer network (onboard.integer_hs) reproduces."""

    def __init__(self, n: int, m: int, nz: int):
        super().__init__()
        self.l1 = FakeQuantConv(nz, 4 * n, 3)
        self.l2 = FakeQuantConv(n, 4 * n, 3)
        self.l3 = FakeQuantConv(n, m, 3, relu_out=False)

    def set_mode(self, quantize: bool, calibrate: bool) -> None:
        for layer in (self.l1, self.l2, self.l3):
            layer.quantize = quantize
            layer.calibrate = calibrate

    def forward(self, z_hat: torch.Tensor) -> torch.Tensor:
        z_in = torch.clamp(z_hat, -128, 127)  # the integer network takes int8 input
        x = F.pixel_shuffle(self.l1(z_in), 2)
        x = F.pixel_shuffle(self.l2(x), 2)
        return self.l3(x)


class ScaleHyperprior(nn.Module):
    """Variable-rate scale hyperprior. ``forward(x, rate_index)`` returns the training quantities."""

    def __init__(self, config: HyperpriorConfig = HyperpriorConfig()):
        super().__init__()
        c = config
        self.config = c
        self.g_a = AnalysisTransform(c.bands, c.analysis_width, c.m)
        self.g_s = SynthesisTransform(c.bands, c.synthesis_width, c.m)
        self.h_a = HyperAnalysis(c.n, c.m, c.nz)
        self.h_s = HyperSynthesis(c.n, c.m, c.nz)
        self.prior = FactorizedPrior(c.nz)
        r = len(c.lambdas)
        # log-gains; initialised so higher lambda -> larger gain (finer quantisation)
        init = torch.linspace(-0.7, 0.7, r).view(r, 1).expand(r, c.m).clone()
        self.log_gain = nn.Parameter(init)
        # Training only, not saved: latent channels from this index on reach g_s as y + uniform noise instead of
        # round(y). Channels added by widening start with zero weights into g_s; rounded, their small values are
        # 0, so g_s never sees them and they never learn (measured: after 1000 steps a model widened from
        # M = 192 to 320 had not raised its transform ceiling). The noise proxy gives them gradients.
        self.noisy_synthesis_from: int | None = None

    def gain(self, rate_index: int) -> torch.Tensor:
        return torch.exp(self.log_gain[rate_index]).view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor, rate_index: int) -> dict[str, torch.Tensor]:
        y = self.g_a(x)
        z = self.h_a(y)
        z_noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        z_hat = round_ste(z)
        z_lik = self.prior.likelihood(z_noisy)
        sigma_base = self.h_s(z_hat)
        g = self.gain(rate_index)
        y_g = y * g
        y_noisy = y_g + torch.empty_like(y_g).uniform_(-0.5, 0.5)
        y_lik = gaussian_likelihood(y_noisy, F.relu(sigma_base) * g)
        y_hat = round_ste(y_g)
        k = self.noisy_synthesis_from
        if k is not None:  # widening warm-up: channels from k on reach g_s with the noise proxy (see __init__)
            y_hat = torch.cat([y_hat[:, :k], y_noisy[:, k:]], dim=1)
        x_hat = self.g_s(y_hat / g)
        return {"x_hat": x_hat, "y_lik": y_lik, "z_lik": z_lik, "y": y, "z": z}
