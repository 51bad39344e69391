//! The access-control desk in the station window, with the FAKE engine (`app::testing`): the
//! operator typed at shift start is in every record; a mode, threshold or liveness change is a
//! signed configuration record (one per release of a slider, not one per frame); the QA
//! workbench's "Apply this threshold" sets the station's threshold and every later record's
//! basis; the history screen lists, searches, filters, opens (signature and key trust) and
//! exports. Also writes the README's screenshots of the history and QA screens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use facestation::app::state::{LastResult, Settings};
use facestation::app::testing::{
    compare_done, fake_options, gallery_done, harness, probe_done, step_until, test_frame,
    write_png, Script,
};
use facestation::app::{Command, Screen, StationApp};
use image::RgbImage;
use serde_json::Value;

const T: Duration = Duration::from_secs(20);

struct Desk {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    h: Harness<'static, StationApp>,
}

fn face(tint: u8) -> RgbImage {
    test_frame(320, 240, tint)
}

impl Desk {
    fn new(script: Script, gallery: &[(&str, RgbImage)], size: egui::Vec2) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        Self::at(Some(tmp), root, script, gallery, size)
    }

    fn at(
        tmp: Option<tempfile::TempDir>,
        root: PathBuf,
        script: Script,
        gallery: &[(&str, RgbImage)],
        size: egui::Vec2,
    ) -> Self {
        let mut options = fake_options(&root, script);
        let dir = root.join("gallery");
        std::fs::create_dir_all(&dir).expect("mkdir");
        options.gallery = gallery
            .iter()
            .map(|(name, img)| write_png(&dir.join(name), img))
            .collect();
        let mut h = harness(options, Settings::default(), size);
        step_until(&mut h, "the fake engine", T, |a| a.is_ready());
        step_until(&mut h, "a camera frame", T, |a| {
            a.preview.shown_seq.is_some()
        });
        if !gallery.is_empty() {
            step_until(&mut h, "gallery analysis", T, gallery_done);
        }
        Self { _tmp: tmp, root, h }
    }

    fn set_operator(&mut self, name: &str) {
        self.h
            .get_by_role_and_label(Role::TextInput, "Operator")
            .focus();
        self.h.step();
        self.h
            .get_by_role_and_label(Role::TextInput, "Operator")
            .type_text(name);
        self.h.step();
        self.h
            .get_by_role_and_label(Role::Button, "Start shift")
            .click();
        self.h.step();
        self.h.step();
    }

    /// Captures a fresh probe (retaking a frozen one first) and compares.
    fn decide(&mut self) {
        if self.h.state().probe.is_some() {
            self.h.state_mut().push(Command::Retake);
            self.h.step();
            self.h.step();
        }
        self.h.state_mut().push(Command::Capture);
        self.h.step();
        step_until(&mut self.h, "probe analysis", T, probe_done);
        let before = self.lines().len();
        self.h.state_mut().push(Command::Compare);
        self.h.step();
        step_until(&mut self.h, "compare", T, compare_done);
        assert!(
            matches!(self.h.state().last, Some(LastResult::Done { .. })),
            "the compare failed: {:?}",
            match &self.h.state().last {
                Some(LastResult::Failed(m, _)) => m.clone(),
                _ => String::new(),
            }
        );
        wait_for_lines(&self.root, before + 1);
        self.h.step();
    }

    fn lines(&self) -> Vec<Value> {
        read_log(&self.root)
    }

    fn configs(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|r| r["data"]["type"] == "configuration")
            .collect()
    }

    fn last_decision(&self) -> Value {
        self.lines()
            .into_iter()
            .rev()
            .find(|r| r["data"]["type"] != "configuration")
            .expect("a decision in the log")
    }

    fn show(&mut self, screen: Screen) {
        self.h
            .get_by_role_and_label(Role::Button, screen.label())
            .click();
        self.h.step();
        self.h.step();
        assert_eq!(self.h.state().screen, screen);
    }
}

fn read_log(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The worker appends on its own thread: wait until the log has `n` lines.
#[track_caller]
fn wait_for_lines(root: &Path, n: usize) {
    let start = std::time::Instant::now();
    while read_log(root).len() < n {
        assert!(
            start.elapsed() < T,
            "the log has {} lines, expected {n}",
            read_log(root).len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

const SIZE: egui::Vec2 = egui::vec2(1280.0, 800.0);
/// A score above FAST's and ACCURATE's review bands (thresholds 0.993 / 0.9922): VERIFIED.
const MATCH: f64 = facestation::app::testing::CLEAR_MATCH;

#[test]
fn desk_operator_set_at_shift_start_is_in_every_record() {
    let mut d = Desk::new(Script::default(), &[("id_card_ana.png", face(40))], SIZE);
    // Asked at start: the field is open and says what is missing.
    d.h.get_by_label("no operator: records will name none");
    d.set_operator("Ana B");
    d.h.get_by_label("Operator: Ana B");
    d.decide();
    let r = d.last_decision();
    assert_eq!(r["station"]["operator"], "Ana B");
    assert_eq!(
        r["station"]["galleryNames"],
        serde_json::json!(["id_card_ana.png"])
    );
    facestation::record::verify_record(&r).expect("signed");

    // Changed mid-session: the next record names the new operator.
    d.h.get_by_role_and_label(Role::Button, "change").click();
    d.h.step();
    d.h.step();
    d.h.get_by_role_and_label(Role::TextInput, "Operator")
        .focus();
    d.h.step();
    d.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    d.h.step();
    d.h.get_by_role_and_label(Role::TextInput, "Operator")
        .type_text("Ben C");
    d.h.step();
    d.h.get_by_role_and_label(Role::Button, "Change operator")
        .click();
    d.h.step();
    d.h.step();
    d.h.get_by_label("Operator: Ben C");
    d.decide();
    assert_eq!(d.last_decision()["station"]["operator"], "Ben C");
    // A blank name is refused and the operator stays.
    assert!(d.h.state_mut().operator.set("   ").is_err());
    assert_eq!(d.h.state().operator.name(), Some("Ben C"));
}

#[test]
fn desk_mode_change_appends_a_signed_config_record_with_before_and_after() {
    let mut d = Desk::new(Script::default(), &[], SIZE);
    d.set_operator("Ana B");
    assert!(d.configs().is_empty());
    d.h.get_by_label("ACCURATE").click();
    d.h.step();
    wait_for_lines(&d.root, 1);
    // More frames do not record it again.
    for _ in 0..5 {
        d.h.step();
    }
    let c = d.configs();
    assert_eq!(c.len(), 1, "{c:?}");
    let r = &c[0];
    facestation::record::verify_record(r).expect("signed");
    assert_eq!(r["station"]["setting"], "search_mode");
    assert_eq!(r["station"]["before"], "FAST");
    assert_eq!(r["station"]["after"], "ACCURATE");
    assert_eq!(r["station"]["operator"], "Ana B");
    assert!(r["station"]["basis"]
        .as_str()
        .is_some_and(|b| b.contains("ACCURATE")));

    // The engine switch is one too.
    d.h.get_by_label("Remote").click();
    d.h.step();
    wait_for_lines(&d.root, 2);
    let c = d.configs();
    assert_eq!(c[1]["station"]["setting"], "engine");
    assert_eq!(
        (
            c[1]["station"]["before"].as_str(),
            c[1]["station"]["after"].as_str()
        ),
        (Some("local"), Some("remote"))
    );
}

#[test]
fn desk_threshold_slider_is_recorded_once_on_release() {
    let mut d = Desk::new(Script::default(), &[], SIZE);
    let before = d.h.state().settings.compare_threshold;
    let rect =
        d.h.get_by_role_and_label(Role::Slider, "compare threshold")
            .rect();
    let y = rect.center().y;
    // The slider's rail is left of its value and label: drag within its first half.
    let x0 = rect.left() + rect.width() * 0.1;
    d.h.hover_at(egui::pos2(x0, y));
    d.h.step();
    d.h.drag_at(egui::pos2(x0, y));
    d.h.step();
    for k in 1..=10 {
        d.h.hover_at(egui::pos2(x0 + 8.0 * k as f32, y));
        d.h.step();
    }
    std::thread::sleep(Duration::from_millis(100));
    d.h.step();
    assert!(
        d.configs().is_empty(),
        "nothing is recorded while the slider is held"
    );
    d.h.drop_at(egui::pos2(x0 + 80.0, y));
    d.h.step();
    wait_for_lines(&d.root, 1);
    for _ in 0..5 {
        d.h.step();
    }
    std::thread::sleep(Duration::from_millis(50));
    let c = d.configs();
    assert_eq!(c.len(), 1, "one record for one drag: {c:?}");
    let after = d.h.state().settings.compare_threshold;
    assert_ne!(after, before, "the drag moved the threshold");
    assert_eq!(c[0]["station"]["setting"], "compare_threshold.FAST");
    assert_eq!(c[0]["station"]["before"], before);
    assert_eq!(c[0]["station"]["after"], after);
    assert_eq!(c[0]["station"]["basis"], "set by the operator");
}

#[test]
fn desk_qa_threshold_applied_is_the_basis_of_later_records() {
    // Tall enough for the whole QA screen (its Apply button is near the bottom).
    let mut d = Desk::new(
        Script::default(),
        &[("enrolment.png", face(50))],
        egui::vec2(1400.0, 2400.0),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let eval =
        facestation::qa::synthetic::evaluation("desk-pairs.csv", 400, 2000, 1, 0.0, tmp.path())
            .expect("synthetic evaluation");
    d.h.state_mut().qa.load(eval, None);
    d.show(Screen::Qa);
    d.h.get_by_role_and_label(Role::Slider, "Threshold")
        .set_value_accesskit(0.61);
    d.h.step();
    d.h.step();
    d.h.get_by_role_and_label(Role::Button, "Apply this threshold")
        .click();
    d.h.step();
    d.h.step();
    wait_for_lines(&d.root, 1);
    let basis = d.h.state().qa.last_applied().cloned().expect("applied");
    let mode = basis
        .search_mode
        .unwrap_or(facestation::api::SearchMode::Fast);
    assert_eq!(d.h.state().settings.mode, mode);
    assert_eq!(d.h.state().settings.compare_threshold, basis.threshold);
    let c = d.configs();
    assert_eq!(c.len(), 1, "{c:?}");
    facestation::record::verify_record(&c[0]).expect("signed");
    assert_eq!(
        c[0]["station"]["setting"],
        format!("compare_threshold.{}", mode.as_str())
    );
    assert_eq!(c[0]["station"]["after"], basis.threshold);
    assert_eq!(c[0]["station"]["basis"], basis.summary());

    d.show(Screen::Station);
    d.decide();
    let r = d.last_decision();
    assert_eq!(r["station"]["thresholdBasis"], basis.summary());
    assert_eq!(r["station"]["threshold"], basis.threshold);
    // The summary names the dataset, its digest, the FMR with its interval and the impostors.
    let s = basis.summary();
    assert!(s.contains("desk-pairs.csv") && s.contains("95% CI") && s.contains("impostor pairs"));

    // A moved slider is the operator's threshold: its records no longer claim the basis.
    d.h.state_mut().settings.compare_threshold = 0.42;
    d.h.step();
    d.h.step();
    d.decide();
    let r = d.last_decision();
    assert_ne!(r["station"]["thresholdBasis"], basis.summary());
}

#[test]
fn desk_qa_threshold_for_the_other_mode_waits_for_that_mode() {
    let mut d = Desk::new(
        Script::default(),
        &[("enrolment.png", face(50))],
        egui::vec2(1400.0, 2400.0),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let mut eval =
        facestation::qa::synthetic::evaluation("accurate-pairs.csv", 400, 2000, 2, 0.0, tmp.path())
            .expect("synthetic evaluation");
    eval.search_mode = Some(facestation::api::SearchMode::Accurate);
    d.h.state_mut().qa.load(eval, None);
    d.show(Screen::Qa);
    d.h.get_by_role_and_label(Role::Slider, "Threshold")
        .set_value_accesskit(0.6);
    d.h.step();
    d.h.get_by_role_and_label(Role::Button, "Apply this threshold")
        .click();
    d.h.step();
    d.h.step();
    wait_for_lines(&d.root, 1);
    let basis = d.h.state().qa.last_applied().cloned().expect("applied");
    let fast = facestation::engine::score::default_threshold(facestation::api::SearchMode::Fast);
    // FAST keeps its threshold; ACCURATE's is recorded as changed.
    assert_eq!(d.h.state().settings.compare_threshold, fast);
    let c = d.configs();
    assert_eq!(c[0]["station"]["setting"], "compare_threshold.ACCURATE");
    assert_eq!(c[0]["station"]["after"], basis.threshold);
    d.show(Screen::Station);
    d.h.get_by_label("ACCURATE").click();
    d.h.step();
    d.h.step();
    assert_eq!(d.h.state().settings.compare_threshold, basis.threshold);
    d.decide();
    let r = d.last_decision();
    assert_eq!(r["data"]["search_mode"], "ACCURATE");
    assert_eq!(r["station"]["thresholdBasis"], basis.summary());
    let c = d.configs();
    assert_eq!(c.len(), 2, "the apply and the mode change: {c:?}");
    assert_eq!(c[1]["station"]["setting"], "search_mode");
    // Back on FAST: the engine's default and its own basis.
    d.h.get_by_label("FAST").click();
    d.h.step();
    d.h.step();
    assert_eq!(d.h.state().settings.compare_threshold, fast);
    d.decide();
    assert_eq!(
        d.last_decision()["station"]["thresholdBasis"],
        facestation::engine::score::threshold_basis(facestation::api::SearchMode::Fast)
    );
}

#[test]
fn desk_history_lists_searches_filters_opens_and_exports() {
    // A spoofing probe: NOT VERIFIED while liveness is checked, VERIFIED once it is off.
    let script = Script {
        default_score: MATCH,
        liveness_score: 0.2,
        ..Script::default()
    };
    let mut d = Desk::new(script, &[("id_card_ana.png", face(40))], SIZE);
    d.set_operator("Ana B");
    d.decide();
    d.h.get_by_label("check liveness").click();
    d.h.step();
    d.h.step();
    d.decide();
    assert_eq!(d.lines().len(), 3, "two decisions and the liveness change");

    d.show(Screen::History);
    step_until(&mut d.h, "the history", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.len() == 3)
    });
    d.h.step();
    d.h.get_by_label("3 of 3 records");
    // The station's keys belong to the Station screen: Space here does not retake the probe.
    assert!(d.h.state().probe.is_some());
    d.h.key_press(egui::Key::Space);
    d.h.step();
    assert!(
        d.h.state().probe.is_some(),
        "Space on History left the probe alone"
    );
    d.h.get_by_label("NOT VERIFIED");
    d.h.get_by_label("VERIFIED");
    d.h.get_by_label("configuration");
    assert!(d.h.query_all_by_label("id_card_ana.png").count() == 2);
    assert!(d.h.query_all_by_label("Ana B").count() >= 3);

    // A new record reaches the history (the index is extended, not rebuilt).
    d.show(Screen::Station);
    d.decide();
    d.show(Screen::History);
    step_until(&mut d.h, "the refreshed history", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.len() == 4)
    });

    // Search: the spoof.
    d.h.get_by_role_and_label(Role::TextInput, "Search").focus();
    d.h.step();
    d.h.get_by_role_and_label(Role::TextInput, "Search")
        .type_text("spoof");
    d.h.step();
    step_until(&mut d.h, "the search", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.len() == 1)
    });
    d.h.step();
    d.h.get_by_label("1 of 4 records");

    // Open it: the summary, signature valid and key trusted.
    d.h.get_by_label("NOT VERIFIED").click();
    d.h.step();
    step_until(&mut d.h, "the opened record", T, |a| {
        a.history.as_ref().is_some_and(|h| h.opened.is_some())
    });
    d.h.step();
    d.h.step();
    d.h.get_by_label("signature valid");
    d.h.get_by_label_contains("key trusted (the station's key");
    d.h.get_by_label("Record (JSON)");

    // Export the filtered rows: CSV through the station's file dialog.
    let out = d.root.join("exports");
    std::fs::create_dir_all(&out).expect("mkdir");
    d.h.state_mut().settings.last_save_dir = Some(out.clone());
    d.h.get_by_role_and_label(Role::Button, "Export CSV…")
        .click();
    for _ in 0..5 {
        d.h.step();
    }
    d.h.get_by_role_and_label(Role::Button, "Save").click();
    d.h.step();
    step_until(&mut d.h, "the export", T, |a| {
        a.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("rows exported"))
    });
    let csv = std::fs::read_to_string(out.join("facestation-history.csv")).expect("exported");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "header + the one row shown:\n{csv}");
    assert!(rows[0].starts_with("seq,time,type,verdict"));
    assert!(
        rows[1].contains("not_verified") && rows[1].contains("spoof") && rows[1].contains("Ana B"),
        "{}",
        rows[1]
    );

    // Filter by verdict through the history's state (the combo box is egui's own), then clear.
    d.h.get_by_role_and_label(Role::Button, "Clear").click();
    d.h.step();
    d.h.state_mut().history_form.verdict = Some("verified".into());
    d.h.step();
    step_until(&mut d.h, "the verdict filter", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.len() == 2 && s.filter.verdict.is_some())
    });
    let shown =
        d.h.state()
            .history
            .as_ref()
            .and_then(|h| h.shown.clone())
            .expect("shown");
    assert_eq!(shown.total.verified, 2);
    assert_eq!(shown.total.pass_rate, Some(1.0));
    assert_eq!(shown.total.by_operator.get("Ana B"), Some(&2));
    assert_eq!(shown.daily.len(), 1, "one day (the fixed clock)");
    d.h.get_by_label("Daily summary").click();
    d.h.step();
    d.h.step();
    d.h.get_by_label("2025-01-02");
    d.h.get_by_label("Ana B 2");
    // Date and score filters.
    d.h.state_mut().history_form.verdict = None;
    d.h.state_mut().history_form.since = "2025-01-03".into();
    d.h.step();
    step_until(&mut d.h, "the date filter", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.is_empty())
    });
    d.h.state_mut().history_form.since = "2025-01-02".into();
    d.h.state_mut().history_form.min_score = "0.99995".into();
    d.h.step();
    step_until(&mut d.h, "the score filter", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.is_empty() && s.filter.min_score == Some(0.99995))
    });
    d.h.state_mut().history_form.min_score = "0.5".into();
    d.h.step();
    step_until(&mut d.h, "the score filter", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.len() == 3)
    });
    d.h.state_mut().history_form.min_score = "x".into();
    d.h.step();
    d.h.step();
    d.h.get_by_label("score from: a number such as 0.5");
}

/// The README's screenshots: the history after a few decisions, and the QA screen with a
/// synthetic evaluation. Held at kittest's default tolerance like the station's snapshots.
#[test]
fn desk_snapshots_of_history_and_qa() {
    let root = std::env::temp_dir().join("facestation-desk-snapshots");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("mkdir");
    let script = Script {
        default_score: MATCH,
        liveness_score: 0.2,
        ..Script::default()
    };
    let mut d = Desk::at(
        None,
        root.clone(),
        script,
        &[
            ("id_card_ana.png", face(40)),
            ("passport_ana.png", face(80)),
        ],
        SIZE,
    );
    d.set_operator("Ana B");
    d.decide();
    d.h.get_by_label("check liveness").click();
    d.h.step();
    d.decide();
    d.h.get_by_label("ACCURATE").click();
    d.h.step();
    d.decide();
    d.show(Screen::History);
    step_until(&mut d.h, "the history", T, |a| {
        a.history
            .as_ref()
            .and_then(|h| h.shown.as_ref())
            .is_some_and(|s| s.rows.len() == 5)
    });
    d.h.step();
    d.h.get_by_label("NOT VERIFIED").click();
    d.h.step();
    step_until(&mut d.h, "the opened record", T, |a| {
        a.history.as_ref().is_some_and(|h| h.opened.is_some())
    });
    d.h.remove_cursor();
    for _ in 0..3 {
        d.h.step();
    }
    d.h.snapshot("desk_history");
    copy_to_assets("desk_history", "station-history.png");

    let eval = facestation::qa::synthetic::evaluation("desk-pairs.csv", 400, 2000, 1, 0.0, &root)
        .expect("synthetic evaluation");
    d.h.state_mut().qa.load(eval, None);
    // At about FMR 1%, the operating point this data supports.
    d.h.state_mut().qa.set_threshold(0.58);
    d.show(Screen::Qa);
    d.h.remove_cursor();
    for _ in 0..3 {
        d.h.step();
    }
    d.h.snapshot("desk_qa");
    copy_to_assets("desk_qa", "station-qa.png");
}

/// The snapshot kittest just checked, copied to assets/ for the README.
fn copy_to_assets(snapshot: &str, asset: &str) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let from = repo.join("tests/snapshots").join(format!("{snapshot}.png"));
    std::fs::copy(&from, repo.join("assets").join(asset))
        .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}
