"""Shared helpers for the golden-tensor scripts: PyTorch 1.13 (Debian python3-torch) is the oracle.

Each script writes test/golden/<name>.safetensors: inputs, outputs and gradients as float32 (int64
labels as I64), plus JSON metadata describing each case. Run with /usr/bin/python3 (Debian's
interpreter, where python3-torch installs).
"""
import json
import os
import struct

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..'))
GOLDEN_DIR = os.path.join(ROOT, 'test', 'golden')

_DTYPES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8'}


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch.Tensor (written contiguous, in insertion order). Atomic write."""
    header = {}
    if metadata:
        header['__metadata__'] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {'dtype': _DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(',', ':')).encode()
    hjson += b' ' * ((8 - len(hjson) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def golden_path(name):
    return os.path.join(GOLDEN_DIR, name + '.safetensors')
