"""The Forgery Prompter Network ("Face-ViT"): which of the 21 region words look forged.

Module and parameter names mirror the released ``VisionTransformer`` in DFF's
``vit/models/modeling.py`` exactly, so the Face-ViT ``.bin`` state_dict loads with no
renaming (``transformer.embeddings.*``, ``transformer.encoder.layer.N.*``, ``head``,
``coord_conv_branch.*``, ``conv_branch2.*``). Only the inference path is implemented:
the released forward also computes a mid-depth head for a training loss, unused here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import PrompterCfg


class AddCoords(nn.Module):
    """Appends x and y coordinate channels in [-1, 1] (CoordConv, no radius channel)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        # Same layout as the released AddCoords: channel "xx" varies along dim 2 (height).
        xx = (torch.arange(h, device=x.device, dtype=x.dtype) / max(h - 1, 1) * 2 - 1).view(1, 1, h, 1).expand(b, 1, h, w)
        yy = (torch.arange(w, device=x.device, dtype=x.dtype) / max(w - 1, 1) * 2 - 1).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, xx, yy], dim=1)


class CoordConv(nn.Module):
    """AddCoords then a Conv2d on ``in_channels + 2`` channels (parameter name ``conv``)."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: int) -> None:
        super().__init__()
        self.addcoords = AddCoords()
        self.conv = nn.Conv2d(in_channels + 2, out_channels, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.addcoords(x))


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = (t(x).view(b, n, self.heads, c // self.heads).transpose(1, 2) for t in (self.query, self.key, self.value))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // self.heads), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, hidden: int, mlp_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: PrompterCfg) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.ffn = Mlp(cfg.hidden_size, cfg.mlp_dim)
        self.attn = Attention(cfg.hidden_size, cfg.num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attention_norm(x))
        return x + self.ffn(self.ffn_norm(x))


class Embeddings(nn.Module):
    def __init__(self, cfg: PrompterCfg) -> None:
        super().__init__()
        n = (cfg.image_size // cfg.patch_size) ** 2
        self.patch_embeddings = nn.Conv2d(3, cfg.hidden_size, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, cfg.hidden_size))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_embeddings(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), p], dim=1) + self.position_embeddings


class Encoder(nn.Module):
    def __init__(self, cfg: PrompterCfg) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.encoder_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)


class Transformer(nn.Module):
    def __init__(self, cfg: PrompterCfg) -> None:
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)


class FaceViT(nn.Module):
    """Multi-label region classifier; ``forward`` returns 21 logits (apply sigmoid)."""

    def __init__(self, cfg: PrompterCfg) -> None:
        super().__init__()
        if cfg.num_layers < 2:
            raise ValueError("Face-ViT injects conv features before blocks 0 and 1: needs >= 2 layers")
        h = cfg.hidden_size
        self.transformer = Transformer(cfg)
        self.head = nn.Linear(h, cfg.num_classes)
        self.add_coords = AddCoords()
        self.coord_conv_branch = nn.Sequential(
            CoordConv(5, h, kernel_size=3, stride=2, padding=1), nn.BatchNorm2d(h), nn.LeakyReLU(), nn.MaxPool2d(2, 2),
        )
        self.conv_branch2 = nn.Sequential(
            nn.Conv2d(h, h, kernel_size=5, stride=2, padding=2), nn.BatchNorm2d(h), nn.ReLU(), nn.MaxPool2d(2, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.coord_conv_branch(self.add_coords(x))
        f2 = self.conv_branch2(f1)
        tokens = self.transformer.embeddings(x)
        cls, img = tokens[:, :1], tokens[:, 1:]
        n = img.shape[1]
        # Conv maps -> token sequences pooled to the patch count (released: adaptive_avg_pool1d).
        f1 = F.adaptive_avg_pool1d(f1.flatten(2), n).transpose(1, 2)
        f2 = F.adaptive_avg_pool1d(f2.flatten(2), n).transpose(1, 2)
        layers = self.transformer.encoder.layer
        x1 = layers[0](torch.cat([cls, img + f1], dim=1))
        x2 = layers[1](torch.cat([x1[:, :1], x1[:, 1:] + f2], dim=1))
        for blk in layers[2:]:
            x2 = blk(x2)
        return self.head(self.transformer.encoder.encoder_norm(x2)[:, 0])
