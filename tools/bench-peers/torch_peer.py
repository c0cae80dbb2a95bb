"""PyTorch CPU peer for `webfcn bench`: the chapter's own FCN-ResNet18 (tools/golden/model.py),
timed for one SGD training step (lr 0.001, weight decay 1e-3, the chapter's loss.sum() of
per-image mean cross-entropies) and one inference pass (eval mode, no_grad, argmax), with
torch.set_num_threads set to the machine's cores.

  /usr/bin/python3 tools/bench-peers/torch_peer.py --batch B --size HxW --infer-batch B
      --infer-size HxW --classes K --steps N [--stat median|min] [--threads N]

Prints one JSON line (the last line of stdout): {peer, version, threads, train, infer,
peakGflops, peakKernel}, where train / infer are {ms, perSec} or {error} and peakGflops the best
native FP32 rate (torch.mm or a oneDNN 3x3 convolution, named by peakKernel; CPU only).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))


def size(s):
    h, w = s.split('x')
    return int(h), int(w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--size', type=size, default=(64, 64))
    ap.add_argument('--infer-batch', type=int, default=None)
    ap.add_argument('--infer-size', type=size, default=None)
    ap.add_argument('--classes', type=int, default=21)
    ap.add_argument('--steps', type=int, default=1)
    ap.add_argument('--stat', choices=['median', 'min'], default='median')
    ap.add_argument('--threads', type=int, default=None, help="CPU threads (default: the machine's cores)")
    ap.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda' (data already on the GPU; PyTorch's defaults, so convolutions use TF32 on Ampere and later)")
    a = ap.parse_args()
    out = {'peer': 'torch'}
    try:
        import torch
        from model import chapter_model, loss_fn  # the chapter's model and loss, as the goldens use
    except Exception as e:  # no torch / torchvision on this machine
        out['error'] = f'torch unavailable: {e}'
        print(json.dumps(out))
        return 1
    threads = a.threads or os.cpu_count() or 1  # CPU peer: all cores unless told
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out.update(version=torch.__version__, threads=threads)
    dev = torch.device(a.device)
    out.update(device=a.device, gpu=torch.cuda.get_device_name(0) if a.device == 'cuda' else None)
    sync = torch.cuda.synchronize if a.device == 'cuda' else (lambda: None)
    net, _ = chapter_model(a.classes)
    net = net.to(dev)
    steps = max(1, a.steps)
    pick = min if a.stat == 'min' else statistics.median
    ib, (ih, iw) = a.infer_batch or a.batch, a.infer_size or a.size

    x = torch.randn(ib, 3, ih, iw, device=dev)
    net.eval()

    def infer():
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            net(x).argmax(dim=1)
        sync()
        return (time.perf_counter() - t0) * 1e3

    try:
        infer()  # warm-up
        ms = pick([infer() for _ in range(steps)])
        out['infer'] = {'ms': ms, 'perSec': ib * 1e3 / ms, 'batch': ib, 'size': [ih, iw]}
    except Exception as e:
        out['infer'] = {'error': str(e).split('\n')[0]}

    h, w = a.size
    x = torch.randn(a.batch, 3, h, w, device=dev)
    y = torch.randint(0, a.classes, (a.batch, h, w), device=dev)
    net.train()
    trainer = torch.optim.SGD(net.parameters(), lr=0.001, weight_decay=1e-3)

    def step():
        sync()
        t0 = time.perf_counter()
        trainer.zero_grad()
        loss_fn(net(x), y).sum().backward()
        trainer.step()
        sync()
        return (time.perf_counter() - t0) * 1e3

    try:
        step()
        ms = pick([step() for _ in range(steps)])
        out['train'] = {'ms': ms, 'perSec': 1e3 / ms, 'batch': a.batch, 'size': [h, w]}
    except Exception as e:
        out['train'] = {'error': str(e).split('\n')[0]}

    # Native FP32 rate on the same threads: the better of torch.mm (whatever BLAS this build links;
    # Debian's is the generic reference BLAS) and a 3x3 convolution through oneDNN, which JIT-compiles
    # for the CPU's widest vectors. The machine's practical peak, against which the wasm backend's
    # 128-bit SIMD GEMM is put.
    if a.device == 'cpu':
        import torch.nn.functional as F

        def best(fn, flop):
            fn()
            b = 0.0
            for _ in range(5):
                t0 = time.perf_counter()
                fn()
                b = max(b, flop / (time.perf_counter() - t0) / 1e9)
            return b

        p, q = torch.randn(1024, 1024), torch.randn(1024, 1024)
        xc, wc = torch.randn(1, 256, 32, 32), torch.randn(256, 256, 3, 3)
        rates = [(best(lambda: torch.mm(p, q), 2 * 1024 ** 3), 'torch.mm 1024^3'),
                 (best(lambda: F.conv2d(xc, wc, padding=1), 2 * 256 * 256 * 9 * 32 * 32), 'conv2d 3x3 256->256 at 32x32 (oneDNN)')]
        out['peakGflops'], out['peakKernel'] = max(rates)
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
