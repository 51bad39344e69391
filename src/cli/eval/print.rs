//! The human-readable report of `eval` (`--json` prints the same structs as JSON).

use super::*;

pub(super) fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

pub(super) fn print_all(a: &AllImpostorReport) {
    let p = &a.at_threshold;
    println!(
        "{}: {} images of {} people, {} impostor and {} genuine pairs",
        a.what, a.images, a.identities, a.impostor_pairs, a.genuine_pairs
    );
    println!(
        "  at threshold {:.4}: FMR {} [{}, {}] ({} false matches), FNMR {} ({} of {})",
        p.threshold,
        pct(p.fmr.rate),
        pct(p.fmr.low),
        pct(p.fmr.high),
        p.fmr.k,
        pct(p.fnmr),
        p.false_non_matches,
        p.genuine
    );
    if let Some(t) = &a.at_target_fmr {
        println!(
            "  threshold for FMR <= {}: {:.4} (FMR {}, FNMR {})",
            a.target_fmr,
            t.threshold,
            pct(t.fmr.rate),
            pct(t.fnmr)
        );
    }
    if let Some((lo, hi)) = &a.review_band {
        // Where the genuine pairs go under the band: below it, in it (either side), above it.
        let g = a.at_threshold.genuine.max(1) as f64;
        let below_lo = lo.at.false_non_matches as f64 / g;
        let below_t = a.at_threshold.false_non_matches as f64 / g;
        let below_hi = hi.at.false_non_matches as f64 / g;
        println!(
            "  review band: {:.4} (FMR {:.4}%, {} impostors) .. {:.4} (FMR {:.5}%, {} impostors{})",
            lo.at.threshold,
            lo.at.fmr.rate * 100.0,
            lo.at.fmr.k,
            hi.at.threshold,
            hi.at.fmr.rate * 100.0,
            hi.at.fmr.k,
            if hi.resolved {
                ""
            } else {
                ", the data runs out"
            }
        );
        println!(
            "  genuine pairs: {} not verified, {} review below the threshold, {} review above it, {} verified",
            pct(below_lo),
            pct(below_t - below_lo),
            pct(below_hi - below_t),
            pct(1.0 - below_hi)
        );
    }
    for e in &a.upper_edges {
        println!(
            "  upper edge at FMR / {}: {:.4} (FMR {}): {} of genuine pairs between the threshold and it",
            e.factor,
            e.at.threshold,
            pct(e.at.fmr.rate),
            pct(e.genuine_share_above_threshold)
        );
    }
}

pub(super) fn print_human(r: &Report) {
    println!(
        "search mode {} ({}): {} pairs, {} images, {} without a face, {} unreadable",
        r.search_mode.as_str(),
        r.plan,
        r.pairs,
        r.images,
        r.images_without_face.len(),
        r.unreadable_images.len()
    );
    if !r.health.ok {
        // No accuracy is printed for a run that could not score enough.
        println!(
            "not evaluated: {}",
            r.health.problem.as_deref().unwrap_or("")
        );
        return;
    }
    if let Some(l) = &r.lfw {
        if let Some(k) = &l.kfold {
            println!(
                "LFW k-fold ({} folds, threshold chosen on the other folds): {} +- {}",
                k.folds.len(),
                pct(k.mean_accuracy),
                pct(k.std_accuracy)
            );
        }
        for p in &l.tar_at_far {
            println!(
                "LFW TAR at FAR {:.0e}: {} (threshold {:.4}, FAR {:.4})",
                p.far_target,
                pct(p.tar),
                p.threshold,
                p.far
            );
        }
        if let Some(e) = &l.eer {
            println!("LFW EER: {} at {:.4}", pct(e.eer), e.threshold);
        }
    }
    println!(
        "per source at the default threshold {:.4}:",
        r.default_threshold
    );
    for s in &r.overall.per_source {
        println!(
            "  {:<20} {:>5} pairs  accuracy {}  (false matches {}, false non-matches {}, pairs without a face {})",
            s.source,
            s.pairs,
            pct(s.accuracy),
            s.false_matches,
            s.false_non_matches,
            s.no_face_pairs
        );
    }
    for c in &r.calibration {
        if let Some(f) = &c.fitted {
            println!(
                "calibration {}: shipped {}; refitted here {} (EER {})",
                c.stage,
                c.shipped.describe(),
                f.calibration.describe(),
                pct(f.eer)
            );
        }
    }
    if let Some(a) = &r.all_impostors {
        print_all(a);
    }
    for (stage, t) in &r.timing_per_image_ms {
        if let Some(t) = t {
            println!(
                "  {stage:<20} median {:.2} ms  p90 {:.2} ms",
                t.median_ms, t.p90_ms
            );
        }
    }
    if r.cached_images > 0 {
        println!(
            "  ({} of {} images from the descriptor cache: their times are from when they were computed)",
            r.cached_images, r.images
        );
    }
    for n in &r.overall.notes {
        println!("note: {n}");
    }
}

pub(super) fn print_candidates(r: &CandidatesReport) {
    println!(
        "{} pairs, {} images; thresholds at FMR <= {}",
        r.pairs, r.images, r.target_fmr
    );
    if !r.health.ok {
        println!(
            "not evaluated: {}",
            r.health.problem.as_deref().unwrap_or("")
        );
        return;
    }
    println!(
        "{:<42} {:>15} {:>9} {:>9} {:>7} {:>10} {:>9}",
        "candidate", "LFW k-fold", "TAR@1e-3", "TAR@1e-2", "EER", "deepface", "ms/image"
    );
    for c in &r.candidates {
        let k = c.lfw.kfold.as_ref();
        let tar = |t: f64| {
            c.lfw
                .tar_at_far
                .iter()
                .find(|p| p.far_target == t)
                .map_or("-".into(), |p| pct(p.tar))
        };
        let deepface = c
            .per_source
            .iter()
            .find(|s| s.source == "deepface")
            .map_or("-".into(), |s| pct(s.accuracy));
        println!(
            "{:<42} {:>15} {:>9} {:>9} {:>7} {:>10} {:>9}",
            c.name,
            k.map_or("-".into(), |k| format!(
                "{} +- {:.2}",
                pct(k.mean_accuracy),
                k.std_accuracy * 100.0
            )),
            tar(1e-3),
            tar(1e-2),
            c.lfw.eer.map_or("-".into(), |e| pct(e.eer)),
            deepface,
            c.detect_align_embed_ms
                .as_ref()
                .map_or("-".into(), |t| format!("{:.2}", t.mean_ms))
        );
        if let Some(a) = &c.all_impostors {
            print_all(a);
        }
    }
    for p in &r.paired {
        println!(
            "{} vs {}: {:+} pairs; McNemar {} vs {} discordant, p = {:.3}",
            p.a,
            p.b,
            p.pairs_difference,
            p.mcnemar.only_first_right,
            p.mcnemar.only_second_right,
            p.mcnemar.p_value
        );
    }
}
