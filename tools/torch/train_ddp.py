"""Trains webfcn's FCN-ResNet18 with PyTorch DistributedDataParallel: the route to many GPUs and machines.

One process per GPU (or CPU process), any number of nodes, under torchrun:

  python3 -m torch.distributed.run --nproc_per_node 2 tools/torch/train_ddp.py \\
      --data DATA --init model.pth --out trained.pth [--epochs 5 --batch-size 32 --crop 320x480]

  # several machines: the same command on each, with --nnodes N --node_rank R --master_addr HOST

- Data: a webfcn dataset folder in the VOC layout (a VOC2012 folder, or one holding VOC2012 or
  VOCdevkit/VOC2012; `webfcn synth` writes one): ImageSets/Segmentation/<split>.txt,
  JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette or VOC-colour PNGs; the VOC border
  colour and unknown colours are label 255, ignored). Images smaller than the crop are skipped, as
  in the chapter; each epoch takes one random crop per image (the same window for image and label).
- Start: --init FILE, a webfcn checkpoint (`.safetensors`) or a `.pth` state dict (what
  `webfcn export --format pth` writes, either key layout), or --pretrained resnet18.pth
  (torchvision's ImageNet weights; the head starts as the chapter's: Xavier 1x1 conv, bilinear
  transposed conv), or neither (random init).
- The chapter's recipe and loss: inputs /255 then normalised with the ImageNet mean and std;
  per-pixel softmax cross-entropy with label 255 ignored, each image's loss the mean over all its
  pixels, the batch loss their sum (--loss sum; --loss mean is the mean over valid pixels); SGD
  with weight decay (lr 0.001, wd 1e-3, no momentum by default); batch 32 (the global batch,
  split evenly over the processes), crop 320x480, 5 epochs.
- DDP averages gradients over processes, so with --loss sum each process scales its local loss by
  the number of processes: the update is the one a single process makes on the whole global batch.
  BatchNorm statistics are per process (as webfcn's micro-batches); --sync-bn uses SyncBatchNorm
  (CUDA only). DDP broadcasts rank 0's running statistics before every forward pass.
- Output: --out FILE on rank 0, written atomically: a `.pth` state dict (torch.save; --layout
  chapter or torchvision) or a webfcn `.safetensors` checkpoint. webfcn loads either for browsers
  and Node (`webfcn predict --model FILE`, `engine.load(bytes)`).
- --log FILE (rank 0): JSON with every rank's per-step losses and a SHA-256 of its parameters.
"""
import argparse
import collections
import hashlib
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcn import (IMAGENET_MEAN, IMAGENET_STD, FCN, from_canonical, head_of, load_weights,  # noqa: E402
                 loss_fn, to_canonical, write_safetensors)

VOC_COLORMAP = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
                [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128], [192, 0, 128],
                [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]
IGNORE = 255


def voc_root(path):
    for c in (path, os.path.join(path, 'VOC2012'), os.path.join(path, 'VOCdevkit', 'VOC2012')):
        if os.path.isdir(os.path.join(c, 'ImageSets', 'Segmentation')):
            return c
    raise SystemExit(f'{path}: no VOC2012 folder here (looked for ImageSets/Segmentation in ., VOC2012, VOCdevkit/VOC2012)')


def read_label(path, classes):
    img = Image.open(path)
    if img.mode == 'P':
        y = np.array(img, dtype=np.int64)
        y[(y >= classes) & (y != IGNORE)] = IGNORE
        return y
    rgb = np.array(img.convert('RGB'), dtype=np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    lut = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(VOC_COLORMAP[:classes])}
    y = np.full(packed.shape, IGNORE, dtype=np.int64)
    for colour, cls in lut.items():
        y[packed == colour] = cls
    return y


class VOCSegmentation(Dataset):
    """The chapter's VOCSegDataset: whole images read once, a random crop per access."""

    def __init__(self, root, split, crop, classes):
        root = voc_root(root)
        with open(os.path.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')) as f:
            ids = [l.strip() for l in f if l.strip()]
        self.crop = crop
        self.items, skipped = [], 0
        mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1)
        for i in ids:
            img = np.array(Image.open(os.path.join(root, 'JPEGImages', f'{i}.jpg')).convert('RGB'))
            if img.shape[0] < crop[0] or img.shape[1] < crop[1]:
                skipped += 1
                continue
            x = (torch.from_numpy(img).permute(2, 0, 1).float() / 255 - mean) / std
            y = torch.from_numpy(read_label(os.path.join(root, 'SegmentationClass', f'{i}.png'), classes))
            if y.shape != x.shape[1:]:
                raise SystemExit(f'{i}: label {tuple(y.shape)} and image {tuple(x.shape[1:])} differ in size')
            self.items.append((x, y))
        if not self.items:
            raise SystemExit(f'{root}/{split}: no image is at least {crop[0]}x{crop[1]} ({skipped} smaller)')
        self.skipped = skipped

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        x, y = self.items[i]
        h, w = self.crop
        top = random.randint(0, x.shape[1] - h)
        left = random.randint(0, x.shape[2] - w)
        return x[:, top:top + h, left:left + w], y[top:top + h, left:left + w]


def xavier_head(net):
    """The chapter's head: final_conv as nn.Conv2d initialises it is replaced by Xavier (as webfcn), bilinear deconvs."""
    for name in ('final_conv', 'score_layer3', 'score_layer2'):
        m = getattr(net, name, None)
        if m is not None:
            nn.init.xavier_uniform_(m.weight)


def parse_size(s):
    h, _, w = s.partition('x')
    return int(h), int(w)


def param_digest(module):
    h = hashlib.sha256()
    for name, p in module.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', required=True)
    ap.add_argument('--split', default='train')
    ap.add_argument('--classes', type=int, help='number of classes (default: from --init, else 21)')
    ap.add_argument('--head', choices=['fcn32s', 'fcn16s', 'fcn8s'], help='default: from --init, else fcn32s')
    ap.add_argument('--init', help='webfcn checkpoint (.safetensors) or .pth state dict to start from')
    ap.add_argument('--pretrained', help="torchvision resnet18 ImageNet weights (.pth) for the backbone")
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--max-steps', type=int, default=0, help='stop after this many steps (0: all epochs)')
    ap.add_argument('--batch-size', type=int, default=32, help='global batch, split evenly over the processes')
    ap.add_argument('--crop', type=parse_size, default=(320, 480))
    ap.add_argument('--lr', type=float, default=0.001)
    ap.add_argument('--weight-decay', type=float, default=1e-3)
    ap.add_argument('--momentum', type=float, default=0.0)
    ap.add_argument('--nesterov', action='store_true')
    ap.add_argument('--loss', choices=['sum', 'mean'], default='sum')
    ap.add_argument('--sync-bn', action='store_true', help='SyncBatchNorm across processes (CUDA only)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', required=True, help='.pth (torch.save state dict) or .safetensors (webfcn checkpoint)')
    ap.add_argument('--layout', choices=['chapter', 'torchvision'], help='.pth key layout (default: chapter for fcn32s)')
    ap.add_argument('--log', help='JSON with per-rank losses and parameter digests (written by rank 0)')
    a = ap.parse_args()

    if 'RANK' not in os.environ:  # started as plain `python3 train_ddp.py`: one process, no launcher
        import socket
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        os.environ.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    cuda = torch.cuda.is_available()
    dist.init_process_group('nccl' if cuda else 'gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get('LOCAL_RANK', 0))
    device = torch.device('cuda', local) if cuda else torch.device('cpu')
    if cuda:
        torch.cuda.set_device(device)
    if a.batch_size % world:
        raise SystemExit(f'--batch-size {a.batch_size} is not divisible by the {world} processes')
    torch.manual_seed(a.seed)
    random.seed(a.seed * 1000 + rank)  # crops differ per process, repeatably

    init, meta = (load_weights(a.init) if a.init else (None, {}))
    classes = a.classes or int(meta.get('classes', 0)) or (init['final_conv.bias'].shape[0] if init else 21)
    head = a.head or meta.get('head') or (head_of(init.keys()) if init else 'fcn32s')
    net = FCN(classes, head)
    if init is not None:
        sd = collections.OrderedDict((k, v) for k, v in init.items())
        net.load_state_dict(sd, strict=True)
    else:
        xavier_head(net)
        if a.pretrained:
            tv = to_canonical(torch.load(a.pretrained, map_location='cpu', weights_only=True))
            tv = {k: v for k, v in tv.items() if not k.startswith('fc.')}
            missing, unexpected = net.load_state_dict(tv, strict=False)
            head_keys = [k for k in missing if not k.startswith(('final_conv', 'transpose_conv', 'score_layer', 'upscore'))]
            if head_keys or unexpected:
                raise SystemExit(f'{a.pretrained}: not a resnet18 state dict (missing {head_keys[:5]}, unexpected {unexpected[:5]})')
    if a.sync_bn:
        if not cuda:
            raise SystemExit('--sync-bn needs CUDA (SyncBatchNorm does not run on CPU)')
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net.to(device)
    model = DDP(net, device_ids=[local] if cuda else None)

    ds = VOCSegmentation(a.data, a.split, a.crop, classes)
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=a.seed, drop_last=True)
    per_rank = a.batch_size // world
    loader = DataLoader(ds, batch_size=per_rank, sampler=sampler, drop_last=True)
    if len(loader) == 0:
        raise SystemExit(f'{len(ds)} images give no full batch of {per_rank} per process')
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay, nesterov=a.nesterov)
    if rank == 0:
        print(f'train_ddp: {world} processes ({device.type}), {len(ds)} images ({ds.skipped} smaller than the crop skipped), '
              f'{head} K={classes}, global batch {a.batch_size}, {len(loader)} steps per epoch', flush=True)

    losses, step, t0 = [], 0, time.time()
    model.train()
    for epoch in range(a.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            logits = model(x)
            if a.loss == 'sum':
                per_image = loss_fn(logits, y)
                (per_image.sum() * world).backward()
                value = per_image.mean().item()
            else:
                l = F.cross_entropy(logits, y, ignore_index=IGNORE)
                l.backward()
                value = l.item()
            opt.step()
            losses.append(value)
            step += 1
            if rank == 0:
                print(f'epoch {epoch + 1} step {step}: loss {value:.4f} (rank 0, mean per image)', flush=True)
            if a.max_steps and step >= a.max_steps:
                break
        if a.max_steps and step >= a.max_steps:
            break

    digest = param_digest(net)
    gathered = [None] * world
    dist.all_gather_object(gathered, {'rank': rank, 'losses': losses, 'params_sha256': digest})
    if rank == 0:
        state = to_canonical(net.state_dict())
        if a.out.endswith('.safetensors'):
            write_safetensors(a.out, {k: v for k, v in state.items()}, {
                'format': 'webfcn-checkpoint/1', 'classes': str(classes), 'head': head,
                'mean': json.dumps(list(IMAGENET_MEAN)), 'std': json.dumps(list(IMAGENET_STD)),
            })
        else:
            layout = a.layout or ('chapter' if head == 'fcn32s' else 'torchvision')
            tmp = f'{a.out}.{os.getpid()}.tmp'
            torch.save(from_canonical(state, layout), tmp)
            os.replace(tmp, a.out)
        report = {'world_size': world, 'backend': dist.get_backend(), 'steps': step, 'seconds': round(time.time() - t0, 2),
                  'head': head, 'classes': classes, 'ranks': gathered, 'out': a.out}
        if a.log:
            tmp = f'{a.log}.{os.getpid()}.tmp'
            with open(tmp, 'w') as f:
                json.dump(report, f)
            os.replace(tmp, a.log)
        same = len({g['params_sha256'] for g in gathered}) == 1
        print(f'train_ddp: {step} steps in {report["seconds"]} s; parameters identical on all ranks: {same}; wrote {a.out}', flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
