//! The station with the FAKE engine (`app::testing`): fixed faces, scores and liveness chosen
//! per test, a fixed key, clock and record stamps; no models and no ../shared. These check what
//! the operator's screen says (verdict headline, reasons, colours' rules via labels), that the
//! record says the same, the file dialogs drawn by egui, saves, and snapshots at kittest's
//! default tolerance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use egui_kittest::Harness;
use facestation::app::state::{LastResult, Settings};
use facestation::app::testing::{
    compare_done, fake_options, gallery_done, harness, probe_done, seen, step_until, test_frame,
    write_png, Script,
};
use facestation::app::{Command, StationApp, StationOptions};
use facestation::engine::verdict::Verdict;
use image::RgbImage;
use serde_json::Value;

const T: Duration = Duration::from_secs(20);

struct Station {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    h: Harness<'static, StationApp>,
}

/// A gallery image the fake finds one face in (tint tells them apart).
fn face(tint: u8) -> RgbImage {
    test_frame(320, 240, tint)
}

fn write_gallery(dir: &Path, images: &[(&str, RgbImage)]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir");
    images
        .iter()
        .map(|(name, img)| write_png(&dir.join(name), img))
        .collect()
}

impl Station {
    /// A station in a fresh temp dir with the fake engine, ready, and `gallery` loaded.
    fn new(script: Script, gallery: &[(&str, RgbImage)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        Self::at(
            Some(tmp),
            root,
            script,
            gallery,
            egui::vec2(1280.0, 800.0),
            |_| {},
        )
    }

    fn at(
        tmp: Option<tempfile::TempDir>,
        root: PathBuf,
        script: Script,
        gallery: &[(&str, RgbImage)],
        size: egui::Vec2,
        adjust: impl FnOnce(&mut StationOptions),
    ) -> Self {
        let mut options = fake_options(&root, script);
        options.gallery = write_gallery(&root.join("gallery"), gallery);
        adjust(&mut options);
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

    fn capture(&mut self) {
        self.h.key_press(egui::Key::Space);
        self.h.step();
        step_until(&mut self.h, "probe analysis", T, probe_done);
    }

    fn compare(&mut self) {
        self.h.key_press(egui::Key::Enter);
        self.h.step();
        step_until(&mut self.h, "compare", T, compare_done);
        // A logged decision is followed by the refreshed recent list: wait for it, so that
        // what is drawn next is settled.
        let id = match &self.h.state().last {
            Some(LastResult::Done { done, .. }) => done
                .record
                .as_ref()
                .ok()
                .and_then(|r| r["id"].as_str().map(str::to_string)),
            _ => None,
        };
        if let Some(id) = id {
            step_until(&mut self.h, "the recent records", T, |a| {
                a.recent.last().and_then(|r| r["id"].as_str()) == Some(id.as_str())
            });
        }
        self.h.step();
        self.h.step();
    }

    /// The last line of the audit log.
    fn logged(&self) -> Value {
        let log = std::fs::read_to_string(self.root.join("audit.jsonl")).expect("audit log");
        let last = log.lines().last().expect("a logged record");
        serde_json::from_str(last).expect("JSON line")
    }

    fn verdict_shown(&self) -> Verdict {
        let Some(LastResult::Done { done, .. }) = &self.h.state().last else {
            panic!("no compare result");
        };
        done.judgement.verdict
    }
}

/// Exactly one of the three headlines is on screen, and MATCH is not.
fn assert_headline(h: &Harness<'static, StationApp>, verdict: Verdict) {
    for v in [Verdict::Verified, Verdict::NotVerified, Verdict::Review] {
        // (The record panel repeats the verdict: at least one node.)
        let shown = h.query_all_by_label(v.label()).count() > 0;
        assert_eq!(shown, v == verdict, "headline {} shown: {shown}", v.label());
    }
    assert!(
        h.query_by_label("MATCH").is_none(),
        "MATCH is never the headline"
    );
}

#[test]
fn spoof_probe_against_a_matching_gallery_is_not_verified() {
    let script = Script {
        default_score: 0.9999,
        liveness_score: 0.20,
        ..Script::default()
    };
    let mut s = Station::new(script, &[("same_person.png", face(40))]);
    s.capture();
    s.compare();
    assert_eq!(s.verdict_shown(), Verdict::NotVerified);
    assert_headline(&s.h, Verdict::NotVerified);
    seen(&s.h, "SPOOF: liveness failed");
    // The score itself is still shown (it matched), under the verdict.
    seen(&s.h, "same_person.png: 0.9999");
    seen(&s.h, "SPOOF");
    let record = s.logged();
    assert_eq!(record["station"]["verdict"], "not_verified");
    assert_eq!(record["station"]["reasons"], serde_json::json!(["spoof"]));
    // The recent list names the verdict (not "?", not "match").
    step_until(&mut s.h, "recent records", T, |a| a.recent.len() == 1);
    s.h.step();
    s.h.get_by_label_contains("NOT VERIFIED spoof 0.9999");
}

#[test]
fn a_score_in_the_review_band_is_review_and_recorded_so() {
    // FAST threshold 0.993, band 0.9042..0.9970.
    let script = Script {
        default_score: 0.95,
        ..Script::default()
    };
    let mut s = Station::new(script, &[("enrolment.png", face(40))]);
    s.capture();
    s.compare();
    assert_eq!(s.verdict_shown(), Verdict::Review);
    assert_headline(&s.h, Verdict::Review);
    seen(&s.h, "Score within the review band");
    assert_eq!(s.logged()["station"]["verdict"], "review");
    step_until(&mut s.h, "recent records", T, |a| a.recent.len() == 1);
    s.h.step();
    s.h.get_by_label_contains("REVIEW borderline 0.9500");
}

#[test]
fn a_live_match_is_verified_and_the_record_says_so() {
    let mut s = Station::new(Script::default(), &[("enrolment.png", face(40))]);
    s.capture();
    s.compare();
    assert_eq!(s.verdict_shown(), Verdict::Verified);
    assert_headline(&s.h, Verdict::Verified);
    let record = s.logged();
    assert_eq!(record["station"]["verdict"], "verified");
    assert_eq!(record["station"]["reasons"], serde_json::json!([]));
    facestation::record::verify_record(&record).expect("signed");
    // The record panel's summary.
    s.h.get_by_label("signature valid");
    s.h.get_by_label("time: 2025-01-02T03:04:05.000Z");
    let key = record["signature"]["keyId"].as_str().expect("key id");
    s.h.get_by_label(&format!("key id: {key}"));
    // A fixed key and stamper: the same record on every run.
    assert_eq!(record["id"], "t0002");
    // The liveness crop context the local engine measured is shown.
    seen(&s.h, "context 2.5x");
}

#[test]
fn a_probe_the_face_rule_refuses_is_not_verified_with_that_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let blank = write_png(
        &tmp.path().join("blank.png"),
        &RgbImage::from_pixel(320, 240, image::Rgb([120, 120, 120])),
    );
    let two = write_png(&tmp.path().join("two.png"), &test_frame(900, 300, 10));
    let mut s = Station::new(Script::default(), &[("enrolment.png", face(40))]);
    for (probe, reason) in [
        (&blank, "No face in the probe"),
        (&two, "Several faces in the probe"),
    ] {
        s.h.state_mut().push(Command::AddProbeFile(probe.clone()));
        s.h.step();
        step_until(&mut s.h, "probe analysis", T, probe_done);
        s.compare();
        assert!(matches!(s.h.state().last, Some(LastResult::Failed(..))));
        assert_headline(&s.h, Verdict::NotVerified);
        seen(&s.h, reason);
    }
}

#[test]
fn esc_clears_probe_and_result_but_keeps_the_gallery() {
    let mut s = Station::new(
        Script::default(),
        &[("a.png", face(40)), ("b.png", face(80))],
    );
    s.capture();
    s.compare();
    s.h.key_press(egui::Key::Escape);
    s.h.step();
    let a = s.h.state();
    assert!(a.probe.is_none() && a.last.is_none() && a.shown_record.is_none());
    assert_eq!(a.gallery.len(), 2);
    assert!(!s
        .h
        .get_by_role_and_label(Role::Button, "Add images…")
        .accesskit_node()
        .is_disabled());
    // Capture again and compare again: the way back is one key each.
    s.capture();
    s.compare();
    assert_eq!(s.verdict_shown(), Verdict::Verified);
}

#[test]
fn commands_carry_their_shortcut_in_the_hover_text() {
    let ctx = egui::Context::default();
    assert!(Command::Compare.hover_text(&ctx).ends_with("(Enter)"));
    assert!(Command::Capture.hover_text(&ctx).ends_with("(Space)"));
    assert!(Command::Reset.hover_text(&ctx).contains("Esc"));
    assert!(Command::OpenGalleryDialog.hover_text(&ctx).contains('O'));
    assert_eq!(Command::CopyRecord.shortcut(), None);
}

#[test]
fn mode_change_takes_the_modes_default_threshold() {
    let mut s = Station::new(Script::default(), &[]);
    assert_eq!(s.h.state().compare_blocker(), Some("capture a probe first"));
    s.h.state_mut().settings.compare_threshold = 0.5;
    s.h.get_by_label("ACCURATE").click();
    s.h.step();
    s.h.step();
    let accurate =
        facestation::engine::score::default_threshold(facestation::api::SearchMode::Accurate);
    assert_eq!(s.h.state().settings.compare_threshold, accurate);
    s.capture();
    assert_eq!(
        s.h.state().compare_blocker(),
        Some("add a readable gallery image")
    );
}

/// A window is sized on its first frames before its contents show.
fn settle(h: &mut Harness<'static, StationApp>) {
    for _ in 0..5 {
        h.step();
    }
}

/// Clicks the file named `name` in the egui file dialog.
fn pick(h: &mut Harness<'static, StationApp>, name: &str) {
    h.get_by_label(&format!("🗋 {name}")).click();
    h.step();
}

#[test]
fn the_egui_file_dialog_adds_a_gallery_image_and_saves_the_record() {
    let mut s = Station::new(Script::default(), &[]);
    let pictures = s.root.join("pictures");
    write_gallery(
        &pictures,
        &[("id_card.png", face(30)), ("other.png", face(60))],
    );
    std::fs::write(pictures.join("notes.txt"), "not shown: not an image").expect("write");
    s.h.state_mut().settings.last_gallery_dir = Some(pictures.clone());

    // Add images…: the station's own dialog, in the window.
    s.h.get_by_role_and_label(Role::Button, "Add images…")
        .click();
    settle(&mut s.h);
    assert!(s.h.state().tasks.dialog_open());
    assert!(
        s.h.query_by_label("🗋 notes.txt").is_none(),
        "only images are listed"
    );
    pick(&mut s.h, "id_card.png");
    s.h.get_by_role_and_label(Role::Button, "Open").click();
    s.h.step();
    s.h.step();
    assert!(!s.h.state().tasks.dialog_open());
    step_until(&mut s.h, "gallery analysis", T, gallery_done);
    let names: Vec<&str> =
        s.h.state()
            .gallery
            .iter()
            .map(|g| g.name.as_str())
            .collect();
    assert_eq!(names, ["id_card.png"]);

    s.capture();
    s.compare();
    let out = s.root.join("saved");
    std::fs::create_dir_all(&out).expect("mkdir");
    s.h.state_mut().settings.last_save_dir = Some(out.clone());
    s.h.get_by_role_and_label(Role::Button, "Save…").click();
    for _ in 0..5 {
        s.h.step();
    }
    s.h.get_by_role_and_label(Role::Button, "Save").click();
    s.h.step();
    step_until(&mut s.h, "the save", T, |a| {
        a.notice.as_ref().is_some_and(|n| n.text.contains("saved"))
    });
    s.h.step();
    let saved = out.join("t0002.json");
    let text = std::fs::read_to_string(&saved).expect("saved record");
    let saved_record: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        saved_record,
        s.logged(),
        "the saved record is the logged one"
    );
    s.h.get_by_label_contains(&format!("record saved to {}", saved.display()));

    // Cancel leaves without a save and without an error.
    s.h.state_mut().notice = None;
    s.h.state_mut().push(Command::SaveRecord);
    for _ in 0..5 {
        s.h.step();
    }
    s.h.get_by_role_and_label(Role::Button, "Cancel").click();
    s.h.step();
    s.h.step();
    assert!(!s.h.state().tasks.dialog_open());
    assert!(s.h.state().notice.is_none());
}

#[test]
fn a_save_that_fails_is_reported() {
    let mut s = Station::new(Script::default(), &[("a.png", face(40))]);
    s.capture();
    s.compare();
    let missing = s.root.join("no-such-folder");
    s.h.state_mut().settings.last_save_dir = Some(missing.clone());
    // The dialog cannot open a missing folder; write there through the dialog's path field.
    s.h.state_mut().push(Command::SaveRecord);
    for _ in 0..5 {
        s.h.step();
    }
    let name_field =
        s.h.query_all_by_role(Role::TextInput)
            .last()
            .expect("the file name field");
    name_field.focus();
    s.h.step();
    s.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    s.h.step();
    let bad = format!("{}/t0002.json", missing.display());
    s.h.query_all_by_role(Role::TextInput)
        .last()
        .expect("the file name field")
        .type_text(&bad);
    s.h.step();
    s.h.get_by_role_and_label(Role::Button, "Save").click();
    s.h.step();
    step_until(&mut s.h, "the failed save", T, |a| {
        a.notice.as_ref().is_some_and(|n| n.error)
    });
    s.h.step();
    let notice = s.h.state().notice.clone().expect("notice");
    assert!(
        notice.text.contains("could not save the record") && notice.text.contains("t0002.json"),
        "{}",
        notice.text
    );
    s.h.get_by_label_contains("could not save the record");
}

/// Snapshot states share one fixed folder: its paths are drawn in the status bar.
fn snapshot_station(
    name: &str,
    size: egui::Vec2,
    script: Script,
    gallery: &[(&str, RgbImage)],
) -> Station {
    let root = std::env::temp_dir().join(format!("facestation-gui-snapshots-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("mkdir");
    Station::at(None, root, script, gallery, size, |_| {})
}

fn snapshot(h: &mut Harness<'static, StationApp>, name: &str) {
    h.remove_cursor();
    h.step();
    h.step();
    h.snapshot(name);
}

#[test]
fn snapshots_of_main_states() {
    let mut s = snapshot_station(
        "main",
        egui::vec2(1280.0, 800.0),
        Script::default(),
        &[("enrolment_photo_of_the_person.png", face(40))],
    );
    step_until(&mut s.h, "preview detection", T, |a| {
        a.preview.detections > 0
    });
    snapshot(&mut s.h, "station_empty");
    s.capture();
    snapshot(&mut s.h, "station_probe_captured");
    s.compare();
    snapshot(&mut s.h, "station_result");
}

#[test]
fn snapshot_of_a_spoof() {
    let script = Script {
        liveness_score: 0.2,
        ..Script::default()
    };
    let mut s = snapshot_station(
        "spoof",
        egui::vec2(1280.0, 800.0),
        script,
        &[("enrolment.png", face(40))],
    );
    s.capture();
    s.compare();
    snapshot(&mut s.h, "station_not_verified_spoof");
}

fn eight() -> Vec<(String, RgbImage)> {
    (0..8)
        .map(|i| {
            let name = if i == 3 {
                "a_very_long_file_name_from_the_enrolment_scanner_0003.png".to_string()
            } else {
                format!("gallery_{i}.png")
            };
            (name, face(20 + 25 * i as u8))
        })
        .collect()
}

/// Eight gallery images, one with a long name: the gallery wraps (and scrolls), the name is
/// shortened, every score stays on screen.
fn gallery_of_eight(w: f32, h: f32) {
    let images = eight();
    let refs: Vec<(&str, RgbImage)> = images
        .iter()
        .map(|(n, i)| (n.as_str(), i.clone()))
        .collect();
    let script = Script {
        scores: vec![0.91, 0.42, 0.55, 0.88, 0.30, 0.61, 0.75, 0.20],
        ..Script::default()
    };
    let mut s = snapshot_station(&format!("{w}x{h}"), egui::vec2(w, h), script, &refs);
    s.capture();
    s.compare();
    for row in s.h.query_all_by_label_contains("scanner_0003.png: 0.8800") {
        let rect = row.rect();
        assert!(rect.max.x <= w, "the score row leaves the screen: {rect:?}");
    }
    seen(&s.h, "gallery_7.png: 0.2000");
    snapshot(&mut s.h, &format!("station_gallery8_{w}x{h}"));
}

#[test]
fn a_gallery_of_eight_fits_at_1280x800() {
    gallery_of_eight(1280.0, 800.0);
}

#[test]
fn a_gallery_of_eight_fits_at_1920x1080() {
    gallery_of_eight(1920.0, 1080.0);
}
