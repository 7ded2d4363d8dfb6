"""MONAI `Convolution(conv_only=True)`: a module whose only child is `conv`, hence keys `<name>.conv.weight`."""
from torch import nn


class Convolution(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)

    def forward(self, x):
        return self.conv(x)
