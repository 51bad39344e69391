#!/usr/bin/env bash
# Starts the station (release build) after the set-up; arguments go to `facestation`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >&2
cargo run --release --quiet -- "$@"
