//! The record of a decision in the shape of Verifik's Compare example, with the station's own
//! fields beside Verifik's (in `station`), ready to be signed. Every front end's record is built
//! here, so a GUI, CLI and server decision are the same artefact.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::timeutil::iso_millis;
use super::timeutil::short_id;
use crate::engine::verdict::{Judgement, ReviewBand};
use crate::engine::{CompareOutcome, Decision, LivenessOutcome};

/// The time and the ids a new record gets: the system clock and OS randomness in production,
/// fixed values in tests (so that records, and the screens that show them, are reproducible).
pub trait Stamper: Send + Sync {
    fn now(&self) -> OffsetDateTime;
    /// Verifik's 5-character `id`.
    fn record_id(&self) -> String;
    /// Verifik's 24-hex `data._id`.
    fn object_id(&self) -> String;
}

/// The production stamper.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemStamper;

impl Stamper for SystemStamper {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
    fn record_id(&self) -> String {
        short_id()
    }
    fn object_id(&self) -> String {
        random_hex(12)
    }
}

/// A fixed clock and counting ids, for tests and reproducible screenshots.
#[derive(Debug)]
pub struct FixedStamper {
    at: OffsetDateTime,
    next: AtomicU64,
}

impl FixedStamper {
    pub fn new(at: OffsetDateTime) -> Self {
        Self {
            at,
            next: AtomicU64::new(1),
        }
    }
    fn count(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

impl Stamper for FixedStamper {
    fn now(&self) -> OffsetDateTime {
        self.at
    }
    fn record_id(&self) -> String {
        format!("t{:04}", self.count() % 10_000)
    }
    fn object_id(&self) -> String {
        format!("{:024x}", self.count())
    }
}

/// Who and what a decision was for, beyond the images: the operator on shift (a name typed at
/// the start of a shift, not a biometric), and for a kiosk the claimed identity, the kiosk's id
/// and the attempt number.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionContext {
    pub operator: Option<String>,
    pub claimed_id: Option<String>,
    pub kiosk_id: Option<String>,
    pub attempt: Option<u32>,
    /// The gallery images' file names (base names only), in gallery order, for the history.
    pub gallery_names: Vec<String>,
    /// The images' capture quality as `station::decide` measured it: `probe` (a
    /// `vision::quality::QualityReport` or null), `probeNote` (why null), `probeMeasuredBy`, and
    /// `gallery` (`{report, note}` in request order). Filled by `decide`, not by its callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Value>,
}

/// A change of a setting that affects decisions (threshold, mode, engine, review band),
/// recorded as a signed configuration record with its values before and after.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigChange {
    pub setting: String,
    pub before: Value,
    pub after: Value,
    /// Why the new value (e.g. the threshold basis chosen in the QA workbench).
    pub basis: Option<String>,
}

/// How a record is built.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Embed the images as base64 (as Verifik does). Off by default: the record keeps SHA-256 digests.
    pub embed_images: bool,
    /// The probe and gallery bytes, needed only when `embed_images` is set.
    pub images: Option<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Verifik's `client`: here the station's key id.
    pub client: String,
    /// When the comparison started.
    pub compared_at: Option<OffsetDateTime>,
    pub context: DecisionContext,
}

/// Verifik's human date, e.g. "September 29, 2023 6:57 PM" (UTC).
pub fn verifik_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (h, pm) = match t.hour() {
        0 => (12, false),
        h @ 1..=11 => (h, false),
        12 => (12, true),
        h => (h - 12, true),
    };
    format!(
        "{} {}, {} {}:{:02} {}",
        t.month(),
        t.day(),
        t.year(),
        h,
        t.minute(),
        if pm { "PM" } else { "AM" }
    )
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Builds the unsigned record of one decision.
pub fn build_record(
    outcome: &CompareOutcome,
    judgement: &Judgement,
    band: &ReviewBand,
    options: &RecordOptions,
    stamp: &dyn Stamper,
) -> Value {
    let now = stamp.now();
    let compared = options.compared_at.unwrap_or(now);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (probe, gallery): (Vec<String>, Vec<String>) = match (&options.images, options.embed_images)
    {
        (Some((p, g)), true) => (vec![b64(p)], g.iter().map(|x| b64(x)).collect()),
        _ => (
            vec![format!("sha256:{}", outcome.probe_sha256)],
            outcome
                .gallery
                .iter()
                .map(|g| format!("sha256:{}", g.sha256))
                .collect(),
        ),
    };
    // Verifik's two endpoints: a decision that checked liveness is a `compare-live`.
    let kind = if outcome.liveness.is_some() {
        "compare-live"
    } else {
        "compare"
    };
    let mut data = json!({
        "__v": 0,
        "_id": stamp.object_id(),
        "type": kind,
        "probe": probe,
        "client": options.client,
        "result": {
            "score": outcome.score,
            "compare_min_score": outcome.threshold,
            "passed": outcome.decision == Decision::Match,
        },
        "deleted": false,
        "gallery": gallery,
        "createdAt": iso_millis(now),
        "updatedAt": iso_millis(now),
        "comparedAt": iso_millis(compared),
        "search_mode": outcome.search_mode.as_str(),
    });
    if let Some(l) = &outcome.liveness {
        data["liveness"] = json!({
            "liveness_score": l.score,
            "min_score": l.min_score,
            "passed": l.passed(),
        });
    }
    let station = json!({
        "engine": outcome.engine,
        "verdict": judgement.verdict,
        "reasons": judgement.reasons,
        "reviewBand": {
            "below": band.below,
            "above": band.above,
            "basis": band.basis,
        },
        "decision": outcome.decision,
        "passed": judgement.verdict == crate::engine::verdict::Verdict::Verified,
        "threshold": outcome.threshold,
        "thresholdBasis": outcome.threshold_basis,
        "probe": {
            "sha256": outcome.probe_sha256,
            "facesFound": outcome.probe_faces_found,
            "face": outcome.probe_face,
        },
        "gallery": outcome.gallery,
        "liveness": outcome.liveness,
        "models": outcome.models,
        "timingsMs": outcome.timings,
        "version": env!("CARGO_PKG_VERSION"),
        "remote": outcome.remote,
        "imagesEmbedded": options.embed_images && options.images.is_some(),
        // What of the images the station kept: only digests, unless --embed-images.
        "imagesKept": if options.embed_images && options.images.is_some() { "embedded" } else { "none" },
        "operator": options.context.operator,
        "claimedId": options.context.claimed_id,
        "kioskId": options.context.kiosk_id,
        "attempt": options.context.attempt,
        "galleryNames": options.context.gallery_names,
    });
    let mut station = station;
    add_quality(&mut station, options.context.quality.as_ref());
    json!({
        "id": stamp.record_id(),
        "data": data,
        "signature": {
            "message": "Certified by FaceStation",
            "dateTime": verifik_date(now),
        },
        "station": station,
    })
}

/// `station.quality` (the probe's measures and action codes) and `station.gallery[i].quality`
/// (each gallery image's, matched by its request index); null with a note when not measured.
fn add_quality(station: &mut Value, quality: Option<&Value>) {
    let Some(q) = quality else {
        station["quality"] = json!({
            "probe": Value::Null,
            "probeNote": "not measured (this record was not made through station::decide)",
        });
        return;
    };
    station["quality"] = json!({
        "probe": q["probe"],
        "probeNote": q["probeNote"],
        "probeMeasuredBy": q["probeMeasuredBy"],
    });
    let per_image = q["gallery"].as_array().cloned().unwrap_or_default();
    if let Some(gallery) = station["gallery"].as_array_mut() {
        for g in gallery {
            let entry = g["index"]
                .as_u64()
                .and_then(|i| per_image.get(i as usize))
                .cloned()
                .unwrap_or(json!({"report": null, "note": "not measured"}));
            g["quality"] = entry["report"].clone();
            g["qualityNote"] = entry["note"].clone();
        }
    }
}

/// Builds the unsigned record of a liveness-only decision, in the shape of Verifik's `liveness`
/// answer (`data.passed`, `data.min_score`, `data.liveness_score`) with the station's fields beside.
pub fn build_liveness_record(
    outcome: &LivenessOutcome,
    client: &str,
    stamp: &dyn Stamper,
) -> Value {
    let now = stamp.now();
    let l = &outcome.liveness;
    json!({
        "id": stamp.record_id(),
        "data": {
            "__v": 0,
            "_id": stamp.object_id(),
            "type": "liveness",
            "image": [format!("sha256:{}", outcome.image_sha256)],
            "client": client,
            "passed": l.passed(),
            "min_score": l.min_score,
            "liveness_score": l.score,
            "deleted": false,
            "createdAt": iso_millis(now),
            "updatedAt": iso_millis(now),
        },
        "signature": {
            "message": "Certified by FaceStation",
            "dateTime": verifik_date(now),
        },
        "station": {
            "engine": "local",
            "liveness": l,
            "face": outcome.face,
            "facesFound": outcome.faces_found,
            "models": outcome.models,
            "timingsMs": outcome.timings,
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// Builds the unsigned record of a configuration change (`data.type` "configuration").
pub fn build_config_record(
    change: &ConfigChange,
    operator: Option<&str>,
    client: &str,
    stamp: &dyn Stamper,
) -> Value {
    let now = stamp.now();
    json!({
        "id": stamp.record_id(),
        "data": {
            "__v": 0,
            "_id": stamp.object_id(),
            "type": "configuration",
            "client": client,
            "deleted": false,
            "createdAt": iso_millis(now),
            "updatedAt": iso_millis(now),
        },
        "signature": {
            "message": "Certified by FaceStation",
            "dateTime": verifik_date(now),
        },
        "station": {
            "setting": change.setting,
            "before": change.before,
            "after": change.after,
            "basis": change.basis,
            "operator": operator,
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_formats() {
        let t = time::macros::datetime!(2023-09-29 18:57:42.028 UTC);
        assert_eq!(iso_millis(t), "2023-09-29T18:57:42.028Z");
        assert_eq!(verifik_date(t), "September 29, 2023 6:57 PM");
        let m = time::macros::datetime!(2024-01-16 00:05:00 UTC);
        assert_eq!(verifik_date(m), "January 16, 2024 12:05 AM");
    }

    #[test]
    fn quality_goes_to_the_probe_and_to_each_gallery_image_by_index() {
        let mut station = json!({"gallery": [{"index": 1}, {"index": 0}]});
        let q = json!({
            "probe": {"passed": true},
            "probeNote": null,
            "probeMeasuredBy": "station",
            "gallery": [
                {"report": {"passed": false}, "note": null},
                {"report": null, "note": "decode failed"},
            ],
        });
        add_quality(&mut station, Some(&q));
        assert_eq!(station["quality"]["probe"]["passed"], true);
        assert_eq!(station["quality"]["probeMeasuredBy"], "station");
        assert_eq!(station["gallery"][0]["quality"], Value::Null);
        assert_eq!(station["gallery"][0]["qualityNote"], "decode failed");
        assert_eq!(station["gallery"][1]["quality"]["passed"], false);
        let mut bare = json!({"gallery": []});
        add_quality(&mut bare, None);
        assert_eq!(bare["quality"]["probe"], Value::Null);
        assert!(bare["quality"]["probeNote"]
            .as_str()
            .is_some_and(|n| n.contains("not measured")));
    }

    #[test]
    fn ids_have_verifik_lengths() {
        assert_eq!(short_id().len(), 5);
        assert_eq!(random_hex(12).len(), 24);
    }
}
