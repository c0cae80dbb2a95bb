"""Checks a `.pth` that `webfcn export` wrote, the way a PyTorch user would load it.

  /usr/bin/python3 tools/torch/check_export.py --pth FILE --layout chapter|torchvision --reference CKPT.safetensors

Loads FILE with torch.load(FILE, weights_only=True) (the restricted unpickler), builds the network
(the chapter's nn.Sequential, or torchvision-named FCN-32s/16s/8s), load_state_dict(strict=True),
then compares every tensor of the model's state dict with the webfcn checkpoint it was exported
from, bit for bit (float32 compared as their int32 bit patterns). Prints one JSON line; exits 1 on
any difference.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcn import build_model, head_of, read_safetensors, to_canonical  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pth', required=True)
    ap.add_argument('--layout', choices=['chapter', 'torchvision'], required=True)
    ap.add_argument('--reference', required=True)
    a = ap.parse_args()
    sd = torch.load(a.pth, map_location='cpu', weights_only=True)
    ref, meta = read_safetensors(a.reference)
    K = int(meta.get('classes', ref['final_conv.bias'].shape[0]))
    head = meta.get('head', head_of(ref.keys()))
    net = build_model(K, head, a.layout)
    net.load_state_dict(sd, strict=True)
    got = to_canonical(net.state_dict())
    mismatched, max_abs = [], 0.0
    nbt = None
    for name, t in got.items():
        if name.endswith('num_batches_tracked'):
            if t.dtype != torch.int64:
                mismatched.append(f'{name}: dtype {t.dtype}')
            nbt = int(t) if nbt is None else nbt
            if int(t) != nbt:
                mismatched.append(f'{name}: {int(t)} != {nbt}')
            continue
        r = ref[name]
        if t.dtype != torch.float32 or t.shape != r.shape:
            mismatched.append(f'{name}: {t.dtype} {list(t.shape)} vs {r.dtype} {list(r.shape)}')
            continue
        max_abs = max(max_abs, (t - r).abs().max().item() if t.numel() else 0.0)
        if not torch.equal(t.view(torch.int32), r.view(torch.int32)):
            mismatched.append(name)
    report = {'tensors': len(got), 'keys': list(sd.keys())[:3], 'head': head, 'classes': K, 'num_batches_tracked': nbt,
              'max_abs_diff': max_abs, 'bitwise_equal': not mismatched, 'mismatched': mismatched[:10]}
    print(json.dumps(report))
    sys.exit(0 if not mismatched else 1)


if __name__ == '__main__':
    main()
