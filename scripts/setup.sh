#!/usr/bin/env bash
# Installs what webfcn needs on Debian/Ubuntu and is a no-op when it is all there:
#  - Mesa llvmpipe through EGL/OpenGL ES (Dawn's opengles backend): the fastest software WebGPU;
#  - chromium + libvulkan1: SwiftShader for Dawn's Vulkan backend, and the browser for page tests;
#  - python3-torch/torchvision: PyTorch 1.13 CPU, the oracle that writes golden tensors;
#  - npm packages (npm ci) and the WebAssembly build.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=(libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri libvulkan1 chromium python3-torch python3-torchvision)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # onnxruntime-node (a test dependency) bundles its CPU binaries; its install step would fetch CUDA ones from NuGet.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
npm run --silent build:wasm
echo "setup: ok"
