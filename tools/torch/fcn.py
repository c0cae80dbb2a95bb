"""FCN-ResNet18 in PyTorch exactly as webfcn builds it, and webfcn's file formats.

- chapter_model(K): the d2l.ai chapter's network, nn.Sequential(*list(resnet18().children())[:-2])
  + final_conv (1x1) + transpose_conv (k64, s32, p16, bilinear init); its state dict uses the
  chapter's keys ('0.weight', '4.0.conv1.weight', ...), as `webfcn export --layout chapter` writes.
- FCN(K, head): the same network under torchvision's module names ('conv1', 'layer1', ...), with
  the FCN-16s/8s skip heads of webfcn (score_layer3/score_layer2 1x1 convs, 2x upsampling
  transposed convs upscore2/upscore_pool4); `webfcn export --layout torchvision` writes its keys.
- read_safetensors / write_safetensors: webfcn's checkpoints (safetensors, torchvision names).
- to_canonical / from_canonical: the one rename table between the chapter's indices and torchvision
  names (the same table as webfcn's CHAPTER_RENAMES).
- IMAGENET_MEAN / IMAGENET_STD and loss_fn: the normalisation and the chapter's loss.
"""
import collections
import json
import os
import struct
import sys

import torch
import torchvision
from torch import nn

# The chapter's model, bilinear kernel and loss, exactly as the golden tensors use them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))
import model as _golden  # noqa: E402
from model import bilinear_kernel  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The chapter's nn.Sequential child index -> torchvision resnet18 module name.
CHAPTER_RENAMES = (('0', 'conv1'), ('1', 'bn1'), ('4', 'layer1'), ('5', 'layer2'), ('6', 'layer3'), ('7', 'layer4'))


def chapter_model(num_classes):
    """The chapter's FCN: a Sequential whose state dict has the chapter's keys (tools/golden/model.py's)."""
    net, _ = _golden.chapter_model(num_classes)
    return net


class FCN(nn.Module):
    """FCN-32s/16s/8s under torchvision's names, as webfcn's graph (src/fcn/graph.ts) runs it."""

    def __init__(self, num_classes, head='fcn32s'):
        super().__init__()
        if head not in ('fcn32s', 'fcn16s', 'fcn8s'):
            raise ValueError(f'head must be fcn32s, fcn16s or fcn8s, got {head!r}')
        self.head = head
        tv = torchvision.models.resnet18(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = tv.conv1, tv.bn1, tv.relu, tv.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = tv.layer1, tv.layer2, tv.layer3, tv.layer4
        K = num_classes
        self.final_conv = nn.Conv2d(512, K, 1)
        if head == 'fcn32s':
            self.transpose_conv = nn.ConvTranspose2d(K, K, 64, stride=32, padding=16)
        else:
            self.score_layer3 = nn.Conv2d(256, K, 1)
            self.upscore2 = nn.ConvTranspose2d(K, K, 4, stride=2, padding=1)
            if head == 'fcn16s':
                self.transpose_conv = nn.ConvTranspose2d(K, K, 32, stride=16, padding=8)
            else:
                self.score_layer2 = nn.Conv2d(128, K, 1)
                self.upscore_pool4 = nn.ConvTranspose2d(K, K, 4, stride=2, padding=1)
                self.transpose_conv = nn.ConvTranspose2d(K, K, 16, stride=8, padding=4)
        with torch.no_grad():
            for m in (self.transpose_conv, getattr(self, 'upscore2', None), getattr(self, 'upscore_pool4', None)):
                if m is not None:
                    m.weight.copy_(bilinear_kernel(K, K, m.kernel_size[0]))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer2(self.layer1(x))
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        score = self.final_conv(c4)
        if self.head != 'fcn32s':
            score = self.upscore2(score) + self.score_layer3(c3)
            if self.head == 'fcn8s':
                score = self.upscore_pool4(score) + self.score_layer2(c2)
        return self.transpose_conv(score)


def build_model(num_classes, head='fcn32s', layout='chapter'):
    if layout == 'chapter':
        if head != 'fcn32s':
            raise ValueError("the chapter's nn.Sequential has no skips: use layout='torchvision' for fcn16s/fcn8s")
        return chapter_model(num_classes)
    return FCN(num_classes, head)


def to_canonical(sd):
    """Chapter keys -> torchvision names ('module.' wrappers stripped); other keys unchanged."""
    ren = dict(CHAPTER_RENAMES)
    out = collections.OrderedDict()
    for k, v in sd.items():
        if k.startswith('module.'):
            k = k[len('module.'):]
        head, dot, rest = k.partition('.')
        out[ren.get(head, head) + dot + rest] = v
    return out


def from_canonical(sd, layout):
    """torchvision names -> `layout` ('chapter' or 'torchvision')."""
    if layout == 'torchvision':
        return collections.OrderedDict(sd)
    ren = {b: a for a, b in CHAPTER_RENAMES}
    out = collections.OrderedDict()
    for k, v in sd.items():
        head, dot, rest = k.partition('.')
        out[ren.get(head, head) + dot + rest] = v
    return out


def head_of(keys):
    keys = set(keys)
    return 'fcn8s' if 'score_layer2.weight' in keys else 'fcn16s' if 'score_layer3.weight' in keys else 'fcn32s'


_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32, 'U8': torch.uint8}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file (the dtypes webfcn writes)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop('__metadata__', {}) or {}
    base = 8 + n
    out = collections.OrderedDict()
    for name, t in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        a, b = t['data_offsets']
        dtype = _DTYPES[t['dtype']]
        buf = bytearray(data[base + a:base + b])
        out[name] = torch.frombuffer(buf, dtype=dtype).reshape(t['shape']) if b > a else torch.zeros(t['shape'], dtype=dtype)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """A safetensors file (float32 / int64 tensors), written atomically."""
    names = {torch.float32: 'F32', torch.int64: 'I64'}
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_weights(path):
    """A canonical-named state dict from a webfcn checkpoint (.safetensors) or a .pth state dict."""
    if path.endswith('.safetensors'):
        tensors, meta = read_safetensors(path)
        return collections.OrderedDict((k, v) for k, v in tensors.items() if not k.startswith('optimizer.')), meta
    sd = torch.load(path, map_location='cpu', weights_only=True)
    return to_canonical(sd), {}


# The chapter's loss: per-image mean of per-pixel cross-entropy (label 255 ignored, counted as 0).
loss_fn = _golden.loss_fn
