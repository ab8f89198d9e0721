"""LocalizerNet: forged-pixel mask logits and one logit per facial region.

Why this shape: a few hundred thousand parameters trains on 2 CPU cores in minutes and
ships in about 1 MB. Fixed high-pass residual channels (Laplacian, SRM "KV" and a
second-order cross) are given as input because blend seams, resampling and smoothing live
in the high frequencies that RGB convolutions learn slowly from few faces. The region head
pools a per-region evidence map inside each region's own mask (from FaceMesh), so the
region score means "evidence inside this region" and follows the face, not a fixed grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...faces.base import REGION_NAMES


@dataclass(frozen=True)
class LocalizerConfig:
    input_size: int = 192
    widths: tuple[int, int, int, int] = (16, 32, 48, 80)
    region_names: tuple[str, ...] = REGION_NAMES
    hp_clip: float = 12.0  # residual clamp in 0..255 units (truncation keeps faces' edges from dominating)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["region_names"] = list(self.region_names)
        return d

    @staticmethod
    def from_dict(d: dict[str, object]) -> LocalizerConfig:
        return LocalizerConfig(
            input_size=int(d["input_size"]),  # type: ignore[arg-type]
            widths=tuple(int(w) for w in d["widths"]),  # type: ignore[union-attr]
            region_names=tuple(str(n) for n in d["region_names"]),  # type: ignore[union-attr]
            hp_clip=float(d.get("hp_clip", 12.0)),  # type: ignore[arg-type]
        )


def _hp_kernels() -> torch.Tensor:
    lap = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float32)
    kv = torch.tensor([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]], dtype=torch.float32) / 12.0
    cross = torch.tensor([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=torch.float32) / 4.0
    k = torch.zeros(3, 1, 5, 5)
    k[0, 0, 1:4, 1:4] = lap
    k[1, 0] = kv
    k[2, 0, 1:4, 1:4] = cross
    return k


class _CBR(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LocalizerNet(nn.Module):
    """Input RGB in [0, 1] (B, 3, S, S) and optional region masks (B, R, S, S) in {0, 1}.

    Returns ``(mask_logits (B, 1, S, S), region_logits (B, R))``.
    """

    def __init__(self, config: LocalizerConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or LocalizerConfig()
        w0, w1, w2, w3 = c.widths
        self.register_buffer("hp", _hp_kernels(), persistent=False)
        self.stem = nn.Sequential(_CBR(6, w0, 2), _CBR(w0, w0))  # S/2
        self.e1 = nn.Sequential(_CBR(w0, w1, 2), _CBR(w1, w1))  # S/4
        self.e2 = nn.Sequential(_CBR(w1, w2, 2), _CBR(w2, w2))  # S/8
        self.e3 = nn.Sequential(_CBR(w2, w3, 2), _CBR(w3, w3))  # S/16
        self.d2 = _CBR(w3 + w2, w2)
        self.d1 = _CBR(w2 + w1, w1)
        self.d0 = _CBR(w1 + w0, w0)
        self.mask_head = nn.Conv2d(w0, 1, 1)
        r = len(c.region_names)
        self.region_maps = nn.Conv2d(w1, r, 1)
        self.region_w = nn.Parameter(torch.tensor([[1.0, 1.0]]).repeat(r, 1))
        self.region_b = nn.Parameter(torch.full((r,), -2.0))

    def features_in(self, rgb: torch.Tensor) -> torch.Tensor:
        gray = (0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]) * 255.0
        hp = F.conv2d(gray, self.hp, padding=2).clamp(-self.config.hp_clip, self.config.hp_clip) / self.config.hp_clip
        return torch.cat([(rgb - 0.5) / 0.25, hp], dim=1)

    def forward(self, rgb: torch.Tensor, regions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        s = rgb.shape[-1]
        x0 = self.stem(self.features_in(rgb))
        x1 = self.e1(x0)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        up = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        y2 = self.d2(torch.cat([up(x3, x2), x2], 1))
        y1 = self.d1(torch.cat([up(y2, x1), x1], 1))
        y0 = self.d0(torch.cat([up(y1, x0), x0], 1))
        mask_logits = F.interpolate(self.mask_head(y0), size=(s, s), mode="bilinear", align_corners=False)

        maps = self.region_maps(y1)  # (B, R, S/4, S/4)
        if regions is None:
            m = torch.ones_like(maps)
        else:
            m = F.adaptive_avg_pool2d(regions.float(), maps.shape[-2:])
            m = (m > 0.25).float() + 1e-6 * (m > 0).float()
        area = m.sum(dim=(2, 3)).clamp_min(1e-6)
        mean = (maps * m).sum(dim=(2, 3)) / area
        mx = torch.where(m > 0, maps, torch.full_like(maps, -1e4)).amax(dim=(2, 3))
        mx = torch.where(area > 1e-3, mx, mean)
        region_logits = self.region_w[:, 0] * mean + self.region_w[:, 1] * mx + self.region_b
        return mask_logits, region_logits


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
