#!/usr/bin/env bash
# The main job, from a fresh clone: set up (system packages, software GPU, npm packages, the wasm
# build), build the command, show the adapter, then generate a synthetic VOC-layout dataset, train
# an FCN-8s ResNet-18 on it from scratch, evaluate it on the whole held-out (val) images and
# predict them. The run folder runs/quickstart/run holds the checkpoints, metrics.json, curves.svg
# and predictions.png (held-out image | prediction | ground truth); runs/quickstart/predictions
# holds each held-out image's class map and overlay.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/setup.sh
# Only the Node bundles (the command needs no browser bundle or type declarations).
node_modules/.bin/rollup -c --silent --environment WEBFCN_BUILD:node
webfcn() { node bin/webfcn.js "$@"; }
out=runs/quickstart
rm -rf "$out"
webfcn info
webfcn synth --out "$out/data" --classes 3 --train 200 --val 16 --size 64x96 --seed 1
webfcn train --data "$out/data" --classes 3 --head fcn8s --epochs 2 --batch-size 4 --crop 64x96 \
  --lr 0.01 --momentum 0.9 --schedule poly --seed 0 --out "$out/run"
webfcn evaluate --model "$out/run/last.safetensors" --data "$out/data" --split val
webfcn predict --model "$out/run/last.safetensors" --data "$out/data" --split val --out "$out/predictions" > /dev/null
echo "quickstart: done in $((SECONDS - start)) s; see $out/run (predictions.png, curves.svg, metrics.json) and $out/predictions (held-out images)"
