"""LocalizerNet: forged-pixel mask logits and one logit per facial region.

Why this shape: a few hundred thousand parameters trains on 2 CPU cores in minutes and
ships in about 1 MB. Fixed high-pass residual channels (Laplacian, SRM "KV" and a
second-order cross) are given as input because blend seams, resampling and smoothing live
in the high frequencies that RGB convolutions learn slowly from few faces. The region head
pools a per-region evidence map inside each region's own mask (from FaceMesh), so the
region score means "evidence inside this region" and follows the face, not a fixed grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ...faces.base import REGION_NAMES
from .common import input_sizes

#: Architectures: the original tiny U-Net, and a U-Net whose RGB encoder is a MobileNetV1
#: (width 0.5) that can start from face-trained weights (see :class:`MobileEncoder`).
ARCHS = ("unet", "mobile_unet")


@dataclass(frozen=True)
class LocalizerConfig:
    input_size: int = 192
    widths: tuple[int, int, int, int] = (16, 32, 48, 80)
    region_names: tuple[str, ...] = REGION_NAMES
    hp_clip: float = 12.0  # residual clamp in 0..255 units (truncation keeps faces' edges from dominating)
    arch: str = "unet"
    #: Independently trained networks of this architecture whose logits are averaged
    #: (:class:`LocalizerEnsemble`); 1 = a single network.
    members: int = 1
    #: Each member's input size when they differ (``input_size`` is then the largest: the mask's
    #: resolution); empty = every member at ``input_size``.
    member_sizes: tuple[int, ...] = ()
    #: Average every network's logits with those of its pass on the mirrored crop (left and right
    #: regions swapped in and back out; :class:`_SingleNet`). A test-time choice: training leaves
    #: it off, :mod:`forgetalk.train.ensemble` turns it on for a shipped file.
    flip_average: bool = False

    def __post_init__(self) -> None:
        if self.member_sizes and (len(self.member_sizes) != self.members or max(self.member_sizes) != self.input_size or min(self.member_sizes) < 16):
            raise ValueError(f"member_sizes {list(self.member_sizes)} must give each of the {self.members} members a size of at least 16, the largest equal to input_size {self.input_size}")

    @property
    def input_sizes(self) -> tuple[int, ...]:
        """The sizes the network is fed at, ``input_size`` first (see ``common.input_sizes``)."""
        return input_sizes(self.input_size, self.member_sizes)

    def member_config(self, i: int) -> LocalizerConfig:
        """Member ``i`` as a single network."""
        size = self.member_sizes[i] if self.member_sizes else self.input_size
        return replace(self, members=1, member_sizes=(), input_size=size)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["region_names"] = list(self.region_names)
        if self.members == 1:  # single networks keep the config their files were written with
            del d["members"]
        if self.member_sizes:
            d["member_sizes"] = list(self.member_sizes)
        else:  # so do ensembles of one input size
            del d["member_sizes"]
        if not self.flip_average:  # and files written before the option existed
            del d["flip_average"]
        return d

    @staticmethod
    def from_dict(d: dict[str, object]) -> LocalizerConfig:
        arch = str(d.get("arch", "unet"))
        if arch not in ARCHS:
            raise ValueError(f"unknown localizer architecture {arch!r}")
        return LocalizerConfig(
            input_size=int(d["input_size"]),  # type: ignore[arg-type]
            widths=tuple(int(w) for w in d["widths"]),  # type: ignore[union-attr]
            region_names=tuple(str(n) for n in d["region_names"]),  # type: ignore[union-attr]
            hp_clip=float(d.get("hp_clip", 12.0)),  # type: ignore[arg-type]
            arch=arch,
            members=_members(d.get("members", 1)),
            member_sizes=tuple(int(v) for v in d.get("member_sizes") or ()),  # type: ignore[union-attr]
            flip_average=_flag(d.get("flip_average", False)),
        )


def _members(v: object) -> int:
    n = int(v)  # type: ignore[call-overload]
    if not 1 <= n <= 16:
        raise ValueError(f"a localizer ensemble has 1 to 16 members, not {n}")
    return n


def _flag(v: object) -> bool:
    if not isinstance(v, bool):  # a JSON config: "false" or 0 must not read as "on"
        raise ValueError(f"flip_average must be true or false, not {v!r}")
    return v


def mirrored_channels(names: tuple[str, ...]) -> list[int]:
    """Index of each region's left/right counterpart (itself for central regions): the channel
    order of a mirrored face's regions."""
    swap = {n: n.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_") for n in names}
    missing = sorted(v for v in swap.values() if v not in names)
    if missing:
        raise ValueError(f"regions {missing} have no counterpart among the region names")
    return [names.index(swap[n]) for n in names]


class _SingleNet(nn.Module):
    """One network's forward, optionally averaged with its pass on the mirrored crop.

    Why it exists: a face mirrored is still a face, and a network's errors on it are partly
    independent: on the 183 validation faces the shipped four members' raw head AUC rose
    0.645 -> 0.652 over nine families (0.822 -> 0.842 on the never-trained mirrored copies). Why it
    is off in the shipped file: calibrated into the engine and measured on the held-out test faces,
    that gain did not carry over (image AUC -0.002, mirrored copies -0.004, more untouched faces
    flagged at the validation threshold, 0.12 s per face against 0.09; docs/localizer_history.md,
    twenty-third session). Both passes see the same crop, so the mask is mirrored back and the
    left/right region logits swapped back before averaging. Subclasses implement
    :meth:`single_forward`; the state dict is unchanged by the option.
    """

    config: LocalizerConfig

    def single_forward(self, rgb: torch.Tensor, regions: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, rgb: torch.Tensor, regions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mask, reg = self.single_forward(rgb, regions)
        if not self.config.flip_average:
            return mask, reg
        perm = mirrored_channels(self.config.region_names)
        mask_m, reg_m = self.single_forward(rgb.flip(-1), None if regions is None else regions[:, perm].flip(-1))
        return (mask + mask_m.flip(-1)) / 2, (reg + reg_m[:, perm]) / 2


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


class _DW(nn.Module):
    """MobileNetV1 depthwise-separable block; attribute names follow 3DDFA_V2's MobileNet so
    its face-trained weights load by name (``conv_dw``/``bn_dw``/``conv_sep``/``bn_sep``)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn_dw = nn.BatchNorm2d(cin)
        self.conv_sep = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn_sep = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn_dw(self.conv_dw(x)), inplace=True)
        return F.relu(self.bn_sep(self.conv_sep(x)), inplace=True)


#: (name, in, out, stride) of the MobileNetV1-0.5 blocks used, up to stride 16.
MOBILE_BLOCKS: tuple[tuple[str, int, int, int], ...] = (
    ("dw2_1", 16, 32, 1), ("dw2_2", 32, 64, 2), ("dw3_1", 64, 64, 1), ("dw3_2", 64, 128, 2),
    ("dw4_1", 128, 128, 1), ("dw4_2", 128, 256, 2), ("dw5_1", 256, 256, 1), ("dw5_2", 256, 256, 1),
)


class MobileEncoder(nn.Module):
    """MobileNetV1 (width 0.5) to stride 16; features at S/2, S/4, S/8, S/16 (32, 64, 128, 256 ch).

    Why this backbone: detectors that generalize from synthetic forgeries to real edits start
    from pretrained features; 3DDFA_V2's MobileNet was trained on faces (3D fitting), is MIT
    licensed and small enough to fine-tune on 2 CPU cores. Input as 3DDFA: BGR, (x-127.5)/128.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        for name, cin, cout, stride in MOBILE_BLOCKS:
            setattr(self, name, _DW(cin, cout, stride))

    def forward(self, rgb01: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb01.flip(1) * 255.0 - 127.5) / 128.0
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        feats = []
        x = self.dw2_1(x)
        feats.append(x)  # S/2, 32
        x = self.dw3_1(self.dw2_2(x))
        feats.append(x)  # S/4, 64
        x = self.dw4_1(self.dw3_2(x))
        feats.append(x)  # S/8, 128
        x = self.dw5_2(self.dw5_1(self.dw4_2(x)))
        feats.append(x)  # S/16, 256
        return feats


def load_mobile_pretrained(encoder: MobileEncoder, path: str) -> dict[str, object]:
    """Copy 3DDFA_V2 MobileNet weights into the encoder (weights_only: the file is untrusted)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    sd = blob.get("state_dict", blob) if isinstance(blob, dict) else blob
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    own = encoder.state_dict()
    taken = {k: v for k, v in sd.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    encoder.load_state_dict(taken, strict=False)
    return {"path": path, "tensors_loaded": len(taken), "tensors_in_encoder": len(own)}


class MobileLocalizerNet(_SingleNet):
    """RGB through the MobileNet encoder, fixed high-pass residuals through a small stream of
    their own (pretrained RGB filters would wash out sensor-level traces), fused in a U-Net
    decoder. Same inputs, outputs and region head as :class:`LocalizerNet`."""

    def __init__(self, config: LocalizerConfig) -> None:
        super().__init__()
        self.config = c = config
        w0, w1, w2, w3 = c.widths
        self.register_buffer("hp", _hp_kernels(), persistent=False)
        self.enc = MobileEncoder()
        self.hp0 = nn.Sequential(_CBR(3, 16, 2), _CBR(16, 16))  # S/2
        self.hp1 = nn.Sequential(_CBR(16, 32, 2), _CBR(32, 32))  # S/4
        self.d2 = _CBR(256 + 128, w2)
        self.d1 = _CBR(w2 + 64 + 32, w1)
        self.d0 = _CBR(w1 + 32 + 16, w0)
        self.mask_head = nn.Conv2d(w0, 1, 1)
        r = len(c.region_names)
        self.region_maps = nn.Conv2d(w1, r, 1)
        self.region_w = nn.Parameter(torch.tensor([[1.0, 1.0]]).repeat(r, 1))
        self.region_b = nn.Parameter(torch.full((r,), -2.0))

    def single_forward(self, rgb: torch.Tensor, regions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        s = rgb.shape[-1]
        f1, f2, f3, f4 = self.enc(rgb)
        gray = (0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]) * 255.0
        hp = F.conv2d(gray, self.hp, padding=2).clamp(-self.config.hp_clip, self.config.hp_clip) / self.config.hp_clip
        h0 = self.hp0(hp)
        h1 = self.hp1(h0)
        y2 = self.d2(torch.cat([_up(f4, f3), f3], 1))
        y1 = self.d1(torch.cat([_up(y2, f2), f2, h1], 1))
        y0 = self.d0(torch.cat([_up(y1, f1), f1, h0], 1))
        mask_logits = F.interpolate(self.mask_head(y0), size=(s, s), mode="bilinear", align_corners=False)
        return mask_logits, _region_logits(self.region_maps(y1), regions, self.region_w, self.region_b)


def _up(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def _region_logits(maps: torch.Tensor, regions: torch.Tensor | None, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pool a per-region evidence map inside each region's own mask (mean and max, learned mix)."""
    if regions is None:
        m = torch.ones_like(maps)
    else:
        m = F.adaptive_avg_pool2d(regions.float(), maps.shape[-2:])
        m = (m > 0.25).float() + 1e-6 * (m > 0).float()
    area = m.sum(dim=(2, 3)).clamp_min(1e-6)
    mean = (maps * m).sum(dim=(2, 3)) / area
    mx = torch.where(m > 0, maps, torch.full_like(maps, -1e4)).amax(dim=(2, 3))
    mx = torch.where(area > 1e-3, mx, mean)
    return w[:, 0] * mean + w[:, 1] * mx + b


def build_localizer(config: LocalizerConfig | None = None) -> nn.Module:
    """The network a config describes (the registry of architectures)."""
    c = config or LocalizerConfig()
    if c.members > 1:
        return LocalizerEnsemble(c)
    return MobileLocalizerNet(c) if c.arch == "mobile_unet" else LocalizerNet(c)


class LocalizerEnsemble(nn.Module):
    """``config.members`` networks of one architecture; mask and region logits are averaged.

    Members may differ in input size (``config.member_sizes``): each is fed the crop resized to
    its own size (one extra ``image``/``regions`` pair per extra size, see ``common.input_names``)
    and its mask logits are resized to ``input_size`` before averaging. Why: on the validation
    faces a 256 px network alone matched two 192 px ones averaged (docs/localizer_history.md, seventh
    session), so a larger scale is another independent view, and a member must see the crop at
    the scale it was trained on.

    Why: on the validation faces (183 faces, every family, post-edit chains; 2026-11-26) three
    independently trained localizers (v3, v6 and the one trained without part swaps) averaged
    in logit space raised the region head's image AUC from 0.631 (v3 alone) to 0.661 and its
    region top-1 from 0.321 to 0.353, most on the never-trained mirrored copies (0.784 to 0.822);
    a horizontal-flip average of v3 gave 0.639. Independent runs make different mistakes, and
    on 2 cores three 192 px networks cost about 40 ms more than one. Same inputs and outputs as
    one network, so both runtimes, the ONNX export and the engine are unchanged; members are
    combined, never trained, here (``forgetalk.train.ensemble``).
    """

    def __init__(self, config: LocalizerConfig) -> None:
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(build_localizer(config.member_config(i)) for i in range(config.members))

    def forward(self, rgb: torch.Tensor, regions: torch.Tensor | None = None, *more: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``more``: an image and its region masks for each further input size, in
        ``config.input_sizes`` order (nothing for an ensemble of one size)."""
        inputs = dict(zip(self.config.input_sizes, zip((rgb, *more[0::2]), (regions, *more[1::2]), strict=True), strict=True))
        s = self.config.input_size
        masks, regs = [], []
        for m in self.members:
            mask, reg = m(*inputs[m.config.input_size])
            masks.append(mask if m.config.input_size == s else F.interpolate(mask, size=(s, s), mode="bilinear", align_corners=False))
            regs.append(reg)
        return torch.stack(masks).mean(0), torch.stack(regs).mean(0)


class LocalizerNet(_SingleNet):
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

    def single_forward(self, rgb: torch.Tensor, regions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        s = rgb.shape[-1]
        x0 = self.stem(self.features_in(rgb))
        x1 = self.e1(x0)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        y2 = self.d2(torch.cat([_up(x3, x2), x2], 1))
        y1 = self.d1(torch.cat([_up(y2, x1), x1], 1))
        y0 = self.d0(torch.cat([_up(y1, x0), x0], 1))
        mask_logits = F.interpolate(self.mask_head(y0), size=(s, s), mode="bilinear", align_corners=False)
        return mask_logits, _region_logits(self.region_maps(y1), regions, self.region_w, self.region_b)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
