"""MONAI `PatchDiscriminator` (norm INSTANCE), as nn/models/patch_discriminator.ts: every layer's output."""
import torch.nn.functional as F
from torch import nn


class DiscriminatorLayer(nn.Module):
    """conv (child `conv`, so keys read `0.conv.weight`) -> [InstanceNorm] -> [LeakyReLU]."""

    def __init__(self, in_ch, out_ch, kernel, stride, padding, bias, norm, slope):
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias)
        self.norm, self.slope = norm, slope

    def forward(self, x):
        h = self.conv(x)
        if self.norm:
            h = F.instance_norm(h, eps=1e-5)
        return h if self.slope is None else F.leaky_relu(h, self.slope)


class PatchDiscriminator(nn.Module):
    def __init__(self, channels, num_layers_d=3, spatial_dims=3, in_channels=1, out_channels=1, norm="BATCH",
                 kernel_size=4, padding=1, negative_slope=0.2, bias=False, **_ignored):
        super().__init__()
        assert spatial_dims == 3 and norm.upper() in ("INSTANCE", "NONE"), "3-D, INSTANCE or NONE norm only"
        instance = norm.upper() == "INSTANCE"
        k, slope = kernel_size, negative_slope
        self.add_module("initial_conv", DiscriminatorLayer(in_channels, channels, k, 2, padding, True, False, slope))
        in_ch, out_ch = channels, channels * 2
        for i in range(num_layers_d):
            stride = 1 if i == num_layers_d - 1 else 2
            self.add_module(str(i), DiscriminatorLayer(in_ch, out_ch, k, stride, padding, bias, instance, slope))
            in_ch, out_ch = out_ch, out_ch * 2
        self.add_module("final_conv", DiscriminatorLayer(in_ch, out_channels, k, 1, (k - 1) // 2, True, False, None))
        # MONAI initialise_weights: conv weights ~ N(0, 0.02), biases 0.
        for layer in self.children():
            nn.init.normal_(layer.conv.weight, 0.0, 0.02)
            if layer.conv.bias is not None:
                nn.init.zeros_(layer.conv.bias)

    def forward(self, x):
        outs = []
        for layer in self.children():
            x = layer(x)
            outs.append(x)
        return outs
