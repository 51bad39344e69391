//! Synthetic score sets (no images, no engine) for the QA screen's tests and its frame-time
//! measurement: genuine ~ N(0.65, 0.10), impostor ~ N(0.35, 0.10) (EER about 7 %), clamped to [0, 1], drawn with
//! SplitMix64 so a seed gives the same set everywhere.

use std::path::Path;
use std::time::Duration;

use super::input::{Dataset, InputKind, QaPair, SplitMix64};
use super::report::Evaluation;
use super::scoring::{PairScore, ScoredRun};
use super::QaError;
use crate::api::SearchMode;

fn normal(rng: &mut SplitMix64) -> f64 {
    // Box-Muller; u1 in (0, 1].
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `genuine` + `impostor` labelled pairs with scores, named `g<k>_a.jpg` / `i<k>_a.jpg`; the
/// exclusions side file is `dir/<name>.qa-exclusions.json`. Pairs alternate between groups
/// "A" and "B". `shift` moves the genuine mean (a second "configuration" for comparisons).
pub fn evaluation(
    name: &str,
    genuine: usize,
    impostor: usize,
    seed: u64,
    shift: f64,
    dir: &Path,
) -> Result<Evaluation, QaError> {
    let mut rng = SplitMix64::new(seed);
    let mut pairs = Vec::with_capacity(genuine + impostor);
    let mut scores = Vec::with_capacity(genuine + impostor);
    for k in 0..genuine + impostor {
        let same = k < genuine;
        let (mean, sd) = if same {
            (0.65 + shift, 0.10)
        } else {
            (0.35, 0.10)
        };
        let s = (mean + sd * normal(&mut rng)).clamp(0.0, 1.0);
        let tag = if same { "g" } else { "i" };
        pairs.push(QaPair {
            a: format!("{tag}{k}_a.jpg"),
            b: format!("{tag}{k}_b.jpg"),
            same: Some(same),
            group: Some(if k % 2 == 0 { "A" } else { "B" }.into()),
            group_b: None,
            source: "synthetic".into(),
            logged_score: None,
        });
        scores.push(PairScore {
            score: Some(s),
            faces_a: 1,
            faces_b: 1,
            fta: None,
        });
    }
    let dataset = Dataset {
        kind: InputKind::PairsCsv,
        path: dir.join(name),
        root: dir.to_path_buf(),
        name: name.to_string(),
        sha256: crate::digest::sha256_hex(format!("synthetic {genuine} {impostor} {seed}").as_bytes()),
        sha256_of: "the generator's parameters (synthetic data)".into(),
        pairs,
        selection: vec![format!(
            "synthetic: {genuine} genuine ~ N({:.2}, 0.10), {impostor} impostor ~ N(0.35, 0.10), seed {seed}",
            0.65 + shift
        )],
        notes: Vec::new(),
        rejected_lines: Vec::new(),
    };
    let run = ScoredRun {
        scores,
        images: 0,
        elapsed: Duration::ZERO,
        no_face: Vec::new(),
        unreadable: Vec::new(),
    };
    Evaluation::new(
        dataset,
        Some(SearchMode::Fast),
        Vec::new(),
        run,
        &super::input::exclusions_path(&dir.join(name)),
    )
}
