"""MONAI `DiffusionModelUNet` (no cross-attention), as diffusion/unet.ts: sinusoidal time embedding (cos half
first), ResNet blocks with a time projection, self-attention on the chosen levels, channel-concat skips.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import SpatialAttentionBlock
from .convolution import Convolution
from .kwargs import per_level


def timestep_embedding(timesteps, dim, max_period=10000):
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32)
    args = timesteps[:, None].float() * torch.exp(exponent / half)[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def zero_module(m):
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class ResnetBlock(nn.Module):
    def __init__(self, in_ch, out_ch, temb_ch, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch, eps=eps)
        self.conv1 = Convolution(in_ch, out_ch, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_ch, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch, eps=eps)
        self.conv2 = zero_module(Convolution(out_ch, out_ch, 3, padding=1))
        self.skip_connection = Convolution(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip_connection(x) + h


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = Convolution(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.postconv = Convolution(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.postconv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    """[resnet (+attention)] x n, then an optional downsampler; every output goes on the skip stack."""

    def __init__(self, in_ch, out_ch, num_res, add_downsample, attn, c):
        super().__init__()
        if attn:  # MONAI's AttnDownBlock registers attentions before resnets
            self.attentions = nn.ModuleList([attn(out_ch) for _ in range(num_res)])
        self.resnets = nn.ModuleList([c(in_ch if i == 0 else out_ch, out_ch) for i in range(num_res)])
        if add_downsample:
            self.downsampler = Downsample(out_ch)

    def forward(self, h, emb, skips):
        for i, resnet in enumerate(self.resnets):
            h = resnet(h, emb)
            if hasattr(self, "attentions"):
                h = self.attentions[i](h)
            skips.append(h)
        if hasattr(self, "downsampler"):
            h = self.downsampler(h)
            skips.append(h)
        return h


class MidBlock(nn.Module):
    def __init__(self, ch, attn, c):
        super().__init__()
        self.resnet_1 = c(ch, ch)
        self.attention = attn(ch)
        self.resnet_2 = c(ch, ch)

    def forward(self, h, emb):
        return self.resnet_2(self.attention(self.resnet_1(h, emb)), emb)


class UpBlock(nn.Module):
    """[cat(h, skip) -> resnet (+attention)] x n, then an optional upsampler."""

    def __init__(self, in_ch, prev_out_ch, out_ch, num_res, add_upsample, attn, c):
        super().__init__()
        self.resnets = nn.ModuleList([
            c((prev_out_ch if i == 0 else out_ch) + (in_ch if i == num_res - 1 else out_ch), out_ch)
            for i in range(num_res)
        ])
        if attn:
            self.attentions = nn.ModuleList([attn(out_ch) for _ in range(num_res)])
        if add_upsample:
            self.upsampler = Upsample(out_ch)

    def forward(self, h, emb, skips):
        for i, resnet in enumerate(self.resnets):
            h = resnet(torch.cat([h, skips.pop()], 1), emb)
            if hasattr(self, "attentions"):
                h = self.attentions[i](h)
        return self.upsampler(h) if hasattr(self, "upsampler") else h


class DiffusionModelUNet(nn.Module):
    def __init__(self, in_channels, out_channels, spatial_dims=3, num_res_blocks=2, channels=(32, 64, 64, 64),
                 attention_levels=(False, False, True, True), norm_num_groups=32, norm_eps=1e-6,
                 num_head_channels=8, include_fc=True, use_combined_linear=False, **_ignored):
        super().__init__()
        assert spatial_dims == 3, "only 3-D"
        L = len(channels)
        res, heads = per_level(num_res_blocks, L), per_level(num_head_channels, L)
        temb = channels[0] * 4
        self.dim = channels[0]
        c = lambda i, o: ResnetBlock(i, o, temb, norm_num_groups, norm_eps)  # noqa: E731

        def attn_of(level):
            if not attention_levels[level]:
                return None
            return lambda ch: SpatialAttentionBlock(ch, heads[level], norm_num_groups, norm_eps, include_fc,
                                                    use_combined_linear)

        self.conv_in = Convolution(in_channels, channels[0], 3, padding=1)
        self.time_embed = nn.Sequential(nn.Linear(channels[0], temb), nn.SiLU(), nn.Linear(temb, temb))
        out = channels[0]
        down = []
        for i in range(L):
            prev, out = out, channels[i]
            down.append(DownBlock(prev, out, res[i], i != L - 1, attn_of(i), c))
        self.down_blocks = nn.ModuleList(down)
        self.middle_block = MidBlock(channels[-1], lambda ch: SpatialAttentionBlock(
            ch, heads[-1], norm_num_groups, norm_eps, include_fc, use_combined_linear), c)
        rev = list(reversed(channels))
        up, out = [], rev[0]
        for i in range(L):
            prev, out = out, rev[i]
            level = L - 1 - i
            up.append(UpBlock(rev[min(i + 1, L - 1)], prev, out, res[level] + 1, i != L - 1, attn_of(level), c))
        self.up_blocks = nn.ModuleList(up)
        self.out = nn.Sequential(nn.GroupNorm(norm_num_groups, channels[0], eps=norm_eps), nn.SiLU(),
                                 zero_module(Convolution(channels[0], out_channels, 3, padding=1)))

    def forward(self, x, timesteps):
        emb = self.time_embed(timestep_embedding(timesteps, self.dim).to(x.dtype))
        h = self.conv_in(x)
        skips = [h]
        for block in self.down_blocks:
            h = block(h, emb, skips)
        h = self.middle_block(h, emb)
        for block in self.up_blocks:
            h = block(h, emb, skips)
        return self.out(h)
