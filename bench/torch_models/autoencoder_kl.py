"""MONAI `AutoencoderKL` (core naming), as nn/models/autoencoder_kl.ts: encoder, latent head, decoder."""
import torch
import torch.nn.functional as F
from torch import nn

from .attention import SpatialAttentionBlock
from .convolution import Convolution
from .kwargs import per_level


class AEKLResBlock(nn.Module):
    """norm1 -> SiLU -> conv1 -> norm2 -> SiLU -> conv2, + nin_shortcut(x)."""

    def __init__(self, in_ch, groups, eps, out_ch):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch, eps=eps)
        self.conv1 = Convolution(in_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_ch, eps=eps)
        self.conv2 = Convolution(out_ch, out_ch, 3, padding=1)
        self.nin_shortcut = Convolution(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h


class AEKLDownsample(nn.Module):
    """Zero-pad one voxel at the END of each axis, then conv k3 s2 p0."""

    def __init__(self, channels):
        super().__init__()
        self.conv = Convolution(channels, channels, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1, 0, 1)))


class AEKLUpsample(nn.Module):
    """Nearest x2 then `postconv` (or a k2 s2 transposed conv `deconv`)."""

    def __init__(self, channels, use_convtranspose):
        super().__init__()
        if use_convtranspose:
            self.deconv = nn.ConvTranspose3d(channels, channels, 2, stride=2)
        else:
            self.postconv = Convolution(channels, channels, 3, padding=1)

    def forward(self, x):
        if hasattr(self, "deconv"):
            return self.deconv(x)
        return self.postconv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _level_blocks(a, channels, res_blocks, attention, first_in, resample):
    """Per level: [ResBlock (+attention)] x n, then `resample(ch)` except after the last level."""
    blocks, out = [], first_in
    for i, ch in enumerate(channels):
        in_ch, out = out, ch
        for _ in range(res_blocks[i]):
            blocks.append(AEKLResBlock(in_ch, a["groups"], a["eps"], out))
            in_ch = out
            if attention[i]:
                blocks.append(_attn(a, in_ch))
        if i != len(channels) - 1:
            blocks.append(resample(in_ch))
    return blocks, out


def _attn(a, ch):
    return SpatialAttentionBlock(ch, None, a["groups"], a["eps"], a["include_fc"], a["use_combined_linear"])


def _nonlocal(a, ch):
    return [AEKLResBlock(ch, a["groups"], a["eps"], ch), _attn(a, ch), AEKLResBlock(ch, a["groups"], a["eps"], ch)]


class AutoencoderKL(nn.Module):
    def __init__(self, spatial_dims=3, in_channels=1, out_channels=1, latent_channels=3, channels=(32, 64, 64),
                 num_res_blocks=2, norm_num_groups=32, norm_eps=1e-6, attention_levels=(False, False, True),
                 with_encoder_nonlocal_attn=True, with_decoder_nonlocal_attn=True, use_convtranspose=False,
                 include_fc=True, use_combined_linear=False, **_ignored):
        super().__init__()
        assert spatial_dims == 3, "only 3-D"
        L = len(channels)
        res = per_level(num_res_blocks, L)
        a = {"groups": norm_num_groups, "eps": norm_eps, "include_fc": include_fc,
             "use_combined_linear": use_combined_linear}
        enc = [Convolution(in_channels, channels[0], 3, padding=1)]
        levels, last = _level_blocks(a, channels, res, attention_levels, channels[0], AEKLDownsample)
        enc += levels
        if with_encoder_nonlocal_attn:
            enc += _nonlocal(a, last)
        # No SiLU between the final GroupNorm and the final conv (reference behaviour).
        enc += [nn.GroupNorm(norm_num_groups, last, eps=norm_eps), Convolution(last, latent_channels, 3, padding=1)]
        self.encoder = nn.Module()
        self.encoder.blocks = nn.ModuleList(enc)

        rev = list(reversed(channels))
        dec = [Convolution(latent_channels, rev[0], 3, padding=1)]
        if with_decoder_nonlocal_attn:
            dec += _nonlocal(a, rev[0])
        levels, out = _level_blocks(a, rev, list(reversed(res)), list(reversed(attention_levels)), rev[0],
                                    lambda ch: AEKLUpsample(ch, use_convtranspose))
        dec += levels
        dec += [nn.GroupNorm(norm_num_groups, out, eps=norm_eps), Convolution(out, out_channels, 3, padding=1)]
        self.decoder = nn.Module()
        self.decoder.blocks = nn.ModuleList(dec)

        self.quant_conv_mu = Convolution(latent_channels, latent_channels, 1)
        self.quant_conv_log_sigma = Convolution(latent_channels, latent_channels, 1)
        self.post_quant_conv = Convolution(latent_channels, latent_channels, 1)

    def encode(self, x):
        """-> (mu, sigma): "log_sigma" is a log-variance clamped to [-30, 20]."""
        h = x
        for block in self.encoder.blocks:
            h = block(h)
        log_var = torch.clamp(self.quant_conv_log_sigma(h), -30.0, 20.0)
        return self.quant_conv_mu(h), torch.exp(log_var / 2)

    def decode(self, z):
        h = self.post_quant_conv(z)
        for block in self.decoder.blocks:
            h = block(h)
        return h

    def forward(self, x, eps=None):
        """encode -> z = mu + eps * sigma -> decode; returns (reconstruction, mu, sigma)."""
        mu, sigma = self.encode(x)
        z = mu + (torch.randn_like(mu) if eps is None else eps) * sigma
        return self.decode(z), mu, sigma
