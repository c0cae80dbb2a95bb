"""Goldens for conv2d and conv_transpose2d: forward and autograd gradients from PyTorch.

For each case: inputs x, w, b (absent when the case has no bias), output y, a random upstream
gradient dy, and dx, dw, db of L = sum(y * dy). Shapes are tiny; float32.
Writes test/golden/conv2d.safetensors and test/golden/conv_transpose2d.safetensors.
"""
import torch
import torch.nn.functional as F

from common import golden_path, write_safetensors

CONV_CASES = [
    # name, N, C, H, W, K, kh, kw, strideH, strideW, padH, padW, bias
    ('odd3x3s1p1', 2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, True),
    ('s2p1', 1, 4, 9, 6, 5, 3, 3, 2, 2, 1, 1, True),
    ('asym', 2, 3, 8, 11, 4, 3, 5, 2, 1, 1, 2, True),
    ('stem7x7s2p3', 2, 3, 16, 12, 8, 7, 7, 2, 2, 3, 3, True),
    ('down1x1s2', 2, 8, 8, 6, 16, 1, 1, 2, 2, 0, 0, False),
    ('nobias3x3p0', 3, 2, 5, 6, 3, 3, 3, 1, 1, 0, 0, False),
    ('k1s1', 1, 6, 4, 5, 7, 1, 1, 1, 1, 0, 0, True),
    ('p3k3s2', 1, 2, 5, 7, 3, 3, 3, 2, 3, 3, 1, True),
    ('wide3x3s1p1', 2, 16, 6, 9, 24, 3, 3, 1, 1, 1, 1, True),
]

CONVT_CASES = [
    # name, N, Cin, H, W, Cout, kh, kw, strideH, strideW, padH, padW, bias
    ('fcn_head_k64s32p16', 1, 2, 2, 3, 3, 64, 64, 32, 32, 16, 16, True),
    ('up2x_k4s2p1', 2, 3, 5, 4, 2, 4, 4, 2, 2, 1, 1, True),
    ('odd_k3s3x2p1x0', 1, 2, 4, 5, 3, 3, 3, 3, 2, 1, 0, False),
    ('k5s1p2', 2, 3, 3, 4, 2, 5, 5, 1, 1, 2, 2, True),
]


def run(cases, transposed, seed):
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    meta = []
    for name, N, C, H, W, K, kh, kw, sh, sw, ph, pw, has_bias in cases:
        x = torch.randn(N, C, H, W, generator=g, requires_grad=True)
        wshape = (C, K, kh, kw) if transposed else (K, C, kh, kw)
        w = (torch.randn(*wshape, generator=g) * 0.3).requires_grad_()
        b = torch.randn(K, generator=g).requires_grad_() if has_bias else None
        fn = F.conv_transpose2d if transposed else F.conv2d
        y = fn(x, w, b, stride=(sh, sw), padding=(ph, pw))
        dy = torch.randn(y.shape, generator=g)
        (y * dy).sum().backward()
        out = {'x': x, 'w': w, 'y': y, 'dy': dy, 'dx': x.grad, 'dw': w.grad}
        if has_bias:
            out['b'] = b
            out['db'] = b.grad
        for k, v in out.items():
            tensors[f'{name}.{k}'] = v.detach().float()
        keys = ['N', 'Cin', 'H', 'W', 'Cout'] if transposed else ['N', 'C', 'H', 'W', 'K']
        p = dict(zip(keys + ['kh', 'kw', 'strideH', 'strideW', 'padH', 'padW'], [N, C, H, W, K, kh, kw, sh, sw, ph, pw]))
        meta.append({'name': name, 'params': p, 'bias': has_bias})
    return tensors, {'cases': meta, 'torch': torch.__version__}


if __name__ == '__main__':
    for fname, cases, transposed, seed in [('conv2d', CONV_CASES, False, 1), ('conv_transpose2d', CONVT_CASES, True, 2)]:
        tensors, meta = run(cases, transposed, seed)
        write_safetensors(golden_path(fname), tensors, meta)
        print(fname, len(meta['cases']), 'cases')
