#!/usr/bin/env python3
"""PyTorch CPU timings of the ops bench/run.ts measures, printed as the same JSON lines (backend "torch-cpu").

Run beside `deno task bench` on the same host and thread count (`--threads`, default 2) so the ratios are
honest: compare only numbers measured in one run. Needs `python3-torch` (Debian) or `pip install torch`.
"""
import argparse
import json
import statistics
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - the caller checks for torch first
    raise SystemExit("bench/torch_reference.py: PyTorch is not installed (apt-get install python3-torch)")

from torch_blas import blas_library


def median_ms(fn, runs=5, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


ONLY = []


def wanted(name):
    return not ONLY or any(name.startswith(p) for p in ONLY)


def emit(name, shape, ms, flops=None, nbytes=None):
    print(json.dumps({
        "name": name,
        "shape": shape,
        "ms": round(ms, 3),
        "gflops": None if flops is None else round(flops / ms / 1e6, 3),
        "gbps": None if nbytes is None else round(nbytes / ms / 1e6, 3),
        "adapter": f"PyTorch {torch.__version__} CPU",
        "backend": "torch-cpu",
        "threads": torch.get_num_threads(),
        "blas": blas_library(),
    }), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated name prefixes of the benches to run")
    args = ap.parse_args()
    ONLY.extend(p for p in args.only.split(",") if p)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if wanted("matmul"):
        for n in ([256, 512] if args.quick else [256, 512, 1024, 2048]):
            a, b = torch.randn(n, n), torch.randn(n, n)
            emit("matmul", f"{n}x{n}x{n}", median_ms(lambda: a @ b, 3 if n >= 2048 else 5), 2 * n ** 3)

    if wanted("conv3d"):
        x = torch.randn(1, 32, 32, 32, 32)
        w = torch.randn(32, 32, 3, 3, 3)
        bias = torch.zeros(32)
        flops = 2 * 32 * 32 * 27 * 32 ** 3
        emit("conv3d_fwd", "1x32x32^3 32->32 k3", median_ms(lambda: F.conv3d(x, w, bias, padding=1)), flops)
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()

        def conv_step():
            F.conv3d(xg, wg, bias, padding=1).sum().backward()
            xg.grad = None
            wg.grad = None

        emit("conv3d_fwd_bwd", "1x32x32^3 32->32 k3", median_ms(conv_step, 3), 3 * flops)

    if wanted("attention"):
        # torch 1.13 has no fused attention: the composed softmax(q·kᵀ·s)·v and its autograd backward.
        t = 2048 if args.quick else 5544
        q, k, v, gy = (torch.randn(1, 4, t, 16) for _ in range(4))
        flops = 4 * 4 * t * t * 16

        def attention(q, k, v):
            return torch.softmax(q @ k.transpose(-1, -2) * 0.25, -1) @ v

        emit("attention_fwd", f"1x4x{t}x16", median_ms(lambda: attention(q, k, v), 3), flops)
        qg, kg, vg = (x.clone().requires_grad_() for x in (q, k, v))

        def attention_step():
            attention(qg, kg, vg).backward(gy)
            qg.grad = kg.grad = vg.grad = None

        emit("attention_fwd_bwd", f"1x4x{t}x16", median_ms(attention_step, 3), 3.5 * flops)

    if wanted("groupnorm"):
        xn = torch.randn(1, 64, 64, 64, 64, requires_grad=True)
        g, bb = torch.ones(64), torch.zeros(64)

        def norm_step():
            F.group_norm(xn, 32, g, bb, 1e-6).sum().backward()
            xn.grad = None

        emit("groupnorm_fwd_bwd", "1x64x64^3 G32", median_ms(norm_step, 3), None, 4 * 4 * xn.numel())

    if wanted("add"):
        n = (1 << 22) if args.quick else (1 << 24)
        p, q = torch.randn(n), torch.randn(n)
        emit("add", f"{n}", median_ms(lambda: p + q), n, 12 * n)

    if wanted("chain_1000_small_ops"):
        def chain():
            t = torch.zeros(256)
            for _ in range(1000):
                t = t * 1 + 1
            return t

        emit("chain_1000_small_ops", "256", median_ms(chain))


if __name__ == "__main__":
    main()
