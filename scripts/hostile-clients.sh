#!/usr/bin/env bash
# Hostile clients against `facestation serve` with the real models, at full size, with numbers:
# the server runs under `ulimit -n 1024` (soft and hard, so it cannot raise it) with 2 workers and a
# queue of 32, the default timeouts (headers 10 s, keep-alive 5 s, body 30 s / idle 10 s) and the
# default 25 MB body limit; examples/hostile_clients.rs then opens 1,100 idle connections, 200
# slowloris connections, a lying Content-Length, 20 uploads of 36 MB, and 80 concurrent 24 MB
# compares (sampling the server's RSS); then the station's own `compare --remote` uploads 36 MB,
# and the server is stopped with a slow client still connected.
#
#   scripts/hostile-clients.sh [SCENARIO=all]    (all|idle|slowloris|lie|too-large|flood)
#
# Loopback only; every loop is bounded; stops the server itself. PROFILE=release for a release
# build (default: the dev profile the tests use; the dependencies are optimised in both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scenario="${1:-all}"
shared="${FACESTATION_SHARED:-$root/../shared}"
probe="$shared/data/faces/face_recognition/barack_obama/examples__obama.jpg"
gallery="$shared/data/faces/face_recognition/barack_obama/examples__obama2.jpg"
[ -f "$probe" ] || { echo "hostile: $probe is missing (../shared beside the checkout)" >&2; exit 1; }

scripts/setup.sh >/dev/null
profile_flag=""; profile_dir=debug
if [ "${PROFILE:-dev}" = release ]; then profile_flag="--release"; profile_dir=release; fi
cargo build $profile_flag --quiet --bin facestation --example hostile_clients
target="${CARGO_TARGET_DIR:-$root/target}/$profile_dir"
bin="$target/facestation"
clients="$target/examples/hostile_clients"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"; echo >>"$work/token"
chmod 600 "$work/token"

( ulimit -n 1024; exec "$bin" --models "$shared/models" --log "$work/audit.jsonl" --key "$work/key.pem" \
    serve --bind 127.0.0.1:0 --token-file "$work/token" --workers 2 --queue 32 ) 2>"$work/serve.err" &
server_pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$work/serve.err" 2>/dev/null | head -1 | sed 's/listening on //')" || true
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "hostile: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
echo "hostile: server $url (pid $server_pid), $(grep 'Max open files' /proc/$server_pid/limits | tr -s ' ')"
grep -o 'at most [0-9]* connections' "$work/serve.err" | head -1 | sed 's/^/hostile: server allows /'

"$clients" --url "$url" --token-file "$work/token" --pid "$server_pid" \
  --probe "$probe" --gallery "$gallery" --scenario "$scenario"

if [ "$scenario" = all ] || [ "$scenario" = too-large ]; then
  # The station's own client, 36 MB against the 25 MB limit: exit 2 (input refused), no retries.
  head -c $((36 * 1024 * 1024)) /dev/urandom >"$work/big.jpg"
  start=$(date +%s%N)
  set +e
  VERIFIK_TOKEN="$(cat "$work/token")" "$bin" --log "$work/cli.jsonl" --key "$work/cli-key.pem" \
    compare --no-liveness --remote "$url" --probe "$work/big.jpg" --gallery "$gallery" >"$work/cli.out" 2>&1
  code=$?
  set -e
  echo "result: compare --remote with a 36 MB probe: exit $code after $(( ($(date +%s%N) - start) / 1000000 )) ms: $(grep -o 'HTTP 413[^:]*' "$work/cli.out" | head -1)"
fi

# Stop with a slow upload still open: the shutdown must not wait for it (grace is for decisions).
port="${url##*:}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'POST /v2/face-recognition/compare HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"probe":' "$(cat "$work/token")" >&3
sleep 0.5
start=$(date +%s%N)
kill -TERM "$server_pid"
wait "$server_pid" || true
echo "result: shutdown with a slow upload connected: $(( ($(date +%s%N) - start) / 1000000 )) ms"
server_pid=""
exec 3>&-

if grep -qF "$(cat "$work/token")" "$work/serve.err" "$work/audit.jsonl" 2>/dev/null; then
  echo "hostile: FAIL: the token is in the server's log or records" >&2; exit 1
fi
echo "hostile: the token is in neither the server's log nor its records"
echo "hostile: refusals logged: $(grep -c 'refused' "$work/serve.err" || true) lines; by status: $(grep -o 'status=[0-9]*' "$work/serve.err" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
"$bin" record verify "$work/audit.jsonl"
