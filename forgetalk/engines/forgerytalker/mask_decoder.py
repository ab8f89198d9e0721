"""The localization head: region-prompt cross-attention + SAM-style two-way transformer.

Names mirror DFF's ``lavis/models/mask_decoder.py`` and ``TwoWayTransformer.py``
(``mask_decoder.transformer.layers.N.self_attn.q_proj`` ..., ``mask_decoder.mask_tokens``,
``output_upscaling_mlp.layers.K``, ``output_hypernetworks_mlps.layers.K``), so the
checkpoint's mask-branch keys load unchanged. There is no convolutional upsampling:
each of the 22 tokens is mapped by an MLP straight to a full ``mask_size``² map and the
mask token's hyper-network output mixes them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import MaskCfg


class MLP(nn.Module):
    """``num_layers`` Linears with ReLU between them (released ``MLP``, no sigmoid)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:] + [output_dim], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class Attention(nn.Module):
    """SAM attention with an optional down-projected internal width."""

    def __init__(self, dim: int, heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.heads = heads
        inner = dim // downsample_rate
        if inner % heads:
            raise ValueError(f"num_heads {heads} must divide the internal width {inner}")
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        def split(x: torch.Tensor) -> torch.Tensor:
            b, n, c = x.shape
            return x.view(b, n, self.heads, c // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        out = (att @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


class MLPBlock(nn.Module):
    def __init__(self, dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(F.relu(self.lin1(x)))  # the decoder is built with ReLU in DFF


class TwoWayAttentionBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, downsample: int, skip_first_layer_pe: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(dim, mlp_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, heads, downsample)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)  # replaces, as in SAM's first block
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, keys + key_pe, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(keys + key_pe, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int, downsample: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TwoWayAttentionBlock(dim, heads, mlp_dim, downsample, i == 0) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        queries, keys = point, image
        for layer in self.layers:
            queries, keys = layer(queries, keys, point, image_pe)
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(queries + point, keys + image_pe, keys))
        return queries, keys


class MaskDecoder(nn.Module):
    """22 tokens (CLS + 21 attended prompt tokens) -> ``mask_size`` x ``mask_size`` logits."""

    def __init__(self, dim: int, cfg: MaskCfg) -> None:
        super().__init__()
        self.mask_size = cfg.mask_size
        self.transformer = TwoWayTransformer(cfg.depth, dim, cfg.num_heads, cfg.mlp_dim, cfg.attention_downsample_rate)
        self.mask_tokens = nn.Parameter(torch.zeros(1, 1, dim))
        self.output_upscaling_mlp = MLP(dim, dim, cfg.mask_size**2, 3)
        self.output_hypernetworks_mlps = MLP(dim, dim, cfg.prompt_len + 1, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b = tokens.shape[0]
        hs, src = self.transformer(tokens, tokens, self.mask_tokens.expand(b, -1, -1))
        masks = self.output_hypernetworks_mlps(hs) @ self.output_upscaling_mlp(src)
        return masks.view(b, self.mask_size, self.mask_size)
