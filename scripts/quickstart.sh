#!/usr/bin/env bash
# The main job, from a fresh clone: set up (system packages, software GPU, npm packages, build),
# show the adapter, then generate a synthetic VOC-layout dataset, train an FCN-ResNet18 on it,
# evaluate it on whole validation images and write the run folder (runs/quickstart/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build
webfcn() { node bin/webfcn.js "$@"; }
out=runs/quickstart
webfcn info
webfcn synth --out "$out/data" --classes 3 --train 64 --val 8 --size 64x96 --seed 1
webfcn train --data "$out/data" --classes 3 --epochs 10 --batch-size 4 --crop 64x96 \
  --lr 0.02 --momentum 0.9 --schedule poly --seed 0 --out "$out/run"
webfcn evaluate --model "$out/run/last.safetensors" --data "$out/data" --split val
webfcn predict --model "$out/run/last.safetensors" --input "$out/data/VOCdevkit/VOC2012/JPEGImages" --out "$out/predictions" > /dev/null
echo "quickstart: done; see $out/run (curves.svg, predictions.png, metrics.json) and $out/predictions"
