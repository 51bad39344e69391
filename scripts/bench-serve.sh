#!/usr/bin/env bash
# Throughput and latency of `facestation serve` (release build): one compare of a probe with one
# gallery image (real photos from ../shared/data, FAST mode), POSTed by wrk at concurrency 8.
# Prints requests/s, p50/p99 latency and error counts, then checks the server's audit log.
#
#   scripts/bench-serve.sh [DURATION_S=20] [WORKERS=cores]
#
# Needs wrk (installed with apt-get when missing) and python3 (to build the JSON body).
# Loopback only; bounded by DURATION_S; stops the server itself.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
duration="${1:-20}"
workers="${2:-$(nproc)}"
shared="${FACESTATION_SHARED:-$root/../shared}"
probe="$shared/data/faces/face_recognition/barack_obama/examples__obama.jpg"
gallery="$shared/data/faces/face_recognition/barack_obama/examples__obama2.jpg"
[ -f "$probe" ] || { echo "bench: $probe is missing (../shared beside the checkout)" >&2; exit 1; }

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
scripts/setup.sh >/dev/null
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/release/facestation"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$probe" "$gallery" "$work" <<'PY'
import base64, json, secrets, sys
probe, gallery, work = sys.argv[1:]
b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()
json.dump({"os": "DESKTOP", "probe": b64(probe), "gallery": [b64(gallery)], "search_mode": "FAST"},
          open(f"{work}/body.json", "w"))
open(f"{work}/token", "w").write(secrets.token_hex(24) + "\n")
PY
chmod 600 "$work/token"
cat >"$work/post.lua" <<LUA
local f = assert(io.open("$work/body.json", "rb")); wrk.body = f:read("*a"); f:close()
local t = assert(io.open("$work/token", "r")); local token = t:read("*l"); t:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
LUA

# Port 0: the server picks a free port and logs it.
"$bin" --log "$work/audit.jsonl" --key "$work/key.pem" serve --bind "127.0.0.1:0" \
  --token-file "$work/token" --workers "$workers" --queue 64 2>"$work/serve.err" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
  base="$(grep -o 'listening on http://[0-9.:]*' "$work/serve.err" 2>/dev/null | head -1 | sed 's/listening on //')" || true
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.2
done
[ -n "$base" ] || { echo "bench: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
url="$base/v2/face-recognition/compare"
# Warm-up (first-run allocations), not measured.
wrk -t1 -c2 -d2s -s "$work/post.lua" "$url" >/dev/null
sleep 1 # let the warm-up's last answers land in the log before counting
before=$(wc -l <"$work/audit.jsonl")

echo "bench: wrk -t2 -c8 -d${duration}s --latency POST $url (1 probe + 1 gallery image, FAST; $workers engine workers)"
wrk -t2 -c8 -d"${duration}s" --timeout 10s --latency -s "$work/post.lua" "$url" | tee "$work/wrk.out"

kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
after=$(wc -l <"$work/audit.jsonl")
completed=$(awk '/requests in/ {print $1}' "$work/wrk.out")
non2xx=$(awk -F': ' '/Non-2xx/ {print $2}' "$work/wrk.out"); non2xx="${non2xx:-0}"
sockerr=$(grep -o 'Socket errors:.*' "$work/wrk.out" || echo "Socket errors: none")
echo
echo "summary: $(awk '/Requests\/sec/ {print $2}' "$work/wrk.out") requests/s;" \
  "p50 $(awk '$1=="50%" {print $2}' "$work/wrk.out"), p99 $(awk '$1=="99%" {print $2}' "$work/wrk.out");" \
  "$completed completed, non-2xx $non2xx, $sockerr"
echo "audit log: $((after - before)) records written during the run (wrk counts only answers it saw before its deadline)"
"$bin" record verify "$work/audit.jsonl"
