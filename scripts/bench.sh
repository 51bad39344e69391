#!/usr/bin/env bash
# Benchmarks (not tests), all in one run on this machine, station and peer side by side:
#  1. per image: FaceStation FAST (and ACCURATE) detect+align+embed vs the peer (face_recognition:
#     dlib HOG detect + ResNet encode) on the same LFW images: medians, the station's mean (a
#     cascade's second stage only runs for some images, so its mean is the honest per-image cost),
#     wall and CPU, and their ratios;
#  2. whole process: a small and a large `eval` run of each side, the slope between them (seconds
#     per extra image), so start-up (model loading, Python imports) cancels; medians of 3;
#  3. warm compare (probe + 1 gallery image + liveness), FAST and ACCURATE, median of repeated runs,
#     on the engine's pipelines (one per core) and on one;
#  4. cold `facestation compare` (process start to JSON), median of repeated runs;
#  5. 1:N: a probe against 100 gallery images and the cost per extra gallery image;
#  6. a cached `eval` re-run (descriptor cache) against the first, uncached, run.
# Usage: scripts/bench.sh [PAIRS]   (PAIRS: how many LFW pairs, default 300 -> ~500 images)
# Outputs: bench-out/*.json and a summary on stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
shared="${FACESTATION_SHARED:-$root/../shared}"
pairs="${1:-300}"
small=$((pairs / 6))
out="$root/bench-out"
mkdir -p "$out"
scripts/setup.sh >&2
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/release/facestation"
venv="$root/.cache/peer-venv"
bash "$shared/peer/setup.sh" "$venv" >&2
models="$shared/models"
data="$shared/data"

# The same images for both: $pairs LFW pairs spread evenly over pairs.csv's LFW folds (every k-th),
# so genuine and impostor pairs both count (the file's first pairs are all genuine, and a cascade's
# second stage runs more often for genuine pairs); the small run is every k-th of the $small.
subset() {
  head -1 "$data/pairs.csv" > "$2"
  local total
  total=$(awk -F, 'NR > 1 && $4 ~ /^lfw_fold/' "$data/pairs.csv" | wc -l)
  awk -F, -v n="$1" -v k="$((total / $1))" \
    'NR > 1 && $4 ~ /^lfw_fold/ { if (c % k == 0 && c / k < n) print; c++ }' "$data/pairs.csv" >> "$2"
}
subset "$pairs" "$out/lfw_subset.csv"
subset "$small" "$out/lfw_small.csv"

echo "== 1. per image: peer, station FAST, station ACCURATE on $pairs LFW pairs" >&2
"$venv/bin/python" "$shared/peer/face_recognition_peer.py" --pairs "$out/lfw_subset.csv" --root "$data" > "$out/peer.json"
for mode in fast accurate; do
  "$bin" --models "$models" eval --pairs "$out/lfw_subset.csv" --root "$data" --search-mode "$mode" \
    --threads 1 --no-cache --max-unscorable 100 --json > "$out/station_$mode.json"
done

echo "== 2. whole process: $small and $pairs pairs, each side, 3 times" >&2
python3 - "$bin" "$models" "$data" "$venv/bin/python" "$shared/peer/face_recognition_peer.py" "$out" <<'PY' > "$out/slope.json"
import json, statistics, subprocess, sys, time
bin, models, data, py, peer, out = sys.argv[1:]
def images(csv):
    s = set()
    for line in open(csv).read().splitlines()[1:]:
        a, b = line.split(",")[:2]
        s.update((a, b))
    return len(s)
def wall(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t
sides = {
    "peer": lambda csv: [py, peer, "--pairs", csv, "--root", data],
    "station_fast": lambda csv: [bin, "--models", models, "eval", "--pairs", csv, "--root", data,
                                 "--no-cache", "--max-unscorable", "100", "--json"],
}
res = {}
small, large = f"{out}/lfw_small.csv", f"{out}/lfw_subset.csv"
ns, nl = images(small), images(large)
for name, cmd in sides.items():
    ts, tl = [], []
    for _ in range(3):  # interleaved, so drift in the machine's load hits both sizes alike
        ts.append(wall(cmd(small)))
        tl.append(wall(cmd(large)))
    ms, ml = statistics.median(ts), statistics.median(tl)
    res[name] = {"small_s": round(ms, 3), "large_s": round(ml, 3),
                 "ms_per_image": round((ml - ms) / (nl - ns) * 1000, 3)}
res["images"] = {"small": ns, "large": nl}
res["ratio_peer_over_station"] = round(res["peer"]["ms_per_image"] / res["station_fast"]["ms_per_image"], 2)
print(json.dumps(res))
PY

probe="$data/liveness/live/apfol_video__unspecified__real2_frame0135.png"
gallery="$data/liveness/live/apfol_video__unspecified__real2_frame0000.png"
echo "== 3. warm compare: 640x480 webcam probe + 1 gallery frame + liveness, on the engine's pipelines and on one" >&2
# FAST is a cascade: the pair above needs its second stage (int8 dlib scores it inside 0.2-0.999);
# a later frame of the same video is decided by int8 dlib alone. Both paths, timed; each also on
# one pipeline (the images one after another) for the ratio, interleaved so load hits both alike.
for p in default 1; do
  flag=()
  suffix=""
  if [ "$p" = 1 ]; then flag=(--pipelines 1); suffix="_1"; fi
  "$bin" --models "$models" bench --probe "$probe" --gallery "$gallery" --runs 100 "${flag[@]}" > "$out/warm$suffix.json"
  "$bin" --models "$models" bench --probe "$probe" --gallery "$gallery" --runs 50 --search-mode accurate "${flag[@]}" > "$out/warm_accurate$suffix.json"
  "$bin" --models "$models" bench --probe "$data/liveness/live/apfol_video__unspecified__real2_frame0146.png" \
    --gallery "$gallery" --runs 100 "${flag[@]}" > "$out/warm_one_stage$suffix.json"
done

echo "== 4. cold compare: process start to JSON, 15 runs" >&2
python3 - "$bin" "$models" "$probe" "$gallery" <<'PY' > "$out/cold.json"
import json, statistics, subprocess, sys, tempfile, time, os
bin, models, probe, gallery = sys.argv[1:]
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

echo "== 5. 1:N: the webcam probe against 100 LFW gallery images" >&2
mapfile -t many < <(awk -F, 'NR > 1 {print $1; print $2}' "$out/lfw_subset.csv" | sort -u | head -100)
many=("${many[@]/#/$data/}")
for mode in fast accurate; do
  "$bin" --models "$models" bench --probe "$probe" --gallery "${many[@]}" --runs 15 --search-mode "$mode" \
    --no-liveness --one-to-n 100 > "$out/one_to_n_$mode.json"
done

echo "== 6. cached eval re-run: the $pairs pairs, FAST then ACCURATE, twice, into a fresh cache" >&2
cache="$(mktemp -d)"
python3 - "$bin" "$models" "$data" "$out/lfw_subset.csv" "$cache" <<'PY' > "$out/cache.json"
import json, subprocess, sys, time
bin, models, data, csv, cache = sys.argv[1:]
res = {}
for run in ("first", "second"):
    for mode in ("fast", "accurate"):
        t = time.perf_counter()
        r = subprocess.run([bin, "--models", models, "eval", "--pairs", csv, "--root", data, "--search-mode", mode,
                            "--cache", cache, "--max-unscorable", "100", "--json"], capture_output=True, check=True)
        rep = json.loads(r.stdout)
        res[f"{run}_{mode}"] = {"wall_s": round(time.perf_counter() - t, 3), "misses": rep["cache"]["misses"],
                                "hits": rep["cache"]["hits"], "accuracy": rep["overall"]["accuracy"]}
print(json.dumps(res))
PY
rm -rf "$cache"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
peer = json.load(open(f"{out}/peer.json"))
slope = json.load(open(f"{out}/slope.json"))
def t(r, k):
    return r["timing_per_image_ms"][k]
print(f"images: {peer['images']} (peer); no face: peer {peer['no_face_images']}")
theirs, theirs_cpu = peer["median_ms_per_image_wall"], peer["median_ms_per_image_cpu"]
print(f"peer detect+encode per image: median {theirs:.2f} ms wall, {theirs_cpu:.2f} ms CPU")
for mode in ("fast", "accurate"):
    st = json.load(open(f"{out}/station_{mode}.json"))
    w, c = t(st, "detect_align_embed"), t(st, "detect_align_embed_cpu")
    share = st.get("second_stage_image_share")
    if share is not None:
        print(f"station {mode.upper()}: the cascade's second stage ran for {share:.1%} of the images")
    print(f"station {mode.upper()} ({st['plan']}): {st['images']} images, {len(st['images_without_face'])} without a face; "
          f"per image wall median {w['median_ms']:.2f} / mean {w['mean_ms']:.2f} ms, CPU median {c['median_ms']:.2f} / mean {c['mean_ms']:.2f} ms "
          f"-> peer/station (wall median / mean, CPU mean): {theirs / w['median_ms']:.1f}x / {theirs / w['mean_ms']:.1f}x, {theirs_cpu / c['mean_ms']:.1f}x")
print(f"whole process, slope {slope['images']['small']} -> {slope['images']['large']} images: peer {slope['peer']['ms_per_image']:.2f} ms/image, "
      f"station FAST {slope['station_fast']['ms_per_image']:.2f} ms/image -> {slope['ratio_peer_over_station']:.1f}x")
paths = {"warm": "both stages", "warm_one_stage": "first stage decides", "warm_accurate": "fusion"}
for name in ("warm", "warm_one_stage", "warm_accurate"):
    w, w1 = json.load(open(f"{out}/{name}.json")), json.load(open(f"{out}/{name}_1.json"))
    s = w["stages_ms"]
    print(f"warm compare {w['search_mode']} ({w['plan']}; {paths[name]}): {w['pipelines']} pipelines median {w['compare_ms']['median_ms']:.1f} ms, p95 {w['compare_ms']['p95_ms']:.1f}; "
          f"1 pipeline median {w1['compare_ms']['median_ms']:.1f} ms -> {w1['compare_ms']['median_ms'] / w['compare_ms']['median_ms']:.2f}x "
          f"(work summed over pipelines: decode {s['decode']['median_ms']:.1f}, detect {s['detect']['median_ms']:.1f}, align+embed {s['align_embed']['median_ms']:.1f}, liveness {s['liveness']['median_ms']:.1f}, quality {s['quality']['median_ms']:.1f})")
cold = json.load(open(f"{out}/cold.json"))
print(f"cold facestation compare (process start to JSON): median {cold['median_ms']:.0f} ms over {cold['runs']} runs (max {cold['max_ms']:.0f})")
for mode in ("fast", "accurate"):
    o = json.load(open(f"{out}/one_to_n_{mode}.json"))["one_to_n"]
    print(f"1:N {mode.upper()}: probe vs 1 {o['probe_vs_1_ms']['median_ms']:.1f} ms, vs {o['gallery_images']} {o['probe_vs_n_ms']['median_ms']:.0f} ms "
          f"-> {o['per_extra_gallery_image_ms']:.2f} ms per extra gallery image")
c = json.load(open(f"{out}/cache.json"))
for mode in ("fast", "accurate"):
    f, s = c[f"first_{mode}"], c[f"second_{mode}"]
    print(f"eval {mode.upper()} uncached {f['wall_s']:.2f} s ({f['misses']} descriptors computed), cached re-run {s['wall_s']:.2f} s "
          f"({s['misses']} computed, {s['hits']} read); same accuracy: {f['accuracy'] == s['accuracy']}")
PY
