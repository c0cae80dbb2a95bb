"""Class maps from PyTorch for inputs given as raw float32, to compare with webfcn's.

  /usr/bin/python3 tools/torch/predict.py --model CKPT --input x.f32 --shape N,3,H,W --out classes.u8 [--logits logits.f32]

CKPT: a webfcn checkpoint (.safetensors) or a .pth state dict (either key layout). The input is
already normalised (what webfcn's normalizeImage returns), so both sides see the same numbers.
Writes argmax over classes as uint8 (N, H, W) and optionally the eval-mode logits (N, K, H, W).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcn import FCN, head_of, load_weights  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--input', required=True)
    ap.add_argument('--shape', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--logits')
    a = ap.parse_args()
    shape = [int(s) for s in a.shape.split(',')]
    sd, meta = load_weights(a.model)
    K = sd['final_conv.bias'].shape[0]
    net = FCN(K, meta.get('head') or head_of(sd.keys()))
    net.load_state_dict(sd, strict=True)
    net.eval()
    x = torch.from_numpy(np.fromfile(a.input, dtype=np.float32).reshape(shape))
    with torch.no_grad():
        logits = net(x)
    logits.argmax(1).to(torch.uint8).numpy().tofile(a.out)
    if a.logits:
        logits.numpy().astype(np.float32).tofile(a.logits)


if __name__ == '__main__':
    main()
