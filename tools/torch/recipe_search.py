"""Quick recipe search for the main job: trains webfcn's FCN-ResNet18 in PyTorch on a folder that
`webfcn synth` wrote, with webfcn's training maths, and reports whole-image val mIoU per epoch.

webfcn's maths, as src/fcn/fit.ts and src/fcn/trainer.ts run it:
  - images: RGB / 255, ImageNet mean/std; labels from the VOC colour map (255 = ignored);
  - a random crop of --crop per sample and epoch (the whole image when --crop is the image size);
  - the chapter's loss (per-image mean of per-pixel cross-entropy), summed over the batch
    (`--loss sum`, webfcn's default) or averaged (`--loss mean`);
  - torch.optim.SGD with L2 weight decay on every parameter and momentum; 'poly' sets the rate to
    lr·(1 − step/total)^0.9 before each step; the last partial batch of an epoch is dropped;
  - BatchNorm in training mode while training, running statistics at evaluation;
  - evaluation on whole val images, one at a time; mIoU is the mean over classes that occur in
    the labels or the predictions (src/fcn/metrics.ts).
The random streams differ from webfcn's (batch order, crops, initialisation), so numbers agree
in distribution, not bit for bit: confirm a chosen recipe with `webfcn train` + `webfcn evaluate`.

Run: /usr/bin/python3 tools/torch/recipe_search.py --data DIR [--head fcn8s] [--train N] ...
Each epoch prints one JSON line: loss, val pixel accuracy, mIoU, per-class IoU and confusion
matrix (rows: truth), and the mIoU on as many training images as there are val images (the gap
shows overfitting). The last line is a JSON summary (images and megapixels seen, final and best
mIoU). --save-grid PNG writes the last epoch's val image | prediction | ground truth rows.
The main job's recipe search (README, "Why this recipe") ran this with --threads 1.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcn import FCN, IMAGENET_MEAN, IMAGENET_STD, loss_fn  # noqa: E402

# Pascal VOC's colour map (src/data/colormap.ts): class c's label colour.
def voc_colormap(n=256):
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def read_split(root, split, limit=None):
    with open(os.path.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')) as f:
        ids = [s.strip() for s in f if s.strip()]
    if limit is not None:
        ids = ids[:limit]
    cmap = voc_colormap()
    lut = {tuple(int(v) for v in cmap[c]): c for c in range(21)}
    lut[(224, 224, 192)] = 255  # VOC's border colour
    mean = np.array(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.array(IMAGENET_STD, np.float32)[:, None, None]
    xs, ys = [], []
    for i in ids:
        img = np.asarray(Image.open(os.path.join(root, 'JPEGImages', f'{i}.jpg')).convert('RGB'), np.float32)
        xs.append((img.transpose(2, 0, 1) / 255.0 - mean) / std)
        rgb = np.asarray(Image.open(os.path.join(root, 'SegmentationClass', f'{i}.png')).convert('RGB'))
        key = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        lab = np.full(key.shape, 255, np.int64)
        for col, c in lut.items():
            lab[key == ((col[0] << 16) | (col[1] << 8) | col[2])] = c
        ys.append(lab)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def confusion(pred, label, k):
    ok = label != 255
    return torch.bincount(label[ok] * k + pred[ok], minlength=k * k).reshape(k, k)


def metrics(conf):
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float('nan')))
    ok = ~torch.isnan(iou)
    return float(tp.sum() / conf.sum()), float(iou[ok].mean()), [round(float(v), 3) for v in iou]


def evaluate(net, x, y, k, preds=None):
    net.eval()
    conf = torch.zeros(k, k, dtype=torch.int64)
    with torch.no_grad():
        for i in range(len(x)):
            pred = net(x[i:i + 1]).argmax(1)
            conf += confusion(pred, y[i:i + 1], k)
            if preds is not None:
                preds.append(pred[0])
    net.train()
    return metrics(conf) + (conf.tolist(),)


def save_grid(path, x, y, preds):
    """Rows of val image | prediction | ground truth (VOC colours), 3x enlarged."""
    cmap = voc_colormap()
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    rows = []
    for i, pred in enumerate(preds):
        img = ((x[i] * std + mean).clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        gap = np.zeros((img.shape[0], 2, 3), np.uint8)
        rows.append(np.concatenate([img, gap, cmap[pred.numpy()], gap, cmap[y[i].clamp(max=255).numpy()]], 1))
        rows.append(np.zeros((2, rows[-1].shape[1], 3), np.uint8))
    Image.fromarray(np.concatenate(rows, 0)).resize((rows[0].shape[1] * 3, sum(r.shape[0] for r in rows) * 3), Image.NEAREST).save(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', required=True, help='a folder written by webfcn synth (holding VOCdevkit/VOC2012)')
    p.add_argument('--classes', type=int, default=3)
    p.add_argument('--head', default='fcn8s', choices=['fcn32s', 'fcn16s', 'fcn8s'])
    p.add_argument('--train', type=int, default=None, help='use the first N training images')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--crop', default=None, help='HxW random crop (default: the whole image)')
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--weight-decay', type=float, default=1e-3)
    p.add_argument('--loss', default='sum', choices=['sum', 'mean'])
    p.add_argument('--schedule', default='poly', choices=['constant', 'poly'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--save-grid', default=None, help='PNG of the last epoch: val image | prediction | ground truth')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    root = os.path.join(a.data, 'VOCdevkit', 'VOC2012')
    xt, yt = read_split(root, 'train', a.train)
    xv, yv = read_split(root, 'val')
    H, W = xt.shape[2:]
    ch, cw = (int(s) for s in a.crop.split('x')) if a.crop else (H, W)
    k = a.classes
    net = FCN(k, a.head)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    n = len(xt)
    steps = n // a.batch_size
    total = steps * a.epochs
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    history = []
    for epoch in range(a.epochs):
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for b in range(steps):
            if a.schedule == 'poly':
                for g in opt.param_groups:
                    g['lr'] = a.lr * (1 - (epoch * steps + b) / total) ** 0.9
            idx = order[b * a.batch_size:(b + 1) * a.batch_size]
            xb, yb = xt[idx], yt[idx]
            if (ch, cw) != (H, W):
                ys = torch.randint(0, H - ch + 1, (len(idx),), generator=gen)
                xs = torch.randint(0, W - cw + 1, (len(idx),), generator=gen)
                xb = torch.stack([xb[i, :, ys[i]:ys[i] + ch, xs[i]:xs[i] + cw] for i in range(len(idx))])
                yb = torch.stack([yb[i, ys[i]:ys[i] + ch, xs[i]:xs[i] + cw] for i in range(len(idx))])
            losses = loss_fn(net(xb), yb)
            loss = losses.sum() if a.loss == 'sum' else losses.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(losses.sum())
        preds = []
        acc, miou, iou, conf = evaluate(net, xv, yv, k, preds)
        # The same number on as many training images: the gap says whether the recipe overfits.
        train_miou = evaluate(net, xt[:len(xv)], yt[:len(xv)], k)[1]
        row = dict(epoch=epoch + 1, loss=round(loss_sum / (steps * a.batch_size), 4), acc=round(acc, 3), miou=round(miou, 3),
                   iou=iou, train_miou=round(train_miou, 3), confusion=conf, seconds=round(time.time() - t0, 1))
        history.append(row)
        print(json.dumps(row), flush=True)
    if a.save_grid:
        save_grid(a.save_grid, xv, yv, preds)
    seen = total * a.batch_size
    print(json.dumps(dict(summary=True, args=vars(a), images_seen=seen, mpixels_seen=round(seen * ch * cw / 1e6, 2),
                          final_miou=history[-1]['miou'], best_miou=max(r['miou'] for r in history))), flush=True)


if __name__ == '__main__':
    main()
