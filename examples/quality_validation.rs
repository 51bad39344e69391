//! Checks the quality measures against data (docs/quality.md reports what this prints).
//!
//! `cargo run --release --example quality_validation -- MODE [--limit N] [--dump FILE] [--scores FILE]`
//!
//! Modes:
//! - `synthetic`: synthetic degradations of the dev full frames (liveness/labels.csv live full
//!   frames) and of the LFW images of pairs.csv; per degradation, how often the hint shown (the
//!   report's first action) is the expected one, and how often clean images pass. `--dump FILE`
//!   writes every raw value as CSV (what the thresholds were chosen on).
//! - `edc`: error-versus-discard on LFW folds 1-5: FNMR at the default FAST threshold after
//!   dropping the lowest-quality genuine pairs (pair quality = the lower image's). `--scores FILE`
//!   reads the pair scores written by `facestation eval --scores FILE` instead of computing them.
//! - `study`: recognition impact of face size and blur on LFW folds 1-2 genuine pairs (the data the
//!   inter-eye-distance and sharpness thresholds were chosen on).
//! - `timing`: per-frame cost of quality + hint at 640x480 (apfol_video frames), median of 200,
//!   with and without the head-pose model, detection excluded.
//!
//! Reads ../shared (or FACESTATION_SHARED); writes nothing except `--dump`.

#![allow(clippy::needless_range_loop)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use facestation::api::SearchMode;
use facestation::engine::local::Scoring;
use facestation::engine::score::default_threshold;
use facestation::engine::{FacePolicy, ImageRole, LocalVerifier, Pipeline, PipelineConfig};
use facestation::runtime::VerifiedModels;
use facestation::vision::pose::{landmark_pose, HeadPoseModel};
use facestation::vision::quality::{
    assess_subject, face_stats, Action, QualityAssessor, QualityReport, QualityThresholds,
};
use facestation::vision::{decode_image, DecodeLimits, Detector, DetectorConfig, Face};
use image::{Rgb, RgbImage};

fn shared() -> PathBuf {
    std::env::var_os("FACESTATION_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

struct Opts {
    mode: String,
    limit: Option<usize>,
    dump: Option<PathBuf>,
    scores: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        mode: String::new(),
        limit: None,
        dump: None,
        scores: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--limit" => o.limit = args.next().and_then(|v| v.parse().ok()),
            "--dump" => o.dump = args.next().map(PathBuf::from),
            "--scores" => o.scores = args.next().map(PathBuf::from),
            m if o.mode.is_empty() => o.mode = m.to_string(),
            other => panic!("unknown argument {other}"),
        }
    }
    if o.mode.is_empty() {
        o.mode = "synthetic".into();
    }
    o
}

fn main() {
    let o = opts();
    match o.mode.as_str() {
        "synthetic" => synthetic(&o),
        "edc" => edc(&o),
        "study" => study(&o),
        "timing" => timing(),
        m => panic!("unknown mode {m} (synthetic, edc, study, timing)"),
    }
}

// ------------------------------------------------------------------------------------------------
// Data

struct Sample {
    path: String,
    /// `live_frame`, `spoof_frame` or `lfw`.
    set: &'static str,
    /// `tune` (chose thresholds) or `check`.
    split: &'static str,
    fold: u32,
}

fn load(path: &str) -> Option<RgbImage> {
    let bytes = std::fs::read(shared().join("data").join(path)).ok()?;
    decode_image(&bytes, &DecodeLimits::default()).ok()
}

fn pairs() -> Vec<facestation::eval::PairRow> {
    let text = std::fs::read_to_string(shared().join("data/pairs.csv")).expect("pairs.csv");
    let mut rows = facestation::eval::read_pairs_csv(&text).expect("pairs");
    rows.retain(|r| r.source.starts_with("lfw_fold"));
    rows
}

fn fold_of(source: &str) -> u32 {
    source.trim_start_matches("lfw_fold").parse().unwrap_or(0)
}

fn samples(limit: Option<usize>) -> Vec<Sample> {
    let mut out = Vec::new();
    let labels =
        std::fs::read_to_string(shared().join("data/liveness/labels.csv")).expect("labels.csv");
    for line in labels.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        if c.len() > 5 && c[5] == "full_frame" {
            let live = c[1] == "live";
            out.push(Sample {
                path: c[0].to_string(),
                set: if live { "live_frame" } else { "spoof_frame" },
                split: if live { "check" } else { "tune" },
                fold: 0,
            });
        }
    }
    let mut seen = BTreeMap::new();
    for r in pairs() {
        for p in [&r.a, &r.b] {
            seen.entry(p.clone()).or_insert_with(|| fold_of(&r.source));
        }
    }
    let mut lfw: Vec<Sample> = seen
        .into_iter()
        .map(|(path, fold)| Sample {
            path,
            set: "lfw",
            split: if fold <= 2 { "tune" } else { "check" },
            fold,
        })
        .collect();
    if let Some(n) = limit {
        // An even spread over the sorted list (every k-th image), not the first names.
        let k = (lfw.len() / n.max(1)).max(1);
        lfw = lfw.into_iter().step_by(k).take(n).collect();
    }
    out.extend(lfw);
    out
}

struct Models {
    detector: Detector,
    assessor: QualityAssessor,
    models: VerifiedModels,
}

fn models() -> Models {
    let models = VerifiedModels::verify(&shared().join("models")).expect("models verify");
    let detector = Detector::new(
        models.session("detector", 1).expect("detector"),
        DetectorConfig::default(),
    );
    let assessor =
        QualityAssessor::load(&models, QualityThresholds::default()).expect("head pose model");
    Models {
        detector,
        assessor,
        models,
    }
}

/// The face nearest the image centre (as `facestation eval` chooses on LFW).
fn centre_face(faces: &[Face], img: &RgbImage) -> Option<Face> {
    Pipeline::choose_face(
        faces,
        FacePolicy::Centre,
        ImageRole::Probe,
        img.dimensions(),
    )
    .ok()
    .map(|(f, _)| f)
}

fn ied(f: &Face) -> f32 {
    let [l, r, ..] = f.landmarks;
    ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
}

// ------------------------------------------------------------------------------------------------
// Image operations for the degradations

/// splitmix64: a fixed, seedable stream (the validation must give the same numbers each run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next()
    }
    fn sign(&mut self) -> f64 {
        if self.next() < 0.5 {
            -1.0
        } else {
            1.0
        }
    }
}

/// Bilinear sample with clamp-to-edge, or `fill` outside the image when given.
fn sample(img: &RgbImage, x: f64, y: f64, fill: Option<[f64; 3]>) -> [f64; 3] {
    let (w, h) = (img.width() as f64, img.height() as f64);
    if let Some(f) = fill {
        if x < -0.5 || y < -0.5 || x > w - 0.5 || y > h - 0.5 {
            return f;
        }
    }
    let x = x.clamp(0.0, w - 1.0);
    let y = y.clamp(0.0, h - 1.0);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width() - 1),
        (y0 + 1).min(img.height() - 1),
    );
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let p = |xx, yy| img.get_pixel(xx, yy).0;
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = f64::from(p(x0, y0)[c]) * (1.0 - fx) + f64::from(p(x1, y0)[c]) * fx;
        let bot = f64::from(p(x0, y1)[c]) * (1.0 - fx) + f64::from(p(x1, y1)[c]) * fx;
        *o = top * (1.0 - fy) + bot * fy;
    }
    out
}

fn px(v: [f64; 3]) -> Rgb<u8> {
    Rgb(v.map(|c| c.round().clamp(0.0, 255.0) as u8))
}

/// Destination pixel (x, y) takes the source at `map(x, y)`.
fn warp(
    img: &RgbImage,
    w: u32,
    h: u32,
    fill: Option<[f64; 3]>,
    map: impl Fn(f64, f64) -> (f64, f64),
) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (sx, sy) = map(f64::from(x), f64::from(y));
        px(sample(img, sx, sy, fill))
    })
}

fn mean_colour(img: &RgbImage) -> [f64; 3] {
    let mut s = [0.0; 3];
    for p in img.pixels() {
        for c in 0..3 {
            s[c] += f64::from(p.0[c]);
        }
    }
    let n = f64::from(img.width() * img.height()).max(1.0);
    s.map(|v| v / n)
}

fn gain(img: &RgbImage, k: f64) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        *p = px(p.0.map(|c| f64::from(c) * k));
    }
    out
}

/// Averages `taps` samples along a line of `length` pixels at `angle` (motion blur).
fn motion_blur(img: &RgbImage, length: f64, angle: f64) -> RgbImage {
    let taps = (length.ceil() as usize).max(2) + 1;
    let (dx, dy) = (angle.cos(), angle.sin());
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let mut acc = [0.0; 3];
        for i in 0..taps {
            let t = (i as f64 / (taps - 1) as f64 - 0.5) * length;
            let s = sample(img, f64::from(x) + t * dx, f64::from(y) + t * dy, None);
            for c in 0..3 {
                acc[c] += s[c];
            }
        }
        px(acc.map(|v| v / taps as f64))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Clean,
    Blur,
    MotionBlur,
    Darken,
    OverExpose,
    ScaleDown,
    TooClose,
    Shift,
    Rotate,
    SideLight,
    TwoFaces,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Clean,
        Kind::Blur,
        Kind::MotionBlur,
        Kind::Darken,
        Kind::OverExpose,
        Kind::ScaleDown,
        Kind::TooClose,
        Kind::Shift,
        Kind::Rotate,
        Kind::SideLight,
        Kind::TwoFaces,
    ];
    fn name(&self) -> &'static str {
        match self {
            Kind::Clean => "clean",
            Kind::Blur => "blur",
            Kind::MotionBlur => "motion_blur",
            Kind::Darken => "darken",
            Kind::OverExpose => "over_expose",
            Kind::ScaleDown => "scale_down",
            Kind::TooClose => "too_close",
            Kind::Shift => "shift_off_centre",
            Kind::Rotate => "rotate_roll",
            Kind::SideLight => "side_light",
            Kind::TwoFaces => "two_faces",
        }
    }
    fn expected(&self) -> Option<Action> {
        match self {
            Kind::Clean => None,
            Kind::Blur => Some(Action::TooBlurry),
            Kind::MotionBlur => Some(Action::HoldStill),
            Kind::Darken => Some(Action::TooDark),
            Kind::OverExpose => Some(Action::TooBright),
            Kind::ScaleDown => Some(Action::MoveCloser),
            Kind::TooClose => Some(Action::StepBack),
            Kind::Shift => Some(Action::CentreFace),
            Kind::Rotate => Some(Action::HeadTilted),
            Kind::SideLight => Some(Action::FaceTheLight),
            Kind::TwoFaces => Some(Action::OnePersonOnly),
        }
    }
}

/// The degraded image and the parameter used. `face` is the subject of the clean image, `other`
/// an image of someone else (for two faces).
fn degrade(
    kind: Kind,
    img: &RgbImage,
    face: &Face,
    other: &RgbImage,
    t: &QualityThresholds,
    rng: &mut Rng,
) -> (RgbImage, f64) {
    let (w, h) = img.dimensions();
    let e = f64::from(ied(face)).max(1.0);
    let face_lum = face_stats(img, face).luminance_mean.unwrap_or(128.0);
    let (fcx, fcy) = face.bbox.centre();
    let (fcx, fcy) = (f64::from(fcx), f64::from(fcy));
    match kind {
        Kind::Clean => (img.clone(), 0.0),
        Kind::Blur => {
            // Gaussian (defocus) with sigma a fixed fraction of the inter-eye distance.
            let s = rng.range(0.06, 0.10) * e;
            (image::imageops::blur(img, s as f32), s / e)
        }
        Kind::MotionBlur => {
            let l = rng.range(0.25, 0.4) * e;
            let a = rng.range(0.0, std::f64::consts::PI);
            (motion_blur(img, l, a), l / e)
        }
        Kind::Darken => {
            // The inner face's mean luma brought to 12-35 (a frame 2-3 stops under).
            let target = rng.range(12.0, 35.0);
            (gain(img, target / face_lum.max(1.0)), target)
        }
        Kind::OverExpose => {
            // The inner face's mean brought to 215-240 before clipping (2-3 stops over).
            let target = rng.range(215.0, 240.0);
            (gain(img, target / face_lum.max(1.0)), target)
        }
        Kind::ScaleDown => {
            // The person farther away: the frame shrunk so that the eyes are 50-80% of the
            // threshold apart (50-80%), pasted centred on a canvas of the frame's size and mean colour.
            let target = rng.range(0.5, 0.8) * t.min_inter_eye_distance;
            let k = target / e;
            let (ox, oy) = (
                f64::from(w) * (1.0 - k) / 2.0,
                f64::from(h) * (1.0 - k) / 2.0,
            );
            let fill = mean_colour(img);
            let small = image::imageops::resize(
                img,
                ((f64::from(w) * k).round() as u32).max(1),
                ((f64::from(h) * k).round() as u32).max(1),
                image::imageops::FilterType::Triangle,
            );
            (
                warp(&small, w, h, Some(fill), |x, y| (x - ox, y - oy)),
                target,
            )
        }
        Kind::TooClose => {
            // The face filling the frame: a window 1.1-1.4x the face box around it, enlarged.
            let side = rng.range(1.1, 1.4) * f64::from(face.bbox.width.max(face.bbox.height));
            let (sw, sh) = (side, side * f64::from(h) / f64::from(w));
            let (x0, y0) = (fcx - sw / 2.0, fcy - sh / 2.0);
            (
                warp(img, w, h, None, |x, y| {
                    (x0 + x * sw / f64::from(w), y0 + y * sh / f64::from(h))
                }),
                side / f64::from(face.bbox.width),
            )
        }
        Kind::Shift => {
            // The face centre moved to 30-38% of the frame width off the centre (edge replicated).
            let off = rng.range(0.30, 0.38) * rng.sign();
            let dx = f64::from(w) * (0.5 + off) - fcx;
            (warp(img, w, h, None, |x, y| (x - dx, y)), off)
        }
        Kind::Rotate => {
            let deg = rng.range(25.0, 35.0) * rng.sign();
            let (s, c) = deg.to_radians().sin_cos();
            (
                warp(img, w, h, None, |x, y| {
                    let (dx, dy) = (x - fcx, y - fcy);
                    (fcx + c * dx + s * dy, fcy - s * dx + c * dy)
                }),
                deg,
            )
        }
        Kind::SideLight => {
            // One side of the face in shadow: the gain steps from 1 to 0.25-0.4 at the nose,
            // smoothly over 0.4 inter-eye distances.
            // The side already darker is the one put in shadow (light from the other side).
            let lo = rng.range(0.2, 0.35);
            let right_dark = half_means(img, face).map(|(l, r)| r <= l).unwrap_or(true);
            let nose = f64::from(face.landmarks[2][0]);
            let width = 0.4 * e;
            let mut out = img.clone();
            for (x, _, p) in out.enumerate_pixels_mut() {
                let u = ((f64::from(x) - nose) / width + 0.5).clamp(0.0, 1.0);
                let u = if right_dark { u } else { 1.0 - u };
                let k = 1.0 - (1.0 - lo) * u;
                *p = px(p.0.map(|c| f64::from(c) * k));
            }
            (out, lo)
        }
        Kind::TwoFaces => {
            // Someone else beside the person: the other image, scaled to the same height, joined
            // on the right.
            let ow = (f64::from(other.width()) * f64::from(h) / f64::from(other.height().max(1)))
                .round()
                .max(1.0) as u32;
            let other =
                image::imageops::resize(other, ow, h, image::imageops::FilterType::Triangle);
            let mut out = RgbImage::new(w + ow, h);
            image::imageops::replace(&mut out, img, 0, 0);
            image::imageops::replace(&mut out, &other, i64::from(w), 0);
            (out, 0.0)
        }
    }
}

/// Mean luma of the face box left and right of the nose.
fn half_means(img: &RgbImage, face: &Face) -> Option<(f64, f64)> {
    let b = face.bbox;
    let nose = f64::from(face.landmarks[2][0]);
    let (mut l, mut nl, mut r, mut nr) = (0.0, 0.0, 0.0, 0.0);
    let y0 = b.y.max(0.0) as u32;
    let y1 = ((b.y + b.height).max(0.0) as u32).min(img.height());
    let x0 = b.x.max(0.0) as u32;
    let x1 = ((b.x + b.width).max(0.0) as u32).min(img.width());
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            let v = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            if f64::from(x) < nose {
                l += v;
                nl += 1.0;
            } else {
                r += v;
                nr += 1.0;
            }
        }
    }
    (nl > 0.0 && nr > 0.0).then(|| (l / nl, r / nr))
}

// ------------------------------------------------------------------------------------------------
// synthetic

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.5}")).unwrap_or_default()
}

fn synthetic(o: &Opts) {
    let mut m = models();
    let t = m.assessor.thresholds.clone();
    let all = samples(o.limit);
    let mut dump = o.dump.as_ref().map(|p| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(p).expect("dump file"));
        writeln!(
            f,
            "set,split,path,kind,param,faces,counted,action,actions,passed,quality,\
             ied,context,hoff,lcrop,rcrop,above,below,lum,under,over,dr,unif,unif_hist,sharp,lapvar,coh,\
             sharp_max,aniso,lap_sharp,\
             yaw,pitch,roll,lm_yaw,lm_pitch,lm_roll"
        )
        .expect("write");
        f
    });
    // (set, kind) -> [n, right, n on clean-passing, right on clean-passing, no face found,
    // sharpness code, sharpness code on clean-passing]: for the two blurs, the hint shown is the
    // sharpness measure's code of either kind (hold_still or too_blurry; the one measure).
    let mut tally: BTreeMap<(&str, Kind), [usize; 7]> = BTreeMap::new();
    let mut confusion: BTreeMap<(Kind, String), usize> = BTreeMap::new();
    let start = Instant::now();
    for (i, s) in all.iter().enumerate() {
        if i % 200 == 0 {
            eprintln!(
                "synthetic: {i}/{} ({:.0} s)",
                all.len(),
                start.elapsed().as_secs_f64()
            );
        }
        let Some(img) = load(&s.path) else {
            eprintln!("cannot read {}", s.path);
            continue;
        };
        let faces = m.detector.detect(&img).expect("detect");
        let subject = if s.set == "lfw" {
            centre_face(&faces, &img)
        } else {
            facestation::vision::quality::largest_face(&faces)
        };
        let Some(subject) = subject else {
            continue;
        };
        // The other person for "two faces": the next sample of the same set.
        let other_path = all
            .iter()
            .cycle()
            .skip(i + 1)
            .find(|x| x.set == s.set && x.path != s.path)
            .map(|x| x.path.clone())
            .unwrap_or_default();
        let other = load(&other_path).unwrap_or_else(|| img.clone());
        let mut rng = Rng(0x5EED_0000 + i as u64);
        let mut clean_passed = false;
        for kind in Kind::ALL {
            let (deg, param) = degrade(kind, &img, &subject, &other, &t, &mut rng);
            let faces = m.detector.detect(&deg).expect("detect");
            // The subject is the largest face for webcam frames (the engine's rule); on LFW the
            // face nearest the subject's place (LFW images show bystanders).
            let subject_now = if s.set == "lfw" && kind != Kind::TwoFaces {
                centre_face(&faces, &deg)
            } else {
                facestation::vision::quality::largest_face(&faces)
            };
            let r = m
                .assessor
                .assess_subject(&deg, &faces, subject_now.as_ref());
            if kind == Kind::Clean {
                clean_passed = r.passed;
            }
            let right = match kind.expected() {
                None => r.passed,
                Some(a) => r.action == Some(a),
            };
            let e = tally.entry((s.set, kind)).or_default();
            e[0] += 1;
            e[1] += usize::from(right);
            if clean_passed || kind == Kind::Clean {
                e[2] += 1;
                e[3] += usize::from(right);
            }
            e[4] += usize::from(faces.is_empty());
            let sharpness_code = matches!(r.action, Some(Action::HoldStill | Action::TooBlurry));
            e[5] += usize::from(sharpness_code);
            if clean_passed || kind == Kind::Clean {
                e[6] += usize::from(sharpness_code);
            }
            if s.split == "check" {
                *confusion
                    .entry((
                        kind,
                        r.action.map(|a| a.code()).unwrap_or("pass").to_string(),
                    ))
                    .or_default() += 1;
            }
            if let Some(f) = dump.as_mut() {
                write_row(f, s, kind, param, &deg, &faces, subject_now.as_ref(), &r);
            }
        }
    }
    println!(
        "synthetic degradations: right hint (first action) per degradation; thresholds = defaults"
    );
    println!(
        "{:<12} {:<18} {:>6} {:>8} {:>18} {:>8} {:>12}",
        "set",
        "degradation",
        "n",
        "right %",
        "right % (clean ok)",
        "no face",
        "sharpness code % (hold_still or too_blurry): all / clean ok"
    );
    let mut totals: BTreeMap<Kind, [usize; 7]> = BTreeMap::new();
    for ((set, kind), v) in &tally {
        let t = totals.entry(*kind).or_default();
        for i in 0..7 {
            t[i] += v[i];
        }
        line(set, *kind, v);
    }
    println!("-- all sets");
    for (kind, v) in &totals {
        line("all", *kind, v);
    }
    println!("\nhints given on the check split (degradation -> hint: count)");
    let mut last = None;
    for ((kind, code), n) in &confusion {
        if last != Some(*kind) {
            print!("\n{:<18}", kind.name());
            last = Some(*kind);
        }
        print!(" {code}:{n}");
    }
    println!();
}

fn line(set: &str, kind: Kind, v: &[usize; 7]) {
    let blur = if matches!(kind, Kind::Blur | Kind::MotionBlur) {
        format!(
            "{:.1} / {:.1}",
            100.0 * v[5] as f64 / v[0].max(1) as f64,
            100.0 * v[6] as f64 / v[2].max(1) as f64
        )
    } else {
        "-".into()
    };
    println!(
        "{:<12} {:<18} {:>6} {:>8.1} {:>10.1} of {:<5} {:>8} {:>12}",
        set,
        kind.name(),
        v[0],
        100.0 * v[1] as f64 / v[0].max(1) as f64,
        100.0 * v[3] as f64 / v[2].max(1) as f64,
        v[2],
        v[4],
        blur
    );
}

#[allow(clippy::too_many_arguments)]
fn write_row(
    f: &mut impl std::io::Write,
    s: &Sample,
    kind: Kind,
    param: f64,
    img: &RgbImage,
    faces: &[Face],
    subject: Option<&Face>,
    r: &QualityReport,
) {
    let st = subject.map(|f| face_stats(img, f)).unwrap_or_default();
    let lm = subject.and_then(landmark_pose);
    let model = r
        .pose
        .filter(|p| p.source == facestation::vision::pose::PoseSource::Model);
    let actions: Vec<&str> = r.actions.iter().map(|a| a.code()).collect();
    writeln!(
        f,
        "{},{},{},{},{:.4},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        s.set,
        s.split,
        s.path,
        kind.name(),
        param,
        faces.len(),
        r.faces_counted,
        r.action.map(|a| a.code()).unwrap_or("pass"),
        actions.join("|"),
        u8::from(r.passed),
        opt(r.quality),
        opt(st.inter_eye_distance),
        opt(st.liveness_context),
        opt(st.horizontal_offset),
        opt(st.leftward_crop),
        opt(st.rightward_crop),
        opt(st.margin_above),
        opt(st.margin_below),
        opt(st.luminance_mean),
        opt(st.under_exposure),
        opt(st.over_exposure),
        opt(st.dynamic_range),
        opt(st.illumination_uniformity),
        opt(st.illumination_histogram),
        opt(st.sharpness),
        opt(st.laplacian_variance),
        opt(st.gradient_coherence),
        opt(st.sharpness_max),
        opt(st.sharpness_anisotropy),
        opt(st.laplacian_sharpness),
        opt(model.map(|p| f64::from(p.yaw))),
        opt(model.map(|p| f64::from(p.pitch))),
        opt(model.map(|p| f64::from(p.roll))),
        opt(lm.map(|p| f64::from(p.yaw))),
        opt(lm.map(|p| f64::from(p.pitch))),
        opt(lm.map(|p| f64::from(p.roll))),
    )
    .expect("write");
    let _ = s.fold;
}

// ------------------------------------------------------------------------------------------------
// edc

fn edc(o: &Opts) {
    let rows = pairs();
    let threshold = default_threshold(SearchMode::Fast);
    // Pair scores: from `facestation eval --scores FILE`, or computed here the same way.
    let mut score: BTreeMap<(String, String), Option<f64>> = BTreeMap::new();
    let mut m = models();
    if let Some(p) = &o.scores {
        let text = std::fs::read_to_string(p).expect("scores file");
        for line in text.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            if c.len() >= 5 {
                score.insert((c[0].to_string(), c[1].to_string()), c[4].parse().ok());
            }
        }
    } else {
        let mut v = LocalVerifier::load(&m.models, PipelineConfig::default()).expect("engine");
        let root = shared().join("data");
        let run = facestation::eval::runner::run_pairs(
            &mut v.pipeline,
            rows.clone(),
            &root,
            SearchMode::Fast,
            |i, n| {
                if i % 500 == 0 {
                    eprintln!("edc: scoring image {i}/{n}");
                }
            },
        );
        for d in run.pairs {
            score.insert((d.pair.a, d.pair.b), d.pair.score);
        }
    }
    // Quality of every image: the face `eval` compares (nearest the centre), with the pose model.
    let mut images: BTreeMap<String, Option<QualityReport>> = BTreeMap::new();
    for r in &rows {
        images.entry(r.a.clone()).or_default();
        images.entry(r.b.clone()).or_default();
    }
    let n = images.len();
    for (i, (path, q)) in images.iter_mut().enumerate() {
        if i % 500 == 0 {
            eprintln!("edc: quality of image {i}/{n}");
        }
        if let Some(img) = load(path) {
            let faces = m.detector.detect(&img).expect("detect");
            let subject = centre_face(&faces, &img);
            if subject.is_some() {
                *q = Some(m.assessor.assess_subject(&img, &faces, subject.as_ref()));
            }
        }
    }
    if let Some(d) = &o.dump {
        // Per image: every measure's value and margin; per pair: the score (for offline study).
        let mut f = std::io::BufWriter::new(std::fs::File::create(d).expect("dump"));
        let names: Vec<String> = QualityReport::measure_names()
            .iter()
            .map(|n| n.code())
            .collect();
        let mut head = vec!["path".to_string(), "quality".into()];
        for n in &names {
            head.push(n.clone());
            head.push(format!("{n}_margin"));
        }
        writeln!(f, "{}", head.join(",")).expect("write");
        for (path, q) in &images {
            let mut cells = vec![path.clone(), opt(q.as_ref().and_then(|r| r.quality))];
            for n in QualityReport::measure_names() {
                let m = q.as_ref().and_then(|r| r.measure(n));
                cells.push(opt(m.and_then(|m| m.value)));
                cells.push(opt(m.map(|m| m.margin)));
            }
            writeln!(f, "{}", cells.join(",")).expect("write");
        }
        let mut g = std::io::BufWriter::new(
            std::fs::File::create(d.with_extension("pairs.csv")).expect("dump"),
        );
        writeln!(g, "a,b,same,source,score").expect("write");
        for r in &rows {
            let s = score.get(&(r.a.clone(), r.b.clone())).copied().flatten();
            writeln!(
                g,
                "{},{},{},{},{}",
                r.a,
                r.b,
                u8::from(r.same),
                r.source,
                opt(s)
            )
            .expect("write");
        }
    }
    type Scalar = fn(&QualityReport) -> f64;
    let scalars: Vec<(&str, Scalar)> = vec![
        ("quality (worst margin)", |r| r.quality.unwrap_or(-1.0)),
        ("head_pose_yaw margin", |r| {
            r.measures
                .iter()
                .find(|x| x.name.code() == "head_pose_yaw")
                .map(|x| x.margin)
                .unwrap_or(-1.0)
        }),
        ("sharpness margin", |r| {
            r.measures
                .iter()
                .find(|x| x.name.code() == "sharpness")
                .map(|x| x.margin)
                .unwrap_or(-1.0)
        }),
        ("inter_eye_distance margin", |r| {
            r.measures
                .iter()
                .find(|x| x.name.code() == "inter_eye_distance")
                .map(|x| x.margin)
                .unwrap_or(-1.0)
        }),
    ];
    let fractions = [0.0, 0.05, 0.10, 0.20];
    println!(
        "error versus discard, LFW folds 1-5 ({} pairs), FAST threshold {threshold} (score)",
        rows.len()
    );
    for (label, f) in &scalars {
        let q = |p: &str| images[p].as_ref().map(f).unwrap_or(f64::NEG_INFINITY);
        for same in [true, false] {
            let mut v: Vec<(f64, bool)> = rows
                .iter()
                .filter(|r| r.same == same)
                .map(|r| {
                    let s = score.get(&(r.a.clone(), r.b.clone())).copied().flatten();
                    let accepted = s.is_some_and(|s| s >= threshold);
                    (q(&r.a).min(q(&r.b)), accepted)
                })
                .collect();
            // Lowest quality first; a stable sort keeps the CSV order among ties.
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let cells: Vec<String> = fractions
                .iter()
                .map(|fr| {
                    let drop = (v.len() as f64 * fr).round() as usize;
                    let kept = &v[drop..];
                    let errors = kept
                        .iter()
                        .filter(|(_, acc)| if same { !acc } else { *acc })
                        .count();
                    format!(
                        "{:>5.0}%: {:>5.2}% ({}/{})",
                        fr * 100.0,
                        100.0 * errors as f64 / kept.len().max(1) as f64,
                        errors,
                        kept.len()
                    )
                })
                .collect();
            println!(
                "{:<28} {} {}",
                label,
                if same { "FNMR" } else { "FMR " },
                cells.join("  ")
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// study

fn study(o: &Opts) {
    let mut rows: Vec<_> = pairs()
        .into_iter()
        .filter(|r| r.same && fold_of(&r.source) <= 2)
        .collect();
    if let Some(n) = o.limit {
        rows.truncate(n);
    }
    let m = models();
    let mut v = LocalVerifier::load(&m.models, PipelineConfig::default()).expect("engine");
    let p = &mut v.pipeline;
    // ACCURATE computes every stage eagerly, so one describe gives a complete score.
    let mode = SearchMode::Accurate;
    let threshold = default_threshold(mode);
    let plan = p.plan(mode).clone();
    // Each pair: image a as it is; image b degraded.
    struct Row {
        a: facestation::engine::local::FaceDescriptors,
        b: RgbImage,
        face_b: Face,
    }
    let mut data = Vec::new();
    for r in &rows {
        let (Some(a), Some(b)) = (load(&r.a), load(&r.b)) else {
            continue;
        };
        let (Ok(fa), Ok(fb)) = (p.detect(&a), p.detect(&b)) else {
            continue;
        };
        let (Some(fa), Some(fb)) = (centre_face(&fa, &a), centre_face(&fb, &b)) else {
            continue;
        };
        let Some(da) = p.describe(&a, &[fa], mode).ok().and_then(|mut d| d.pop()) else {
            continue;
        };
        data.push(Row {
            a: da,
            b,
            face_b: fb,
        });
    }
    eprintln!("study: {} genuine pairs (folds 1-2)", data.len());
    let mut run = |label: String, f: &dyn Fn(&RgbImage, &Face) -> RgbImage| {
        let (mut fails, mut measured, mut n) = (0usize, Vec::new(), 0usize);
        let mut ieds = Vec::new();
        for r in &data {
            n += 1;
            let img = f(&r.b, &r.face_b);
            let faces = p.detect(&img).unwrap_or_default();
            let Some(face) = centre_face(&faces, &img) else {
                fails += 1;
                continue;
            };
            let st = face_stats(&img, &face);
            if let Some(s) = st.sharpness {
                measured.push(s);
            }
            ieds.push(f64::from(ied(&face)));
            let d = p
                .describe(&img, &[face], mode)
                .ok()
                .and_then(|mut d| d.pop());
            let ok = d.is_some_and(
                |d| matches!(plan.score(&r.a, &d), Ok(Scoring::Done(s)) if s.score >= threshold),
            );
            fails += usize::from(!ok);
        }
        measured.sort_by(f64::total_cmp);
        ieds.sort_by(f64::total_cmp);
        let med = |v: &Vec<f64>| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
        let p10 = |v: &Vec<f64>| v.get(v.len() / 10).copied().unwrap_or(f64::NAN);
        let min_sharp = QualityThresholds::default().min_sharpness;
        let below = measured.iter().filter(|s| **s < min_sharp).count();
        println!(
            "{label:<28} FNMR {:>6.2}% ({fails}/{n})  measured IED median {:>6.1}  sharpness median {:.4} p10 {:.4}  below {min_sharp}: {:.1}%",
            100.0 * fails as f64 / n.max(1) as f64,
            med(&ieds),
            med(&measured),
            p10(&measured),
            100.0 * below as f64 / measured.len().max(1) as f64
        );
    };
    println!(
        "recognition impact (ACCURATE, threshold {threshold}): image b of each genuine pair degraded"
    );
    run("as is".into(), &|img, _| img.clone());
    for target in [32.0, 28.0, 24.0, 20.0, 16.0, 12.0] {
        run(format!("shrunk to IED {target}"), &move |img, f| {
            let k = (target / f64::from(ied(f)).max(1.0)).min(1.0);
            image::imageops::resize(
                img,
                ((f64::from(img.width()) * k).round() as u32).max(1),
                ((f64::from(img.height()) * k).round() as u32).max(1),
                image::imageops::FilterType::Triangle,
            )
        });
    }
    for frac in [0.02, 0.04, 0.06, 0.08, 0.10] {
        run(format!("gaussian sigma {frac} IED"), &move |img, f| {
            image::imageops::blur(img, (frac * f64::from(ied(f))) as f32)
        });
    }
    for frac in [0.1, 0.2, 0.25, 0.35, 0.5] {
        run(format!("motion blur {frac} IED"), &move |img, f| {
            motion_blur(img, frac * f64::from(ied(f)), 0.5)
        });
    }
}

// ------------------------------------------------------------------------------------------------
// timing

fn timing() {
    let mut m = models();
    let dir = shared().join("data/liveness");
    let mut frames = Vec::new();
    for sub in ["live", "spoof"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .expect("frames")
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("apfol_video"))
            })
            .collect();
        names.sort();
        for p in names {
            let img = decode_image(&std::fs::read(&p).expect("read"), &DecodeLimits::default())
                .expect("decode");
            assert_eq!(img.dimensions(), (640, 480));
            let faces = m.detector.detect(&img).expect("detect");
            frames.push((img, faces));
        }
    }
    let t = QualityThresholds::default();
    let mut no_pose = QualityAssessor::new(None, t.clone());
    let mut with_pose = QualityAssessor::new(
        Some(HeadPoseModel::new(
            m.models.session("head_pose", 1).expect("pose"),
        )),
        t.clone(),
    );
    let measure = |label: &str, f: &mut dyn FnMut(&RgbImage, &[Face]) -> QualityReport| {
        // Warm-up, then 200 frames.
        for (img, faces) in frames.iter().take(5) {
            f(img, faces);
        }
        let mut ms = Vec::new();
        for i in 0..200 {
            let (img, faces) = &frames[i % frames.len()];
            let s = Instant::now();
            let r = f(img, faces);
            let _hint = r.hint();
            ms.push(s.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{label:<34} median {:>6.2} ms  p90 {:>6.2} ms  max {:>6.2} ms  (200 frames 640x480)",
            ms[100], ms[180], ms[199]
        );
    };
    measure("quality + hint, head-pose model", &mut |img, faces| {
        with_pose.assess(img, faces)
    });
    measure("quality + hint, landmark pose", &mut |img, faces| {
        no_pose.assess(img, faces)
    });
    measure("assess_subject (no model, free fn)", &mut |img, faces| {
        let s = facestation::vision::quality::largest_face(faces);
        assess_subject(img, faces, s.as_ref(), None, &t)
    });
    let _ = m.assessor.has_pose_model();
}
