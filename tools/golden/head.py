"""Golden for the real FCN head: transpose_conv with 21 -> 21 channels, k64/s32/p16, at the chapter's
feature size (input 1 x 21 x 10 x 15 -> output 1 x 21 x 320 x 480), forward and all gradients.

The inputs are too large to commit (w alone is 7 MB, y and dy 13 MB each), so they are generated
from seeds by mulberry32, bit for bit as the tests' `randn` (test/helpers/gpu.ts) generates them:
x = randn(n, 2101), w = randn(n, 2102, -0.05, 0.05), b = randn(21, 2103), dy = randn(n, 2104).
The file stores what is small in full (dx, db) and what is large sampled (y and dw at every
SAMPLE-th flat index) plus reductions over every element (y summed per output channel, dw summed
per (cin, cout) pair), so an error anywhere still shows. Metadata records, per tensor, how far
PyTorch's own float32 result is from float64: the test's tolerances are derived from it.

Writes test/golden/head21.safetensors. Run with /usr/bin/python3 (Debian's PyTorch 1.13).
"""
import numpy as np
import torch
import torch.nn.functional as F

from common import golden_path, write_safetensors

N, CIN, H, W, COUT, K, S, P = 1, 21, 10, 15, 21, 64, 32, 16
SAMPLE = 97


def mulberry32(n, seed, lo=-1.0, hi=1.0):
    """The tests' seeded uniform floats (test/helpers/gpu.ts randn), vectorised: state i is seed + (i + 1) * golden."""
    m = np.uint64(0xFFFFFFFF)
    a = (np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x6D2B79F5)) & m
    t = a
    t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & m
    t = (t ^ ((t + (((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & m)) & m)) & m
    u = ((t ^ (t >> np.uint64(14))) & m).astype(np.float64) / 4294967296.0
    return torch.from_numpy((lo + (hi - lo) * u).astype(np.float32))


def run(dtype):
    x = mulberry32(N * CIN * H * W, 2101).reshape(N, CIN, H, W).to(dtype).requires_grad_()
    w = mulberry32(CIN * COUT * K * K, 2102, -0.05, 0.05).reshape(CIN, COUT, K, K).to(dtype).requires_grad_()
    b = mulberry32(COUT, 2103).to(dtype).requires_grad_()
    y = F.conv_transpose2d(x, w, b, stride=S, padding=P)
    dy = mulberry32(y.numel(), 2104).reshape(y.shape).to(dtype)
    (y * dy).sum().backward()
    return {'y': y.detach(), 'dx': x.grad, 'dw': w.grad, 'db': b.grad}


def reduce(r):
    return {
        'y.sample': r['y'].flatten()[::SAMPLE],
        'y.channel_sum': r['y'].sum(dim=(0, 2, 3)),
        'dx': r['dx'],
        'dw.sample': r['dw'].flatten()[::SAMPLE],
        'dw.pair_sum': r['dw'].sum(dim=(2, 3)),
        'db': r['db'],
    }


if __name__ == '__main__':
    f32 = reduce(run(torch.float32))
    f64 = reduce(run(torch.float64))
    err = {k: float((f32[k].double() - f64[k]).abs().max()) for k in f32}
    scale = {k: float(f64[k].abs().max()) for k in f32}
    meta = {
        'params': {'N': N, 'Cin': CIN, 'H': H, 'W': W, 'Cout': COUT, 'kh': K, 'kw': K,
                   'strideH': S, 'strideW': S, 'padH': P, 'padW': P},
        'seeds': {'x': 2101, 'w': 2102, 'b': 2103, 'dy': 2104}, 'wRange': 0.05, 'sample': SAMPLE,
        'torchF32Error': err, 'scale': scale,
    }
    write_safetensors(golden_path('head21'), {k: v.float() for k, v in f32.items()}, {'cases': meta, 'torch': torch.__version__})
    print('head21', {k: f'{err[k]:.2e}/{scale[k]:.2e}' for k in err})
