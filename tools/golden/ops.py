"""Goldens for the non-convolution ops of FCN-ResNet18, from PyTorch autograd.

Writes test/golden/ops_<op>.safetensors, each with a JSON `cases` metadata entry:
  batch_norm     train (y, saved mean/invstd, running stats after the update, dx/dw/db of
                 L = sum(y * dy)) and eval (y with the initial running stats)
  max_pool       y, indices (I32), dx for max_pool2d incl. tied inputs
  cross_entropy  per-image losses (mean over all pixels, ignored = 0), the gradient of their sum,
                 the batch mean over valid pixels and its gradient (ignore_index 255)
  argmax         argmax over channels (with ties)
  sgd            parameters after each of several torch.optim.SGD steps (lr changes per step)
  add            a + b
Run with /usr/bin/python3 (Debian's PyTorch 1.13).
"""
import torch
import torch.nn.functional as F

from common import golden_path, write_safetensors

BN_CASES = [
    # name, N, C, H, W, x offset, x scale
    ('odd', 2, 3, 5, 7, 0.0, 1.0),
    ('batch1', 1, 5, 3, 3, 0.5, 2.0),
    ('large', 4, 3, 33, 47, 3.0, 2.0),  # 6204 values per channel: several reduction chunks
    ('offset', 3, 6, 4, 4, 100.0, 0.01),  # large mean, tiny spread: catches E[x^2] - E[x]^2
]


def batch_norm(g):
    t, meta = {}, []
    for name, N, C, H, W, off, scale in BN_CASES:
        x = (torch.randn(N, C, H, W, generator=g) * scale + off).requires_grad_()
        w = (torch.rand(C, generator=g) + 0.5).requires_grad_()
        b = (torch.randn(C, generator=g) * 0.5).requires_grad_()
        rm0 = torch.randn(C, generator=g) * 0.2
        rv0 = torch.rand(C, generator=g) + 0.5
        dy = torch.randn(N, C, H, W, generator=g)
        rm, rv = rm0.clone(), rv0.clone()
        y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
        (y * dy).sum().backward()
        xd = x.detach().double()
        mean = xd.mean(dim=(0, 2, 3))
        var = xd.var(dim=(0, 2, 3), unbiased=False)
        y_eval = F.batch_norm(x.detach(), rm0.clone(), rv0.clone(), w.detach(), b.detach(), training=False, eps=1e-5)
        p = f'{name}.'
        t.update({
            p + 'x': x, p + 'weight': w, p + 'bias': b, p + 'running_mean0': rm0, p + 'running_var0': rv0,
            p + 'dy': dy, p + 'y': y, p + 'mean': mean.float(), p + 'invstd': (1 / torch.sqrt(var + 1e-5)).float(),
            p + 'running_mean': rm, p + 'running_var': rv,
            p + 'dx': x.grad, p + 'dweight': w.grad, p + 'dbias': b.grad, p + 'y_eval': y_eval,
        })
        meta.append({'name': name, 'N': N, 'C': C, 'H': H, 'W': W})
    return t, meta


MP_CASES = [
    # name, N, C, H, W, k, stride, pad, ties
    ('k3s2p1_ties', 2, 3, 9, 11, 3, 2, 1, True),
    ('k3s2p1_even', 1, 2, 8, 10, 3, 2, 1, False),
    ('k2s2p0_ties', 1, 2, 7, 9, 2, 2, 0, True),
    ('k3s1p1_neg', 1, 1, 5, 6, 3, 1, 1, False),  # all negative: padding must act as -inf
]


def max_pool(g):
    t, meta = {}, []
    for name, N, C, H, W, k, s, pad, ties in MP_CASES:
        if ties:
            x = torch.randint(-2, 3, (N, C, H, W), generator=g).float()
        elif name.endswith('neg'):
            x = -torch.rand(N, C, H, W, generator=g) - 1
        else:
            x = torch.randn(N, C, H, W, generator=g)
        x.requires_grad_()
        y, idx = F.max_pool2d(x, k, s, pad, return_indices=True)
        dy = torch.randn(*y.shape, generator=g)
        (y * dy).sum().backward()
        p = f'{name}.'
        t.update({p + 'x': x, p + 'y': y, p + 'indices': idx.to(torch.int32), p + 'dy': dy, p + 'dx': x.grad})
        meta.append({'name': name, 'N': N, 'C': C, 'H': H, 'W': W, 'k': k, 'stride': s, 'pad': pad})
    return t, meta


CE_CASES = [
    # name, N, K, H, W, logit scale
    ('small', 3, 5, 4, 6, 1.0),
    ('voc', 2, 21, 5, 7, 3.0),
    ('large_logits', 2, 4, 3, 5, 40.0),  # exp overflows without the max subtraction
]


def cross_entropy(g):
    t, meta = {}, []
    for name, N, K, H, W, scale in CE_CASES:
        logits = torch.randn(N, K, H, W, generator=g) * scale
        labels = torch.randint(0, K, (N, H, W), generator=g)
        labels[torch.rand(N, H, W, generator=g) < 0.25] = 255
        labels[N - 1] = 255  # one image fully ignored
        x1 = logits.clone().requires_grad_()
        losses = F.cross_entropy(x1, labels, reduction='none', ignore_index=255).mean(1).mean(1)
        losses.sum().backward()
        x2 = logits.clone().requires_grad_()
        mean_loss = F.cross_entropy(x2, labels, ignore_index=255)
        mean_loss.backward()
        p = f'{name}.'
        t.update({
            p + 'logits': logits, p + 'labels': labels.to(torch.int32), p + 'losses': losses,
            p + 'dlogits_sum': x1.grad, p + 'mean_loss': mean_loss.reshape(1), p + 'dlogits_mean': x2.grad,
        })
        meta.append({'name': name, 'N': N, 'K': K, 'H': H, 'W': W, 'valid': int((labels != 255).sum())})
    return t, meta


def argmax(g):
    logits = torch.randint(-1, 2, (2, 4, 3, 5), generator=g).float()  # many ties
    logits2 = torch.randn(1, 21, 6, 7, generator=g)
    t = {
        'ties.logits': logits, 'ties.pred': logits.argmax(1).to(torch.int32),
        'voc.logits': logits2, 'voc.pred': logits2.argmax(1).to(torch.int32),
    }
    return t, [{'name': 'ties', 'N': 2, 'K': 4, 'H': 3, 'W': 5}, {'name': 'voc', 'N': 1, 'K': 21, 'H': 6, 'W': 7}]


SGD_CASES = [
    # name, momentum, nesterov, weight decay
    ('plain', 0.0, False, 0.0),
    ('wd', 0.0, False, 0.01),
    ('momentum', 0.9, False, 0.0),
    ('momentum_wd', 0.9, False, 1e-3),
    ('nesterov_wd', 0.9, True, 0.01),
]
SGD_LRS = [0.1, 0.05, 0.2, 0.01]


def sgd(g):
    n = 37
    t, meta = {}, []
    p0 = torch.randn(n, generator=g)
    grads = torch.randn(len(SGD_LRS), n, generator=g)
    t['params0'] = p0
    t['grads'] = grads
    for name, mom, nest, wd in SGD_CASES:
        p = torch.nn.Parameter(p0.clone())
        opt = torch.optim.SGD([p], lr=SGD_LRS[0], momentum=mom, nesterov=nest, weight_decay=wd)
        after = []
        for step, lr in enumerate(SGD_LRS):
            for group in opt.param_groups:
                group['lr'] = lr
            p.grad = grads[step].clone()
            opt.step()
            after.append(p.detach().clone())
        t[f'{name}.params'] = torch.stack(after)
        meta.append({'name': name, 'momentum': mom, 'nesterov': nest, 'weight_decay': wd})
    return t, {'n': n, 'lrs': SGD_LRS, 'cases': meta}


def add(g):
    a = torch.randn(3, 5, 7, generator=g)
    b = torch.randn(3, 5, 7, generator=g)
    return {'a': a, 'b': b, 'sum': a + b}, [{'shape': [3, 5, 7]}]


def main():
    torch.manual_seed(0)
    for name, fn, seed in [
        ('batch_norm', batch_norm, 1), ('max_pool', max_pool, 2), ('cross_entropy', cross_entropy, 3),
        ('argmax', argmax, 4), ('sgd', sgd, 5), ('add', add, 6),
    ]:
        g = torch.Generator().manual_seed(seed)
        tensors, meta = fn(g)
        write_safetensors(golden_path(f'ops_{name}'), tensors, {'cases': meta, 'torch': torch.__version__})
        print(f'ops_{name}: {len(tensors)} tensors')


if __name__ == '__main__':
    main()
