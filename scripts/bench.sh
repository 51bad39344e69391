#!/usr/bin/env bash
# Benchmarks (not tests), all in one run on this machine:
#  1. speed: FaceStation FAST detect+align+embed per image vs the peer (face_recognition: dlib HOG
#     detect + ResNet encode) on the same LFW images, medians and their ratio;
#  2. warm compare (probe + 1 gallery image + liveness), median over repeated runs;
#  3. cold `facestation compare` (process start to JSON), median of repeated runs.
# Usage: scripts/bench.sh [PAIRS]   (PAIRS: how many LFW pairs, default 300 -> ~500 images)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
shared="${FACESTATION_SHARED:-$root/../shared}"
pairs="${1:-300}"
out="$root/bench-out"
mkdir -p "$out"
scripts/setup.sh >&2
cargo build --release --quiet
bin="$root/target/release/facestation"
venv="$root/.cache/peer-venv"
bash "$shared/peer/setup.sh" "$venv" >&2

# The same images for both: the first $pairs LFW pairs of pairs.csv.
head -1 "$shared/data/pairs.csv" > "$out/lfw_subset.csv"
awk -F, -v n="$pairs" 'NR > 1 && $4 ~ /^lfw_fold/ && c++ < n' "$shared/data/pairs.csv" >> "$out/lfw_subset.csv"

echo "== peer: face_recognition (dlib HOG + ResNet), $pairs LFW pairs" >&2
"$venv/bin/python" "$shared/peer/face_recognition_peer.py" --pairs "$out/lfw_subset.csv" --root "$shared/data" | tee "$out/peer.json"
echo "== station: FAST, same pairs" >&2
"$bin" --models "$shared/models" eval --pairs "$out/lfw_subset.csv" --root "$shared/data" --threads 1 --json > "$out/station.json"

probe="$shared/data/liveness/live/apfol_video__unspecified__real2_frame0135.png"
gallery="$shared/data/liveness/live/apfol_video__unspecified__real2_frame0000.png"
echo "== warm compare: 640x480 webcam probe + 1 gallery image + liveness" >&2
"$bin" --models "$shared/models" bench --probe "$probe" --gallery "$gallery" --runs 100 > "$out/warm.json"
"$bin" --models "$shared/models" bench --probe "$probe" --gallery "$gallery" --runs 50 --search-mode accurate > "$out/warm_accurate.json"

echo "== cold compare: process start to JSON, 15 runs" >&2
python3 - "$bin" "$shared/models" "$probe" "$gallery" "$out" <<'PY' > "$out/cold.json"
import json, statistics, subprocess, sys, tempfile, time, os
bin, models, probe, gallery, out = sys.argv[1:]
tmp = tempfile.mkdtemp()
walls = []
for i in range(16):
    t = time.perf_counter()
    r = subprocess.run([bin, "--models", models, "--log", os.path.join(tmp, "a.jsonl"), "--key", os.path.join(tmp, "k.pem"),
                        "compare", "--probe", probe, "--gallery", gallery, "--json"], capture_output=True)
    w = (time.perf_counter() - t) * 1000
    json.loads(r.stdout)
    if i > 0:  # the first run creates the key and warms the page cache
        walls.append(w)
print(json.dumps({"runs": len(walls), "median_ms": round(statistics.median(walls), 1), "max_ms": round(max(walls), 1)}))
PY

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
peer = json.load(open(f"{out}/peer.json"))
st = json.load(open(f"{out}/station.json"))
warm = json.load(open(f"{out}/warm.json"))
warm_acc = json.load(open(f"{out}/warm_accurate.json"))
cold = json.load(open(f"{out}/cold.json"))
ours = st["timing_per_image_ms"]["detect_align_embed"]["median_ms"]
theirs = peer["median_ms_per_image_wall"]
print(f"images: {peer['images']} (peer) / {st['images']} (station); no face: peer {peer['no_face_images']}, station {len(st['images_without_face'])}")
print(f"detect+encode per image, median: peer {theirs:.2f} ms, station FAST {ours:.2f} ms -> station is {theirs / ours:.1f}x faster")
print(f"accuracy on these pairs: peer {peer['accuracy_at_0.6_no_face_as_reject']:.4f} at 0.6; station at its default threshold {st['overall']['accuracy']:.4f}")
print(f"warm compare FAST (probe + 1 gallery + liveness): median {warm['compare_ms']['median_ms']:.1f} ms, p95 {warm['compare_ms']['p95_ms']:.1f} ms")
print(f"warm compare ACCURATE: median {warm_acc['compare_ms']['median_ms']:.1f} ms")
print(f"cold facestation compare (process start to JSON): median {cold['median_ms']:.0f} ms over {cold['runs']} runs (max {cold['max_ms']:.0f})")
PY
