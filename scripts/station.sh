#!/usr/bin/env bash
# Starts the station (release build) after the set-up; arguments go to `facestation`.
# The first run compiles the station (several minutes on two cores): cargo's progress is shown.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# ONNX Runtime's PyPI build writes telemetry under the user's cache folder unless this is set.
export ORT_DISABLE_TELEMETRY=1
scripts/setup.sh >&2
bin="${CARGO_TARGET_DIR:-target}/release/facestation"
if [ ! -x "$bin" ]; then
  echo "station: building the release station first (several minutes the first time)…" >&2
else
  echo "station: checking the build…" >&2
fi
cargo build --release >&2
exec "$bin" "$@"
