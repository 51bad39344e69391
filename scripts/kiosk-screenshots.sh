#!/usr/bin/env bash
# The kiosk in a real window under Xvfb, driven by xdotool as a person with a badge reader would:
# type the ID, Enter, and nothing else until the answer. One screenshot per screen into
# assets/kiosk-{welcome,live-hint,hold-still,answer,erased,operator}.png. The camera view is
# pixelated (--redact): the test photos under ../shared must not be published.
# Needs xvfb, xdotool and imagemagick (apt-get install -y xvfb xdotool imagemagick).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -z "${FACESTATION_KIOSK_SHOT_INNER:-}" ]; then
  cargo build --quiet --bin facestation
  exec env FACESTATION_KIOSK_SHOT_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" "$0" "$@"
fi
bin="${CARGO_TARGET_DIR:-target}/debug/facestation"
work="$(mktemp -d)"
app=""
cleanup() {
  if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
live=../shared/data/liveness/live/apfol_video__unspecified__real2_frame
mkdir -p "$work/frames" "$work/enrolled/E100"
# The person approaching: three frames far away (35% on black), then six in position. At one
# frame a second: "move closer" for three seconds, then "hold still" until the capture.
i=0
for f in 0000 0011 0022; do
  convert "$live$f.png" -resize 35% -background black -gravity center -extent 640x480 \
    "$work/frames/0$i.png"
  i=$((i + 1))
done
for f in 0056 0067 0078 0112 0123 0135; do cp "$live$f.png" "$work/frames/1$f.png"; done
cp "${live}0213.png" "$work/enrolled/E100/1.png"
printf '4711\n' >"$work/pin"
chmod 600 "$work/pin"

shot() {
  import -window root "assets/kiosk-$1.png"
  echo "wrote assets/kiosk-$1.png"
}
# The colour of the screen's middle, e.g. "srgb(0,200,83)".
middle() {
  import -window root "$work/probe.png"
  convert "$work/probe.png" -format '%[pixel:p{640,560}]' info:
}
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
  local until=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$until" ]; then
      echo "kiosk-screenshots: timed out waiting for: $*" >&2
      exit 1
    fi
    sleep 0.2
  done
}
is_green() { [ "$(middle)" = "srgb(0,200,83)" ]; }
not_green() { ! is_green; }

"$bin" --log "$work/audit.jsonl" --key "$work/key.pem" kiosk --windowed --redact \
  --camera-file "$work/frames" --camera-fps 1 --enrolled "$work/enrolled" \
  --kiosk-id K1 --pin-file "$work/pin" &
app=$!
wid="$(xdotool search --sync --name 'FaceStation kiosk' | head -1)"
sleep 6 # the models load
# No window manager under Xvfb: give the (mapped) window the keyboard focus ourselves.
xdotool windowfocus --sync "$wid"
xdotool type --delay 80 E100
sleep 0.5
shot welcome
xdotool key Return
sleep 1.6
shot live-hint
sleep 3.2
shot hold-still
wait_for 30 is_green
sleep 0.5
shot answer
wait_for 15 not_green
sleep 0.3
shot erased
sleep 3
xdotool key ctrl+alt+o
sleep 0.5
xdotool type --delay 80 4711
xdotool key Return
sleep 1.5
shot operator
xdotool key Escape
grep -q '"verdict":"verified"' "$work/audit.jsonl" &&
  echo "kiosk-screenshots: the audit log holds the VERIFIED record of E100"
