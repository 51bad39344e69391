#!/usr/bin/env bash
# Idle cost of the station in a real window under Xvfb: the release build with a 30 fps file
# camera (20 frames of ../shared/data/liveness/live), the probe frozen with Space (xdotool), and
# the station's CPU use over 20 s read from /proc/<pid>/stat (user + system time of all its
# threads). MODE=live skips the capture (a face in view: full-rate preview and detection).
# Usage: scripts/idle-cpu.sh [BINARY]   (default: the release build, built first if missing)
# Needs xvfb-run, xdotool (apt-get install xvfb xauth xdotool).
# On a shared, loaded machine the scheduler's fair share caps what the station gets (and so
# what is measured); as root the station runs at NICE (default -10) so that it gets what it asks
# for. NICE=0 measures it as an ordinary process.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="${1:-${CARGO_TARGET_DIR:-target}/release/facestation}"
if [ -z "${FACESTATION_IDLE_INNER:-}" ]; then
  scripts/setup.sh >&2
  if [ ! -x "$bin" ]; then
    echo "idle-cpu: building the release station (first time: several minutes)" >&2
    cargo build --release
  fi
  exec env FACESTATION_IDLE_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" "$0" "$bin"
fi
mode="${MODE:-frozen}"
secs="${SECONDS_MEASURED:-20}"
tmp="$(mktemp -d)"
app=""
cleanup() {
  if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; wait "$app" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/frames"
find ../shared/data/liveness/live -name 'apfol_video__unspecified__real2_frame*.png' | sort | head -20 |
  while read -r f; do cp "$f" "$tmp/frames/"; done
nice_level="${NICE:--10}"
[ "$(id -u)" = 0 ] || nice_level=0
# Our own X server (the one xvfb-run started for this display) draws every frame too.
xvfb_pid="$(pgrep -f "^Xvfb ${DISPLAY} " | head -1 || true)"
if [ -n "$xvfb_pid" ] && [ "$nice_level" != 0 ]; then
  renice -n "$nice_level" -p "$xvfb_pid" >/dev/null || true
fi
ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.cache/ort/libonnxruntime.so.1.31.1}" FACESTATION_STATS=1 \
  nice -n "$nice_level" "$bin" --models "${MODELS:-$root/../shared/models}" --camera-file "$tmp/frames" --camera-fps 30 \
  --log "$tmp/audit.jsonl" --key "$tmp/key.pem" 2>"$tmp/stderr" &
app=$!
# Models load and the first frames show.
sleep "${WARMUP:-12}"
wid="$(xdotool search --name FaceStation | head -1)"
if [ "$mode" = frozen ]; then
  xdotool windowfocus "$wid" 2>/dev/null || true
  xdotool key --window "$wid" space
fi
sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$app/stat"; }
t0="$(ticks)"
start="$(date +%s.%N)"
sleep "$secs"
t1="$(ticks)"
end="$(date +%s.%N)"
hz="$(getconf CLK_TCK)"
cpu="$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", (b - a) / hz / (e - s) * 100 }')"
echo "idle-cpu: mode $mode, 30 fps file camera, $secs s, nice $nice_level: ${cpu}% of one core (load $(cut -d' ' -f1 /proc/loadavg))"
grep "^stats:" "$tmp/stderr" | tail -2 || true
[ -n "${SHOW_STDERR:-}" ] && grep -v "^stats:" "$tmp/stderr" | sort | uniq -c | sort -rn | head -20
