#!/usr/bin/env bash
# The test command: set-up (ONNX Runtime into .cache/), then every unit and integration test.
# Integration tests read models and photos from ../shared (or FACESTATION_SHARED) and fail loudly
# when it is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# ONNX Runtime's PyPI build writes telemetry under the user's cache folder unless this is set.
export ORT_DISABLE_TELEMETRY=1
scripts/setup.sh
cargo test --all-targets "$@"
