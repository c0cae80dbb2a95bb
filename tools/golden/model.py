"""End-to-end goldens for FCN-ResNet18, written by PyTorch (the d2l.ai chapter's own model code).

Builds the chapter's model with random weights and random BatchNorm statistics, saves its state
dict with torch.save (the chapter's nn.Sequential key layout, and the torchvision resnet18 layout),
and records, for one fixed batch:
  - eval-mode logits for a 2 x 3 x 64 x 96 batch;
  - train-mode logits, per-image losses and every parameter gradient;
  - every parameter after one SGD step (lr 0.001, wd 1e-3, the chapter's loss.sum() of per-image means);
  - the losses of the next three steps on the same batch.
The files are ~200 MB (ResNet-18 has 11.2M parameters, written several times), so they are generated
on demand into test/golden/model/ (git-ignored) rather than committed: `npm test` runs this first and
skips the work when the outputs are newer than this script.

Run: /usr/bin/python3 tools/golden/model.py [--force]
"""
import collections
import os
import sys

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import GOLDEN_DIR, write_safetensors  # noqa: E402

OUT = os.path.join(GOLDEN_DIR, 'model')
K = 21
N, H, W = 2, 64, 96
LR, WD = 0.001, 1e-3
NEXT_STEPS = 3


def bilinear_kernel(in_channels, out_channels, kernel_size):
    # The chapter's function, verbatim.
    factor = (kernel_size + 1) // 2
    if kernel_size % 2 == 1:
        center = factor - 1
    else:
        center = factor - 0.5
    og = (torch.arange(kernel_size).reshape(-1, 1), torch.arange(kernel_size).reshape(1, -1))
    filt = (1 - torch.abs(og[0] - center) / factor) * (1 - torch.abs(og[1] - center) / factor)
    weight = torch.zeros((in_channels, out_channels, kernel_size, kernel_size))
    weight[range(in_channels), range(out_channels), :, :] = filt
    return weight


def chapter_model(num_classes):
    pretrained_net = torchvision.models.resnet18(weights=None)
    net = nn.Sequential(*list(pretrained_net.children())[:-2])
    net.add_module('final_conv', nn.Conv2d(512, num_classes, kernel_size=1))
    net.add_module('transpose_conv', nn.ConvTranspose2d(num_classes, num_classes, kernel_size=64, padding=16, stride=32))
    net.transpose_conv.weight.data.copy_(bilinear_kernel(num_classes, num_classes, 64))
    return net, pretrained_net


def loss_fn(inputs, targets):
    # The chapter's loss, with VOC's border label 255 ignored.
    return F.cross_entropy(inputs, targets, reduction='none', ignore_index=255).mean(1).mean(1)


# The chapter's nn.Sequential indices -> torchvision resnet18 module names.
SEQ_TO_TV = {'0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2', '6': 'layer3', '7': 'layer4'}


def to_torchvision_names(sd):
    out = collections.OrderedDict()
    for k, v in sd.items():
        head, _, rest = k.partition('.')
        out[(SEQ_TO_TV.get(head, head)) + '.' + rest] = v
    return out


def main():
    force = '--force' in sys.argv
    stamp = os.path.join(OUT, 'steps.safetensors')
    if not force and os.path.exists(stamp) and os.path.getmtime(stamp) > os.path.getmtime(__file__):
        print('golden/model: up to date')
        return
    torch.manual_seed(0)
    net, tv = chapter_model(K)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    os.makedirs(OUT, exist_ok=True)
    sd = net.state_dict()
    torch.save(sd, os.path.join(OUT, 'fcn_chapter.pth'))
    initial = collections.OrderedDict((k, v.clone()) for k, v in sd.items())  # sd aliases the live parameters
    torch.save(to_torchvision_names(sd), os.path.join(OUT, 'fcn_torchvision.pth'))
    # A torchvision resnet18 file as users download it (fc included), for loading a pretrained backbone.
    tv_sd = tv.state_dict()
    torch.save(tv_sd, os.path.join(OUT, 'resnet18_torchvision.pth'))

    x = torch.randn(N, 3, H, W)
    y = torch.randint(0, K, (N, H, W))
    y[0, :5, :7] = 255  # ignored pixels
    y[1, 10:12, :] = 255

    net.eval()
    with torch.no_grad():
        eval_logits = net(x)

    net.train()
    trainer = torch.optim.SGD(net.parameters(), lr=LR, weight_decay=WD)
    trainer.zero_grad()
    logits = net(x)
    losses = loss_fn(logits, y)
    losses.sum().backward()
    grads = collections.OrderedDict(('grad.' + k, p.grad.clone()) for k, p in to_torchvision_names(dict(net.named_parameters())).items())
    trainer.step()
    after = collections.OrderedDict(('after.' + k, v.clone()) for k, v in to_torchvision_names(net.state_dict()).items()
                                    if not k.endswith('num_batches_tracked'))
    next_losses = []
    for _ in range(NEXT_STEPS):
        trainer.zero_grad()
        l = loss_fn(net(x), y)
        l.sum().backward()
        trainer.step()
        next_losses.append(l.detach())

    meta = {'classes': str(K), 'lr': str(LR), 'weight_decay': str(WD), 'shape': f'{N}x3x{H}x{W}'}

    # The chapter's crop size, 1 x 3 x 320 x 480, from the initial state: long reductions (stem
    # weight gradient over 160x240 pixels, the head's 86016-term sums) at the sizes users train at.
    # At this size f32 itself is the limit: PyTorch's own f32 gradients of the early layers differ
    # from float64 by ~3e-3 of their scale (relu and max-pool decisions flip on near-ties). So the
    # reference is a float64 run, and the file records PyTorch-f32's own error for each tensor.
    xf = torch.randn(1, 3, 320, 480)
    yf = torch.randint(0, K, (1, 320, 480))
    yf[0, 100:140, :] = 255
    keep = ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'layer4.1.conv2.weight', 'final_conv.weight', 'final_conv.bias', 'transpose_conv.weight', 'transpose_conv.bias']

    def full_pass(dtype):
        m, _ = chapter_model(K)
        m.load_state_dict(initial)
        m = m.to(dtype)
        m.train()
        l = loss_fn(m(xf.to(dtype)), yf)
        l.sum().backward()
        named = to_torchvision_names(dict(m.named_parameters()))
        return l.detach().double(), {k: named[k].grad.detach().double() for k in keep}

    l64, g64 = full_pass(torch.float64)
    l32, g32 = full_pass(torch.float32)
    full = collections.OrderedDict(x=xf, labels=yf, losses=l64)
    f32_error = {'losses': float((l32 - l64).abs().max() / l64.abs().max())}
    for k in keep:
        full['grad.' + k] = g64[k]
        f32_error[k] = float((g32[k] - g64[k]).abs().max() / g64[k].abs().max())
    full_meta = dict(meta, torch_f32_error=f32_error)
    write_safetensors(os.path.join(OUT, 'full_size.safetensors'), full, full_meta)
    write_safetensors(os.path.join(OUT, 'forward.safetensors'), collections.OrderedDict(
        x=x, labels=y, eval_logits=eval_logits, train_logits=logits.detach(), losses=losses.detach()), meta)
    write_safetensors(os.path.join(OUT, 'grads.safetensors'), grads, meta)
    write_safetensors(os.path.join(OUT, 'after_step.safetensors'), after, meta)
    write_safetensors(stamp, collections.OrderedDict(next_losses=torch.stack(next_losses)), meta)
    print(f'golden/model: wrote {OUT}')


if __name__ == '__main__':
    main()
