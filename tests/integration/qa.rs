//! The threshold-QA workbench: `facestation qa` on LFW folds 1-5 checked independently by
//! scripts/qa-crosscheck.py (scikit-learn, SciPy), tampered reports refused by `qa verify`,
//! exclusions applied on the next run, failures to acquire counted, folder and audit-log inputs,
//! and the QA screen driven through egui_kittest on synthetic scores (and once on real scoring,
//! to cancel it).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use facestation::qa::screen::{fmt_ci, fmt_pct, QaScreen, SourceKind};
use facestation::qa::stats::{self, rates_at};
use facestation::qa::{synthetic, ExclusionFile, ExclusionReason};
use serde_json::Value;

const PIP: &str = "python3 -m pip install scikit-learn scipy";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// python3 with scikit-learn and SciPy, or a failure that says how to get them (never a skip).
fn python_with_packages() -> &'static str {
    let probe = Command::new("python3")
        .args(["-c", "import sklearn, scipy, numpy"])
        .output();
    match probe {
        Err(e) => panic!("python3 is needed for the QA cross-check and could not run ({e}); install Python 3, then: {PIP}"),
        Ok(o) if !o.status.success() => panic!(
            "the QA cross-check needs scikit-learn and SciPy: {PIP}\n(python3 said: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Ok(_) => "python3",
    }
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).expect("read")))
}

/// The acceptance run: LFW folds 1-5 (3,000 pairs) through the production engine, the signed
/// report's fields, the Python cross-check within 0.1 point, then `qa verify` on the report and
/// on tampered copies.
#[test]
fn qa_lfw_folds_report_crosschecks_with_python_and_verifies() {
    let python = python_with_packages();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let pairs = common::data("pairs.csv");
    let start = Instant::now();
    let run = common::station(
        tmp.path(),
        &[
            "qa",
            "--pairs",
            &pairs.display().to_string(),
            "--root",
            &common::shared().join("data").display().to_string(),
            "--source",
            facestation::eval::FOLD_PREFIX,
            "--group-column",
            "source",
            "--exclusions",
            &tmp.path()
                .join("none.qa-exclusions.json")
                .display()
                .to_string(),
            "--out",
            &out.display().to_string(),
        ],
    );
    run.expect_code(0);
    let secs = start.elapsed().as_secs_f64();
    eprintln!("qa on LFW folds 1-5: {secs:.1} s\n{}", run.stdout());
    assert!(
        run.stderr().contains("images/s") && run.stderr().contains("ETA"),
        "{}",
        run.stderr()
    );

    let r = read_json(&out.join("report.json"));
    assert_eq!(r["report"], "facestation-qa");
    assert_eq!(
        (
            r["pairs"].as_u64(),
            r["genuine"].as_u64(),
            r["impostor"].as_u64()
        )
            .0,
        Some(3000)
    );
    let fta_pairs = r["failures_to_acquire"]["pairs"].as_u64().unwrap();
    assert_eq!(
        r["genuine"].as_u64().unwrap() + r["impostor"].as_u64().unwrap() + fta_pairs,
        3000
    );
    assert_eq!(r["dataset_sha256"], sha256_file(&pairs));
    assert_eq!(r["search_mode"], "FAST");
    assert!(r["model"].is_string(), "{}", r["model"]);
    assert!(r["eer"].as_f64().unwrap() < 0.05, "{}", r["eer"]);
    assert!(r["eer_threshold"].is_f64());
    // 1,500 impostors support FMR 1% (300 needed), not 0.1% (3,000) or 0.01% (30,000).
    let at = &r["fnmr_at_fmr"];
    assert_eq!(at["0.01"]["supported"], true);
    assert!(at["0.01"]["fnmr"].is_f64() && at["0.01"]["threshold"].is_f64());
    for k in ["0.001", "0.0001"] {
        assert_eq!(at[k]["supported"], false, "{k}");
        assert!(
            at[k]["fnmr"].is_null() && at[k]["threshold"].is_null(),
            "{k}: {}",
            at[k]
        );
        assert!(at[k]["reason"]
            .as_str()
            .unwrap()
            .contains("not supported by this data"));
    }
    let t = &r["at_threshold"];
    for k in ["threshold", "fmr", "fnmr", "fta", "far", "frr"] {
        assert!(t[k].is_f64(), "at_threshold.{k}: {}", t[k]);
    }
    for k in ["fmr_ci95", "fnmr_ci95"] {
        let ci = t[k].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap());
    }
    let groups = r["groups"]["per_group"]
        .as_object()
        .expect("groups by source");
    assert_eq!(groups.len(), 5, "{:?}", groups.keys());
    assert!(r["groups"]["fmr_matrix"]["lfw_fold01|lfw_fold01"].is_object());
    for f in [
        "scores.csv",
        "near_threshold.csv",
        "histogram.png",
        "det.png",
    ] {
        assert!(out.join(f).is_file(), "{f}");
        assert!(r["files"][f].is_string(), "{f} digest");
    }
    let near = std::fs::read_to_string(out.join("near_threshold.csv")).unwrap();
    assert_eq!(
        near.lines().count(),
        41,
        "header + 20 genuine + 20 impostor"
    );

    // The independent check.
    let check = Command::new(python)
        .arg(repo().join("scripts/qa-crosscheck.py"))
        .arg(&out)
        .args([
            "--json",
            &tmp.path().join("crosscheck.json").display().to_string(),
        ])
        .output()
        .expect("run the cross-check");
    let text = String::from_utf8_lossy(&check.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&check.stderr));
    assert!(
        check.status.success(),
        "the Python cross-check disagrees:\n{text}"
    );
    let c = read_json(&tmp.path().join("crosscheck.json"));
    assert!(c["largest_rate_difference"].as_f64().unwrap() <= 0.001);

    // verify: valid; an edited number; an edited scores.csv.
    let report = out.join("report.json").display().to_string();
    common::station(tmp.path(), &["qa", "verify", &report]).expect_code(0);
    let original = std::fs::read_to_string(out.join("report.json")).unwrap();
    let tampered = original.replacen("\"genuine\": ", "\"genuine\": 1", 1);
    assert_ne!(tampered, original);
    std::fs::write(out.join("report.json"), &tampered).unwrap();
    let bad = common::station(tmp.path(), &["qa", "verify", &report]);
    assert_eq!(bad.output.status.code(), Some(1), "{}", bad.stderr());
    assert!(
        bad.stderr().contains("does NOT verify") && bad.stderr().contains("signature"),
        "{}",
        bad.stderr()
    );
    std::fs::write(out.join("report.json"), &original).unwrap();
    let mut scores = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    scores = scores.replacen(",1,lfw_fold01,", ",0,lfw_fold01,", 1);
    std::fs::write(out.join("scores.csv"), scores).unwrap();
    let bad = common::station(tmp.path(), &["qa", "verify", &report]);
    assert_eq!(bad.output.status.code(), Some(1), "{}", bad.stderr());
    assert!(bad.stderr().contains("scores.csv"), "{}", bad.stderr());
}

/// A small CSV (face_recognition's pairs plus one unreadable image): the failure to acquire is
/// counted and named, an exclusion written beside the CSV is applied on the next run and listed,
/// and the report is still signed and verifiable.
#[test]
fn qa_counts_failures_to_acquire_and_applies_exclusions_on_the_next_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let text = std::fs::read_to_string(common::data("pairs.csv")).unwrap();
    let mut csv = String::from("a,b,same,group\n");
    let mut first = None;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[3] == "face_recognition" {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                f[0],
                f[1],
                f[2],
                if f[2] == "1" { "same" } else { "diff" }
            ));
            first.get_or_insert((f[0].to_string(), f[1].to_string()));
        }
    }
    csv.push_str("faces/no/such/image.jpg,faces/no/such/other.jpg,1,same\n");
    let csv_path = tmp.path().join("pairs.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let root = common::shared().join("data").display().to_string();
    let run = |out: &str| {
        common::station(
            tmp.path(),
            &[
                "qa",
                "--pairs",
                &csv_path.display().to_string(),
                "--root",
                &root,
                "--threshold",
                "0.62",
                "--out",
                &tmp.path().join(out).display().to_string(),
            ],
        )
        .expect_code(0);
        read_json(&tmp.path().join(out).join("report.json"))
    };
    // No input: a usage error (exit 2) that says what to give.
    let bad = common::station(
        tmp.path(),
        &["qa", "--out", &tmp.path().join("x").display().to_string()],
    );
    assert_eq!(bad.output.status.code(), Some(2), "{}", bad.stderr());
    assert!(
        bad.stderr()
            .contains("--pairs CSV, --folder DIR or --audit-log LOG"),
        "{}",
        bad.stderr()
    );
    let r1 = run("one");
    assert_eq!(r1["pairs"], 29);
    assert_eq!(r1["failures_to_acquire"]["pairs"], 1);
    assert_eq!(r1["failures_to_acquire"]["genuine"], 1);
    let why = r1["failures_to_acquire"]["pairs_list"][0]["why"]
        .as_str()
        .unwrap();
    assert!(why.contains("faces/no/such/image.jpg"), "{why}");
    assert!((r1["fta"].as_f64().unwrap() - 1.0 / 29.0).abs() < 1e-12);
    assert_eq!(r1["at_threshold"]["basis"], "given (--threshold)");
    assert!(r1["groups"]["per_group"]["same"].is_object());

    let (a, b) = first.unwrap();
    let mut ex = ExclusionFile::default();
    ex.mark(facestation::qa::Exclusion {
        a,
        b,
        reason: ExclusionReason::Mislabelled,
        note: "checked by hand".into(),
        at: "2026-01-01T00:00:00.000Z".into(),
    });
    ex.save(&tmp.path().join("pairs.csv.qa-exclusions.json"))
        .unwrap();
    let r2 = run("two");
    assert_eq!(r2["pairs"], 28);
    let applied = r2["exclusions"]["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0]["reason"], "mislabelled");
    assert_eq!(applied[0]["note"], "checked by hand");
    assert!(r2["exclusions"]["file_sha256"].is_string());
    let report = tmp.path().join("two/report.json").display().to_string();
    common::station(tmp.path(), &["qa", "verify", &report]).expect_code(0);
}

/// A folder of identities with a seeded impostor sample: reproducible, and stated in the report.
#[test]
fn qa_folder_input_with_a_seeded_impostor_sample() {
    let tmp = tempfile::tempdir().expect("tmp");
    let folder = common::data("faces/face_recognition").display().to_string();
    let run = |out: &str| {
        common::station(
            tmp.path(),
            &[
                "qa",
                "--folder",
                &folder,
                "--impostor-sample",
                "30",
                "--seed",
                "7",
                "--exclusions",
                &tmp.path().join("x.json").display().to_string(),
                "--out",
                &tmp.path().join(out).display().to_string(),
            ],
        )
        .expect_code(0);
        read_json(&tmp.path().join(out).join("report.json"))
    };
    let r = run("a");
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(
        n(&r["genuine"]) + n(&r["failures_to_acquire"]["genuine"]),
        14
    );
    assert_eq!(
        n(&r["impostor"]) + n(&r["failures_to_acquire"]["impostor"]),
        30
    );
    assert_eq!(r["input"]["kind"], "folder");
    let sel = r["input"]["selection"].to_string();
    assert!(sel.contains("seed 7") && sel.contains("30 of 77"), "{sel}");
    let r2 = run("b");
    assert_eq!(r["dataset_sha256"], r2["dataset_sha256"]);
    let scores = |d: &str| std::fs::read_to_string(tmp.path().join(d).join("scores.csv")).unwrap();
    assert_eq!(
        scores("a"),
        scores("b"),
        "the same seed gives the same pairs and scores"
    );
}

/// The station's own audit log: production scores as an unlabelled distribution.
#[test]
fn qa_reads_the_audit_log_as_unlabelled_production_scores() {
    let tmp = tempfile::tempdir().expect("tmp");
    let obama = common::data("faces/face_recognition/barack_obama/examples__obama.jpg");
    let obama2 = common::data("faces/face_recognition/barack_obama/examples__obama2.jpg");
    let biden = common::data("faces/face_recognition/joe_biden/examples__biden.jpg");
    common::station(
        tmp.path(),
        &[
            "compare",
            "--probe",
            &obama.display().to_string(),
            "--gallery",
            &obama2.display().to_string(),
            &biden.display().to_string(),
            "--no-liveness",
        ],
    );
    let log = tmp.path().join("audit.jsonl");
    assert!(log.is_file(), "compare wrote no audit log");
    let out = tmp.path().join("out");
    let run = common::station(
        tmp.path(),
        &[
            "qa",
            "--audit-log",
            &log.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
    );
    run.expect_code(0);
    let r = read_json(&out.join("report.json"));
    assert_eq!(r["input"]["kind"], "audit_log");
    assert_eq!(r["unlabelled"]["scores"], 2, "{}", r["unlabelled"]);
    assert_eq!(r["unlabelled"]["accepted_at_threshold"], 1);
    assert_eq!(r["pairs"], 0, "no labelled pairs");
    assert!(r["eer"].is_null());
    assert!(out.join("histogram.png").is_file());
}

/// `src/qa` sits beside `eval`: it must not reach up into the front ends.
#[test]
fn qa_core_does_not_name_the_front_ends() {
    // Every source file of the module tree, its children's folders included.
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("src/qa")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let body = &text[..text.find("#[cfg(test)]").unwrap_or(text.len())];
        for bad in ["crate::cli", "crate::server", "crate::app"] {
            assert!(!body.contains(bad), "{} names {bad}", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The QA screen
// ---------------------------------------------------------------------------------------------

fn screen_harness(screen: QaScreen) -> Harness<'static, QaScreen> {
    Harness::builder()
        .with_size(egui::vec2(1400.0, 2400.0))
        .build_ui_state(|ui, s: &mut QaScreen| s.ui(ui), screen)
}

fn paths(dir: &Path) -> facestation::paths::StationPaths {
    facestation::paths::StationPaths {
        models: Some(common::shared().join("models")),
        log: Some(dir.join("audit.jsonl")),
        key: Some(dir.join("key.pem")),
    }
}

fn label_of(e: &facestation::qa::Evaluation, t: f64) -> String {
    let r = rates_at(&e.set, t);
    format!(
        "{} {} ({} of {})",
        fmt_pct(r.fmr),
        fmt_ci(r.fmr_ci95),
        r.false_matches,
        r.impostor
    )
}

#[test]
fn qa_screen_threshold_table_guard_marks_apply_and_compare() {
    let tmp = tempfile::tempdir().expect("tmp");
    // 400 genuine, 2,000 impostor: FMR 1% is supported (300 needed), 0.1% and 0.01% are not.
    let fast = synthetic::evaluation("synthetic.csv", 400, 2000, 1, 0.0, tmp.path()).unwrap();
    let mut accurate =
        synthetic::evaluation("synthetic.csv", 400, 2000, 1, 0.05, tmp.path()).unwrap();
    accurate.search_mode = Some(facestation::api::SearchMode::Accurate);
    let mut screen = QaScreen::new(paths(tmp.path()));
    screen.load(fast.clone(), Some(accurate));
    let mut h = screen_harness(screen);
    h.run_steps(3);

    // The table and the guard.
    h.get_by_label("EER");
    h.get_by_label("FNMR @ FMR 1%");
    h.get_by_label("FNMR @ FMR 0.01%");
    let guards = h
        .query_all_by_label_contains("not supported by this data")
        .count();
    assert!(
        guards >= 2,
        "the 0.1% and 0.01% rows are guarded ({guards} found)"
    );
    let a1 = stats::fnmr_at_fmr(&fast.set, 1e-2);
    h.get_by_label(&format!("{} {}", fmt_pct(a1.fnmr), fmt_ci(a1.fnmr_ci95)));

    // Set the threshold through the slider: the rates follow.
    h.get_by_role_and_label(egui::accesskit::Role::Slider, "Threshold")
        .set_value_accesskit(0.55);
    h.run_steps(2);
    assert!(
        (h.state().threshold() - 0.55).abs() < 1e-9,
        "{}",
        h.state().threshold()
    );
    h.get_by_label(&label_of(&fast, 0.55));

    // Drag on the histogram: the threshold follows the pointer.
    let rect = h.state().histogram_rect().expect("histogram drawn");
    let y = rect.center().y;
    h.hover_at(egui::pos2(rect.left() + rect.width() * 0.3, y));
    h.step();
    h.drag_at(egui::pos2(rect.left() + rect.width() * 0.3, y));
    h.step();
    let before = h.state().threshold();
    for k in 1..=10 {
        h.hover_at(egui::pos2(
            rect.left() + rect.width() * (0.3 + 0.03 * k as f32),
            y,
        ));
        h.step();
    }
    h.drop_at(egui::pos2(rect.left() + rect.width() * 0.6, y));
    h.run_steps(2);
    let after = h.state().threshold();
    assert!(
        after > before + 0.05,
        "dragging right raised the threshold: {before} -> {after}"
    );
    h.get_by_label(&label_of(&fast, after));

    // The 0.01% target is guarded in the target row too.
    h.get_by_label("Target FMR").click();
    h.run_steps(2);
    h.get_by_label("0.01%").click();
    h.run_steps(2);
    h.get_by_label_contains("FMR 0.01%: not supported by this data");

    // Compare: McNemar is shown.
    h.get_by_label_contains("McNemar on 2400 paired decisions");

    // Mark the impostor nearest the threshold excluded: the side file is written, counts follow.
    let impostors = h.state().evaluation().unwrap().set.impostor_count();
    h.get_by_label("Note for a mark").click();
    h.get_by_label("Note for a mark")
        .type_text("duplicate photo");
    h.run_steps(2);
    h.query_all_by_label("exclude")
        .nth(NEAR_IMPOSTOR_COLUMN_FIRST)
        .expect("an exclude button")
        .click();
    h.run_steps(3);
    let e = h.state().evaluation().unwrap();
    assert_eq!(e.set.impostor_count() + e.set.genuine_count(), 2399);
    let _ = impostors;
    let file = ExclusionFile::load(&tmp.path().join("synthetic.csv.qa-exclusions.json")).unwrap();
    assert_eq!(file.exclusions.len(), 1);
    assert_eq!(file.exclusions[0].note, "duplicate photo");
    h.get_by_label_contains("Excluded pairs (1)");

    // Apply this threshold: the basis for the station's records.
    h.get_by_label("Apply this threshold").click();
    h.run_steps(2);
    let b = h.state_mut().take_applied().expect("applied");
    assert_eq!(b.dataset, "synthetic.csv");
    assert_eq!(b.excluded_pairs, 1);
    assert_eq!(b.impostor_pairs + b.genuine_pairs, 2399);
    assert!((b.threshold - h.state().threshold()).abs() < 1e-12);
    assert!(b.fmr_ci95[0] <= b.fmr && b.fmr <= b.fmr_ci95[1]);
    assert!(h.state_mut().take_applied().is_none(), "taken once");
    h.get_by_label_contains("Applied: FMR");
}

/// The first "exclude" buttons belong to the genuine column (20 rows), then the impostor column.
const NEAR_IMPOSTOR_COLUMN_FIRST: usize = 20;

/// Frame time while dragging the threshold over 100,000 synthetic pairs (printed; the bound is
/// generous because the test machine is shared).
#[test]
fn qa_screen_drag_over_100k_pairs_stays_smooth() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t0 = Instant::now();
    let e = synthetic::evaluation("big.csv", 10_000, 90_000, 3, 0.0, tmp.path()).unwrap();
    let build = t0.elapsed();
    let mut screen = QaScreen::new(paths(tmp.path()));
    let t0 = Instant::now();
    screen.load(e, None);
    let prepare = t0.elapsed();
    let mut h = screen_harness(screen);
    h.run_steps(3);
    let rect = h.state().histogram_rect().expect("histogram");
    let y = rect.center().y;
    h.hover_at(egui::pos2(rect.left() + 10.0, y));
    h.step();
    h.drag_at(egui::pos2(rect.left() + 10.0, y));
    let mut steps = Vec::new();
    let mut thresholds = Vec::new();
    for k in 0..300 {
        let x = rect.left() + 10.0 + (rect.width() - 20.0) * ((k % 100) as f32 / 100.0);
        h.hover_at(egui::pos2(x, y));
        let t = Instant::now();
        h.step();
        steps.push(t.elapsed().as_secs_f64() * 1000.0);
        thresholds.push(h.state().threshold());
    }
    h.drop_at(egui::pos2(rect.center().x, y));
    h.step();
    let distinct = {
        let mut t = thresholds.clone();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t.len()
    };
    assert!(
        distinct > 50,
        "the threshold followed the drag ({distinct} distinct values)"
    );
    let p95 = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * 0.95) as usize).min(v.len() - 1)]
    };
    let ui: Vec<f64> = h
        .state()
        .ui_times_ms()
        .into_iter()
        .rev()
        .take(300)
        .collect();
    eprintln!(
        "100,000 pairs: build {:.0} ms, prepare views {:.0} ms; dragging: QaScreen::ui p95 {:.2} ms (median {:.2}), whole frame (egui + tessellation, no GPU) p95 {:.2} ms",
        build.as_secs_f64() * 1000.0,
        prepare.as_secs_f64() * 1000.0,
        p95(&ui),
        {
            let mut u = ui.clone();
            u.sort_by(f64::total_cmp);
            u[u.len() / 2]
        },
        p95(&steps)
    );
    assert!(p95(&steps) < 100.0, "frame p95 {:.1} ms", p95(&steps));
}

/// Real scoring on the background thread: progress shows, the UI keeps stepping quickly, and
/// Cancel stops the run.
#[test]
fn qa_screen_scores_in_the_background_and_cancels() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut screen = QaScreen::new(paths(tmp.path()));
    screen.form.kind = SourceKind::PairsCsv;
    screen.form.input = common::data("pairs.csv").display().to_string();
    screen.form.source_prefix = "lfw_fold".into();
    // An empty cache: the descriptors are computed (a full one would finish before Cancel).
    screen.form.cache_dir = Some(tmp.path().join("descriptor-cache"));
    let mut h = screen_harness(screen);
    h.run_steps(2);
    h.get_by_label("Score").click();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut saw_progress = false;
    while start.elapsed() < Duration::from_secs(120) {
        let t = Instant::now();
        h.step();
        slowest = slowest.max(t.elapsed());
        if h.query_by_label_contains("images/s").is_some() {
            saw_progress = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_progress, "no progress within 120 s");
    assert!(h.state().is_busy());
    h.get_by_label("Cancel").click();
    while h.state().is_busy() && start.elapsed() < Duration::from_secs(180) {
        let t = Instant::now();
        h.step();
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!h.state().is_busy(), "the job did not stop");
    h.step();
    assert_eq!(h.state().message(), Some("cancelled"));
    assert!(h.state().evaluation().is_none());
    eprintln!(
        "slowest UI step while scoring: {:.1} ms",
        slowest.as_secs_f64() * 1000.0
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a UI step took {slowest:?}"
    );
}
