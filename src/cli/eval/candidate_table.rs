//! `eval --candidates`: every candidate configuration on the same images, side by side, with
//! paired McNemar tests between them.

use super::*;

pub(super) fn candidates_report(
    args: &EvalArgs,
    run: &ImageRun,
    rows: &[PairRow],
    cands: &[Candidate],
    started: Instant,
) -> Result<ExitCode, CliError> {
    let mut reports = Vec::new();
    let mut decisions: Vec<(String, Vec<Option<bool>>)> = Vec::new();
    let mut first_pairs: Option<Vec<PairDetail>> = None;
    let mut worst_health: Option<Health> = None;
    for c in cands {
        let slots: Vec<usize> = c
            .stages
            .iter()
            .map(|s| run.stages.iter().position(|r| r == s))
            .collect::<Option<_>>()
            .ok_or_else(|| CliError::Other(format!("{}: a stage was not computed", c.name)))?;
        let mut fits = Vec::new();
        for (s, &k) in c.stages.iter().zip(&slots) {
            let metric = run
                .images
                .values()
                .find_map(|o| o.embeddings.get(k).and_then(Option::as_ref))
                .map(|e| e.metric)
                .ok_or_else(|| {
                    CliError::Usage(format!("{}: no image gave a descriptor", c.name))
                })?;
            let f = fit(metric, &stage_samples(run, rows, k)).map_err(|e| {
                CliError::Usage(format!(
                    "{}: cannot fit a calibration for {} {} on the LFW pairs: {e}",
                    c.name,
                    s.recogniser,
                    s.views.as_str()
                ))
            })?;
            fits.push(f);
        }
        let calibrations: Vec<Calibration> = fits.iter().map(|f| f.calibration).collect();
        let plan = c.plan(&calibrations);
        let pairs = score_pairs(run, rows, &plan).map_err(CliError::Other)?;
        let h = health(run, &pairs, args.max_unscorable);
        if !h.ok && worst_health.is_none() {
            worst_health = Some(h.clone());
        }
        let scored: Vec<ScoredPair> = pairs.iter().map(|p| p.pair.clone()).collect();
        let lfw: Vec<ScoredPair> = scored
            .iter()
            .filter(|p| p.source.starts_with(FOLD_PREFIX))
            .cloned()
            .collect();
        let all = if args.all_impostors {
            Some(sweep(run, rows, &plan, &slots)?)
        } else {
            None
        };
        let (threshold, origin) = match &all {
            Some(all) => (
                threshold_for_fmr(&all.impostor, args.fmr),
                format!(
                    "FMR <= {} on {} cross-identity LFW folds 1-5 impostor pairs",
                    args.fmr,
                    all.impostor.len()
                ),
            ),
            None => (
                threshold_at_fmr(&lfw, args.fmr).ok(),
                format!(
                    "FMR <= {} on the {} impostor pairs of the LFW folds",
                    args.fmr,
                    lfw.iter().filter(|p| !p.same).count()
                ),
            ),
        };
        let options = SummaryOptions {
            threshold,
            far_targets: vec![1e-2, 1e-3],
            include_roc: false,
        };
        let PerImage {
            total: t_face,
            total_cpu: t_face_cpu,
            per_stage,
            second_share: image_share,
        } = per_image_ms(run, &pairs, &plan, &slots);
        let stage_ms = per_stage
            .iter()
            .map(|v| TimingStats::from_millis(v).map(|t| t.median_ms))
            .collect();
        let cascade = matches!(c.combine, Combine::Cascade { .. });
        let pair_share = cascade.then(|| {
            let n = lfw.len().max(1) as f64;
            pairs
                .iter()
                .filter(|p| p.pair.source.starts_with(FOLD_PREFIX) && p.stages_used > 1)
                .count() as f64
                / n
        });
        decisions.push((c.name.clone(), kfold_correct(&scored).unwrap_or_default()));
        reports.push(CandidateReport {
            name: c.name.clone(),
            stages: c
                .stages
                .iter()
                .map(|s| format!("{} {}", s.recogniser, s.views.as_str()))
                .collect(),
            calibrations: fits,
            threshold,
            threshold_origin: origin,
            lfw: Summary::build(&lfw, &options),
            per_source: threshold.map_or_else(Vec::new, |t| crate::eval::per_source(&scored, t)),
            stage_ms,
            detect_align_embed_ms: TimingStats::from_millis(&t_face),
            detect_align_embed_cpu_ms: TimingStats::from_millis(&t_face_cpu),
            second_stage_pair_share: pair_share,
            second_stage_image_share: cascade.then_some(image_share),
            all_impostors: match (&all, threshold) {
                (Some(all), Some(t)) => Some(all_impostor_report(
                    all,
                    t,
                    args.fmr,
                    format!(
                        "all cross-identity pairs of the LFW fold images ({})",
                        c.name
                    ),
                )),
                _ => None,
            },
        });
        if first_pairs.is_none() {
            first_pairs = Some(pairs);
        }
    }
    if let (Some(p), Some(pairs)) = (&args.scores, &first_pairs) {
        write_scores(p, pairs)?;
    }
    let mut paired = Vec::new();
    for i in 0..decisions.len() {
        for j in i + 1..decisions.len() {
            let (a, da) = &decisions[i];
            let (b, db) = &decisions[j];
            let (mut only_a, mut only_b, mut right_a, mut right_b) = (0u64, 0u64, 0i64, 0i64);
            for (x, y) in da.iter().zip(db) {
                if let (Some(x), Some(y)) = (x, y) {
                    right_a += i64::from(*x);
                    right_b += i64::from(*y);
                    match (x, y) {
                        (true, false) => only_a += 1,
                        (false, true) => only_b += 1,
                        _ => {}
                    }
                }
            }
            paired.push(PairedTest {
                a: a.clone(),
                b: b.clone(),
                pairs_difference: right_a - right_b,
                mcnemar: mcnemar(only_a, only_b),
            });
        }
    }
    let health = worst_health.unwrap_or_else(|| {
        health(
            run,
            first_pairs.as_deref().unwrap_or_default(),
            args.max_unscorable,
        )
    });
    let report = CandidatesReport {
        pairs: rows.len(),
        images: run.images.len(),
        target_fmr: args.fmr,
        candidates: reports,
        paired,
        cache: run.cache.clone(),
        health: health.clone(),
        wall_ms: ms_since(started),
    };
    emit(args.json, &report, print_candidates)?;
    finish(&health)
}
