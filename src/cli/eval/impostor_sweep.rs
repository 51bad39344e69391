//! `eval --all-impostors`: every cross-identity pair of the LFW fold images, the thresholds and
//! review band they give, and what each candidate upper edge costs in genuine pairs.

use super::*;

/// The LFW fold images with their plan descriptors, for the all-pairs sweep.
pub(super) fn lfw_subjects<'a>(
    run: &'a ImageRun,
    rows: &[PairRow],
    slots: &[usize],
) -> Vec<Subject<'a>> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for r in rows.iter().filter(|r| r.source.starts_with(FOLD_PREFIX)) {
        names.insert(&r.a);
        names.insert(&r.b);
    }
    names
        .into_iter()
        .filter_map(|p| {
            let (path, o) = run.images.get_key_value(p)?;
            Some(Subject {
                identity: identity_of(path),
                descriptors: slots
                    .iter()
                    .map(|&k| o.embeddings.get(k).and_then(Option::as_ref))
                    .collect(),
            })
        })
        .collect()
}

pub(super) fn sweep(
    run: &ImageRun,
    rows: &[PairRow],
    plan: &Plan,
    slots: &[usize],
) -> Result<AllPairs, CliError> {
    let subjects = lfw_subjects(run, rows, slots);
    all_pairs(plan, &subjects).map_err(CliError::Other)
}

pub(super) fn all_impostor_report(
    all: &AllPairs,
    threshold: f64,
    target: f64,
    what: String,
) -> AllImpostorReport {
    AllImpostorReport {
        what,
        images: all.images,
        identities: all.identities,
        impostor_pairs: all.impostor.len(),
        genuine_pairs: all.genuine.len(),
        second_stage_pairs: all.second_stage_pairs,
        at_threshold: point(all, threshold),
        at_target_fmr: threshold_for_fmr(&all.impostor, target).map(|t| point(all, t)),
        target_fmr: target,
        review_band: review_band(all, threshold, 10.0, UPPER_BAND_GENUINE_SHARE),
        upper_edges: upper_edges(all, threshold),
    }
}

/// The review band's upper-edge rule: at most this share of the genuine dev pairs between the
/// threshold and the edge.
pub(super) const UPPER_BAND_GENUINE_SHARE: f64 = 0.025;

pub(super) fn upper_edges(all: &AllPairs, threshold: f64) -> Vec<UpperEdge> {
    let at = point(all, threshold);
    let base = at.fmr.rate.max(1.0 / (all.impostor.len().max(1) as f64));
    [1.5, 2.0, 3.0, 5.0, 10.0]
        .into_iter()
        .filter_map(|factor| {
            let edge = threshold_for_fmr(&all.impostor, base / factor)?;
            let p = point(all, edge);
            let between = all
                .genuine
                .iter()
                .filter(|&&g| g >= threshold && g < edge)
                .count();
            Some(UpperEdge {
                factor,
                at: p,
                genuine_share_above_threshold: between as f64 / all.genuine.len().max(1) as f64,
            })
        })
        .collect()
}
