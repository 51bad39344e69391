#!/usr/bin/env bash
# Installs what the station needs at run time into the project's ignored .cache/ folder:
# the ONNX Runtime 1.31.1 shared library, extracted from the PyPI wheel (no Python needed later).
# Idempotent; safe to run before every test run. Models are not downloaded: the station reads them
# from --models DIR, FACESTATION_MODELS, or ../shared/models in this repository's layout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=1.31.1
lib="$root/.cache/ort/libonnxruntime.so.$version"
if [ ! -f "$lib" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: downloading onnxruntime==$version from PyPI (wheel, for its shared library)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    "onnxruntime==$version" -d "$tmp"
  mkdir -p "$root/.cache/ort"
  python3 - "$tmp" "$root/.cache/ort" "$version" <<'PY'
import glob, sys, zipfile
tmp, out, version = sys.argv[1:]
wheel = glob.glob(f"{tmp}/onnxruntime-*.whl")[0]
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z, open(f"{out}/libonnxruntime.so.{version}.part", "wb") as f:
    f.write(z.read(name))
PY
  mv "$lib.part" "$lib"
fi
echo "setup: ONNX Runtime ready at .cache/ort/$(basename "$lib")"
