"""Small torch.save checkpoints for the .pth reader tests (test/golden/pth/).

Writes tiny state dicts covering what the reader must handle (conv + BatchNorm with
num_batches_tracked, nested Sequential, views into shared storages, non-contiguous and expanded
tensors, every dtype), checkpoints it must refuse (a pickle calling os.system, a whole pickled
model, the legacy format, a truncated file), the expected tensor values as safetensors, and the
key/shape lists of torchvision resnet18 and of the d2l chapter's nn.Sequential FCN as JSON.
The hostile pickles are assembled byte by byte and never unpickled here.

Run: /usr/bin/python3 tools/golden/pth.py
"""
import copy
import io
import json
import os
import struct
import sys
import zipfile

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from common import GOLDEN_DIR, write_safetensors  # noqa: E402

OUT = os.path.join(GOLDEN_DIR, 'pth')


def path(name):
    return os.path.join(OUT, name)


def expected(tensors):
    """Contiguous copies in dtypes the safetensors writer knows (floats as float32, small ints widened)."""
    out = {}
    for k, t in tensors.items():
        t = t.detach()
        if t.is_floating_point():
            t = t.float()
        elif t.dtype in (torch.int16, torch.int8):
            t = t.int()
        elif t.dtype == torch.bool:
            t = t.to(torch.uint8)
        out[k] = t.contiguous()
    return out


def tiny_model():
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 2, 1, bias=False), nn.BatchNorm2d(2)),
    )
    m.train()
    with torch.no_grad():
        for _ in range(3):  # moves the running statistics and num_batches_tracked off their defaults
            m(torch.randn(2, 3, 5, 5))
    return m


def views():
    torch.manual_seed(1)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    f64 = torch.randn(3, 4, dtype=torch.float64)
    return {
        'base': base,
        'rows': base[1:3],  # storage offset 6
        'col_t': base.t(),  # transposed: strides (1, 6)
        'strided': base[:, ::2],  # strides (6, 2)
        'scalar': base[2, 3],  # 0-dim at offset 15
        'expanded': torch.tensor([1.0, 2.0, 3.0]).reshape(3, 1).expand(3, 4),  # stride 0
        'permuted': torch.randn(2, 3, 4).permute(2, 0, 1),
        'f64': f64,
        'f64_cols': f64[:, 1:3],
        'f16': torch.randn(2, 3).half(),
        'bf16': torch.randn(2, 3).bfloat16(),
        'i64': torch.arange(-3, 3, dtype=torch.int64).reshape(2, 3),
        'big_i64': torch.tensor(2**60 + 7),
        'nbt': torch.tensor(7),
        'i32': torch.tensor([[-5, 2**31 - 1], [7, -2**31]], dtype=torch.int32).t(),
        'i16': torch.tensor([-300, 300], dtype=torch.int16),
        'i8': torch.tensor([-128, 5, 127], dtype=torch.int8),
        'u8': torch.tensor([0, 200, 255], dtype=torch.uint8),
        'bool': torch.tensor([True, False, True]),
        'empty': torch.zeros(0, 3),
    }


def fixed(name, compress=zipfile.ZIP_STORED):
    """A ZipInfo with a fixed timestamp, so regenerated archives are byte-identical."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compress
    return info


def make_zip(name, pkl):
    """A torch.save-shaped archive around a hand-made pickle (no storages)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
        z.writestr(fixed(f'{name}/data.pkl'), pkl)
        z.writestr(fixed(f'{name}/version'), '3\n')
    return buf.getvalue()


def write(name, data):
    with open(path(name), 'wb') as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    model = tiny_model()
    # A deep copy keeps the values (and the _metadata attribute) fixed while the model trains on below.
    sd = copy.deepcopy(model.state_dict())
    torch.save(sd, path('tiny.pth'))
    write_safetensors(path('tiny.expected.safetensors'), expected(sd))

    v = views()
    torch.save(v, path('views.pth'))
    write_safetensors(path('views.expected.safetensors'), expected(v))

    # Pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE), same tensors as tiny.
    torch.save(sd, path('tiny_proto4.pth'), pickle_protocol=4)

    # A training checkpoint: the state dict sits under 'model' beside other Python values.
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(1, 3, 5, 5)).sum().backward()
    opt.step()
    torch.save({'epoch': 5, 'model': sd, 'optimizer': opt.state_dict(), 'best_miou': 0.625, 'note': 'tiny', 'done': False, 'extra': None},
               path('nested.pth'))
    torch.save({'model': sd, 'ema': sd}, path('two_models.pth'))
    # nn.Parameter values pickle through torch._utils._rebuild_parameter.
    torch.save(dict(model.named_parameters()), path('params.pth'))
    write_safetensors(path('params.expected.safetensors'), expected(dict(model.named_parameters())))

    # Refusals.
    torch.save(model, path('fullmodel.pth'))
    torch.save(sd, path('legacy.pth'), _use_new_zipfile_serialization=False)
    tiny = open(path('tiny.pth'), 'rb').read()
    write('truncated.pth', tiny[: len(tiny) // 2])
    # os.system('echo pwned') via GLOBAL + REDUCE (protocol 2).
    cmd = b'echo pwned'
    evil = b'\x80\x02' + b'cos\nsystem\nq\x00' + b'X' + struct.pack('<I', len(cmd)) + cmd + b'\x85q\x01Rq\x02.'
    write('evil.pth', make_zip('evil', evil))
    # builtins.eval via STACK_GLOBAL (protocol 4).
    expr = b'1+1'
    evil4 = (b'\x80\x04' + b'\x8c\x08builtins\x94' + b'\x8c\x04eval\x94\x93\x94' + b'\x8c' + bytes([len(expr)]) + expr
             + b'\x94\x85\x94R\x94.')
    write('evil_stack.pth', make_zip('archive', evil4))

    # The same archive deflated, under another top folder name.
    src = zipfile.ZipFile(path('tiny.pth'))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(fixed('renamed_ckpt/' + info.filename.split('/', 1)[1], zipfile.ZIP_DEFLATED), src.read(info.filename))
    write('deflated.pth', buf.getvalue())

    # Plain pickles of Python values for the unpickler's own tests.
    import pickle
    values = {'ints': [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**53, 2**70, -2**70], 'float': -2.5,
              'flags': (True, False, None), 'text': 'h\u00e9llo \u2603', 'bytes': b'\x00\xffab', 'nested': {'a': [[], {}], 'b': ()},
              7: 'int key'}
    shared = [1, 2]
    values['shared'] = (shared, shared)
    write('values_p4.pkl', pickle.dumps(values, protocol=4))
    del values['bytes']  # protocol 2 pickles bytes as a call to _codecs.encode, which is refused
    write('values_p2.pkl', pickle.dumps(values, protocol=2))

    # Key layouts: torchvision resnet18 and the chapter's Sequential FCN (21 classes).
    pretrained_net = torchvision.models.resnet18()
    num_classes = 21
    net = nn.Sequential(*list(pretrained_net.children())[:-2])
    net.add_module('final_conv', nn.Conv2d(512, num_classes, kernel_size=1))
    net.add_module('transpose_conv', nn.ConvTranspose2d(num_classes, num_classes, kernel_size=64, padding=16, stride=32))

    def listing(state):
        return [[k, list(t.shape), str(t.dtype).replace('torch.', '')] for k, t in state.items()]

    def block(entries):
        return '[\n' + ',\n'.join('  ' + json.dumps(e) for e in entries) + '\n]'

    with open(path('resnet18_keys.json'), 'w') as f:
        f.write('{\n"torchvision_version": %s,\n"num_classes": %d,\n"torchvision_resnet18": %s,\n"chapter_fcn": %s\n}\n' % (
            json.dumps(torchvision.__version__), num_classes, block(listing(pretrained_net.state_dict())), block(listing(net.state_dict()))))
    for name in sorted(os.listdir(OUT)):
        print(f'{name}: {os.path.getsize(path(name))} bytes')


if __name__ == '__main__':
    main()
