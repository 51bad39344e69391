//! `facestation quality IMAGE [--json]`: the capture-quality measures of one image (the kiosk gate's
//! input): one line per measure with its value, threshold, pass/fail and action, and the one hint
//! a kiosk would show. Exit 0 when every measure passes, 1 when one fails (no face included).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::{read_input, CliError};
use crate::digest::sha256_hex;
use crate::engine::{EngineError, ImageRole};
use crate::paths::StationPaths;
use crate::runtime::VerifiedModels;
use crate::vision::quality::{Measure, QualityAssessor, QualityReport, QualityThresholds};
use crate::vision::{decode_image, DecodeLimits, Detector, DetectorConfig, Face};

#[derive(Args, Debug)]
pub struct QualityArgs {
    /// The image (a camera frame; - for standard input).
    pub image: PathBuf,
    /// Print the report as JSON (the shape records keep).
    #[arg(long)]
    pub json: bool,
    /// Estimate head pose from the landmarks instead of the head-pose model.
    #[arg(long)]
    pub no_pose_model: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    image_sha256: String,
    width: u32,
    height: u32,
    faces_found: usize,
    faces: &'a [Face],
    quality_ms: f64,
    quality: &'a QualityReport,
}

pub fn run(paths: &StationPaths, args: QualityArgs) -> Result<ExitCode, CliError> {
    let bytes = read_input(&args.image)?;
    let img = decode_image(&bytes, &DecodeLimits::default()).map_err(|source| {
        CliError::Engine(EngineError::Decode {
            role: ImageRole::Probe,
            source,
        })
    })?;
    let models = VerifiedModels::locate(paths.models.as_deref())?;
    let mut detector = Detector::new(models.session("detector", 1)?, DetectorConfig::default());
    let mut assessor = if args.no_pose_model {
        QualityAssessor::new(None, QualityThresholds::default())
    } else {
        QualityAssessor::load(&models, QualityThresholds::default())?
    };
    let faces = detector
        .detect(&img)
        .map_err(|e| CliError::Engine(e.into()))?;
    let t = Instant::now();
    let report = assessor.assess(&img, &faces);
    let quality_ms = t.elapsed().as_secs_f64() * 1000.0;
    if args.json {
        let out = Output {
            image_sha256: sha256_hex(&bytes),
            width: img.width(),
            height: img.height(),
            faces_found: faces.len(),
            faces: &faces,
            quality_ms,
            quality: &report,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        print!("{}", human(&report));
        if let Some(p) = report.pose {
            println!(
                "pose ({}): yaw {:.1}, pitch {:.1}, roll {:.1} degrees; {} faces found, {:.1} ms",
                serde_json::to_value(p.source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                p.yaw,
                p.pitch,
                p.roll,
                faces.len(),
                quality_ms
            );
        }
    }
    Ok(ExitCode::from(if report.passed { 0 } else { 1 }))
}

/// The human report: a verdict line with the hint, then one line per measure.
pub fn human(r: &QualityReport) -> String {
    let mut out = String::new();
    match r.action {
        None => out.push_str("PASS: every measure within its threshold\n"),
        Some(a) => out.push_str(&format!(
            "FAIL: {} ({}){}\n",
            a.message(),
            a.code(),
            match r.actions.len() {
                1 => String::new(),
                n => format!("; {} more after it", n - 1),
            }
        )),
    }
    for m in &r.measures {
        out.push_str(&measure_line(m));
        out.push('\n');
    }
    out
}

fn measure_line(m: &Measure) -> String {
    let value = m.value.map(fmt).unwrap_or_else(|| "n/a".into());
    let threshold = match (m.min, m.max) {
        (Some(a), Some(b)) if a == b => format!("= {}", fmt(a)),
        (Some(a), Some(b)) => format!("{}..{}", fmt(a), fmt(b)),
        (Some(a), None) => format!(">= {}", fmt(a)),
        (None, Some(b)) => format!("<= {}", fmt(b)),
        (None, None) => "-".into(),
    };
    format!(
        "{:<24} {:>9}  {:<12} {:<4}  {}",
        m.name.code(),
        value,
        threshold,
        if m.passed { "pass" } else { "FAIL" },
        m.action.map(|a| a.code()).unwrap_or("-")
    )
}

fn fmt(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e6 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}
