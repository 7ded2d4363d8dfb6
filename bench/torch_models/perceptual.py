"""MONAI `PerceptualLoss(spatial_dims=3, network_type="squeeze", is_fake_3d=True)` as nn/losses/perceptual.ts:
a frozen LPIPS v0.1 (SqueezeNet-1.1 trunk, 7 linear heads) on a random share of the 2-D slices along each axis.
"""
import torch
from torch import nn


class Fire(nn.Module):
    def __init__(self, in_ch, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(in_ch, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)


def _squeezenet_slices():
    """torchvision squeezenet1_1.features split as LPIPS does (children keep torchvision's indices)."""
    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
    layout = [
        [(0, nn.Conv2d(3, 64, 3, stride=2)), (1, nn.ReLU())],
        [(2, pool()), (3, Fire(64, 16, 64, 64)), (4, Fire(128, 16, 64, 64))],
        [(5, pool()), (6, Fire(128, 32, 128, 128)), (7, Fire(256, 32, 128, 128))],
        [(8, pool()), (9, Fire(256, 48, 192, 192))],
        [(10, Fire(384, 48, 192, 192))],
        [(11, Fire(384, 64, 256, 256))],
        [(12, Fire(512, 64, 256, 256))],
    ]
    net = nn.Module()
    for i, layers in enumerate(layout):
        s = nn.Sequential()
        for idx, layer in layers:
            s.add_module(str(idx), layer)
        net.add_module(f"slice{i + 1}", s)
    return net


class NetLinLayer(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(ch, 1, 1, bias=False))

    def forward(self, x):
        return self.model(x)


def _normalize(f):
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + 1e-10)


class LPIPS(nn.Module):
    TAPS = (64, 128, 256, 384, 384, 512, 512)

    def __init__(self):
        super().__init__()
        self.scaling_layer = nn.Module()
        self.scaling_layer.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.scaling_layer.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.net = _squeezenet_slices()
        heads = [NetLinLayer(c) for c in self.TAPS]
        for i, h in enumerate(heads):
            self.add_module(f"lin{i}", h)
        self.lins = nn.ModuleList(heads)  # the same heads under a second name, as in the reference state dict

    def forward(self, in0, in1):
        """[N, 1|3, H, W] x 2 -> [N, 1, 1, 1]; one trunk pass over both inputs, as ours."""
        n = in0.shape[0]
        h = (torch.cat([in0, in1], 0) - self.scaling_layer.shift) / self.scaling_layer.scale
        value = 0
        for k, s in enumerate(self.net.children()):
            h = s(h)
            d = (_normalize(h[:n]) - _normalize(h[n:])) ** 2
            value = value + self.lins[k](d).mean(dim=(2, 3), keepdim=True)
        return value


def _batchify(x, axis):
    """[B, C, X, Y, Z] -> [B * S_axis, C, ., .], slice index fastest within a sample."""
    others = [a for a in (2, 3, 4) if a != axis]
    return x.permute(0, axis, 1, *others).reshape(-1, x.shape[1], x.shape[others[0]], x.shape[others[1]])


class PerceptualLoss(nn.Module):
    def __init__(self, fake_3d_ratio=0.5, **_ignored):
        super().__init__()
        self.fake_3d_ratio = fake_3d_ratio
        self.perceptual_function = LPIPS()
        self.eval()
        self.requires_grad_(False)

    def forward(self, input, target, slice_indices=None):
        """Sum over axes (2, 4, 3 order) of mean LPIPS on the kept slices; `slice_indices` replaces the draw."""
        per_axis = []
        for k, axis in enumerate((2, 3, 4)):
            n = input.shape[0] * input.shape[axis]
            idx = slice_indices[k] if slice_indices is not None else torch.randperm(n)[: int(n * self.fake_3d_ratio)]
            a = _batchify(input, axis).index_select(0, idx)
            b = _batchify(target, axis).index_select(0, idx)
            per_axis.append(self.perceptual_function(a, b).mean())
        return per_axis[0] + per_axis[2] + per_axis[1]
