#!/usr/bin/env bash
# A real station window under Xvfb: capture a probe (Space) from the file camera, compare (Enter),
# screenshot the screen into assets/station.png. Photos are pixelated (--redact): the test photos
# under ../shared must not be published. Needs xvfb, xdotool, imagemagick.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -z "${FACESTATION_SHOT_INNER:-}" ]; then
  cargo build --quiet
  exec env FACESTATION_SHOT_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" "$0" "$@"
fi
out="$(mktemp -d)"
live=../shared/data/liveness/live
cp "$live"/apfol_video__unspecified__real2_frame00{00,11,22,34,45}.png "$out/"
"${CARGO_TARGET_DIR:-target}/debug/facestation" --camera-file "$out" --redact \
  --gallery "$live/apfol_video__unspecified__real2_frame0135.png" \
  ../shared/data/faces/face_recognition/joe_biden/examples__biden.jpg \
  --log "$out/audit.jsonl" --key "$out/key.pem" &
app=$!
sleep 8
wid="$(xdotool search --name FaceStation | head -1)"
xdotool windowfocus "$wid" || true
sleep 1
xdotool key --window "$wid" space
sleep 2
xdotool key --window "$wid" Return
sleep 4
import -window root assets/station.png
kill "$app"
rm -rf "$out"
echo "wrote assets/station.png"
