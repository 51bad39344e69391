#!/usr/bin/env bash
# Issue acceptance: 16 processes create the station key at once, ROUNDS rounds (default 200);
# every process must succeed and all 16 must print the same key id. Prints the failure count.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${FACESTATION_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/facestation}"
rounds="${1:-200}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
for r in $(seq 1 "$rounds"); do
  key="$tmp/r$r/station-key.pem"
  mkdir -p "$tmp/r$r"
  for p in $(seq 1 16); do
    ( "$bin" --key "$key" key init --json > "$tmp/r$r/out$p" 2> "$tmp/r$r/err$p" || echo fail > "$tmp/r$r/fail$p" ) &
  done
  wait
  ids="$(grep -ho '"keyId": *"[0-9a-f]*"' "$tmp"/r$r/out* | sort -u | wc -l)"
  fails="$(find "$tmp/r$r" -name 'fail*' | wc -l)"
  if [ "$fails" != 0 ] || [ "$ids" != 1 ]; then failures=$((failures + 1)); echo "round $r: $fails failed, $ids distinct keys" >&2; fi
done
echo "key race: $rounds rounds x 16 processes, $failures failed rounds"
