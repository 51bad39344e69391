#!/usr/bin/env bash
# Starts the station (release build) after the set-up; arguments go to `facestation`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# ONNX Runtime's PyPI build writes telemetry under the user's cache folder unless this is set.
export ORT_DISABLE_TELEMETRY=1
scripts/setup.sh >&2
cargo run --release --quiet -- "$@"
