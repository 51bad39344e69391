#!/usr/bin/env bash
# Real station windows under Xvfb, screenshotted into assets/: a gallery of 8 images, a probe
# captured from the file camera (Space) and compared (Enter), at 1280x800 and at 1920x1080.
# Photos are pixelated (--redact): the test photos under ../shared must not be published. The
# window starts from default settings (its own XDG_DATA_HOME), so the shots do not depend on this
# machine's saved settings.
# Writes assets/station-1280x800.png and assets/station-1920x1080.png (and assets/station.png,
# the 1280x800 one). Needs xvfb, xauth, xdotool, imagemagick (import).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="${CARGO_TARGET_DIR:-target}/release/facestation"
if [ -z "${FACESTATION_SHOT_INNER:-}" ]; then
  scripts/setup.sh >&2
  cargo build --release >&2
  for size in 1280x800 1920x1080; do
    env FACESTATION_SHOT_INNER="$size" xvfb-run -a -s "-screen 0 ${size}x24" "$0" "$@"
  done
  cp assets/station-1280x800.png assets/station.png
  exit 0
fi
size="$FACESTATION_SHOT_INNER"
out="$(mktemp -d)"
app=""
trap 'if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; fi; rm -rf "$out"' EXIT
live=../shared/data/liveness/live
faces=../shared/data/faces/face_recognition
mkdir -p "$out/frames"
cp "$live"/apfol_video__unspecified__real2_frame00{00,11,22,34,45}.png "$out/frames/"
gallery=(
  "$live/apfol_video__unspecified__real2_frame0135.png"
  "$live/apfol_video__unspecified__real2_frame0090.png"
  "$live/apfol_video__unspecified__real2_frame0112.png"
)
for f in "$faces"/*/*.jpg; do
  [ "${#gallery[@]}" -ge 8 ] && break
  gallery+=("$f")
done
ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.cache/ort/libonnxruntime.so.1.31.1}" \
  FACESTATION_WINDOW_SIZE="$size" FACESTATION_FILE_DIALOG=egui XDG_DATA_HOME="$out/data" \
  "$bin" --models "$root/../shared/models" --camera-file "$out/frames" --redact \
  --gallery "${gallery[@]}" --log "$out/audit.jsonl" --key "$out/key.pem" &
app=$!
sleep "${WARMUP:-12}"
wid="$(xdotool search --name FaceStation | head -1)"
xdotool windowfocus "$wid" 2>/dev/null || true
sleep 1
xdotool key --window "$wid" space
sleep 3
xdotool key --window "$wid" Return
sleep 6
# Move the pointer off the window's widgets: no hover text in the picture.
xdotool mousemove 5 5
sleep 1
import -window root "assets/station-$size.png"
echo "wrote assets/station-$size.png"
