"""MONAI `SpatialAttentionBlock`: x + SABlock(GroupNorm(x)) over the voxels, heads split as (head, dim)."""
import math

import torch
from torch import nn


class SABlock(nn.Module):
    """Multi-head self-attention on [B, T, C] (qkv bias on, no dropout): to_q/k/v or qkv, then out_proj."""

    def __init__(self, hidden_size, num_heads, include_fc=True, use_combined_linear=False):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.out_proj = nn.Linear(hidden_size, hidden_size) if include_fc else nn.Identity()
        self.combined = use_combined_linear
        if use_combined_linear:
            self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        else:
            self.to_q = nn.Linear(hidden_size, hidden_size)
            self.to_k = nn.Linear(hidden_size, hidden_size)
            self.to_v = nn.Linear(hidden_size, hidden_size)

    def forward(self, x):
        b, t, c = x.shape
        h, d = self.num_heads, self.head_dim
        if self.combined:
            q, k, v = self.qkv(x).view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)
        else:
            q, k, v = (lin(x).view(b, t, h, d).transpose(1, 2) for lin in (self.to_q, self.to_k, self.to_v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        return self.out_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class SpatialAttentionBlock(nn.Module):
    def __init__(self, num_channels, num_head_channels, norm_num_groups, norm_eps, include_fc=True,
                 use_combined_linear=False):
        super().__init__()
        heads = num_channels // num_head_channels if num_head_channels else 1
        self.norm = nn.GroupNorm(norm_num_groups, num_channels, eps=norm_eps)
        self.attn = SABlock(num_channels, heads, include_fc, use_combined_linear)

    def forward(self, x):
        b, c = x.shape[:2]
        tokens = self.norm(x).reshape(b, c, -1).transpose(1, 2)
        return self.attn(tokens).transpose(1, 2).reshape(x.shape) + x
