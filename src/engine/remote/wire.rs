//! The service's answers, parsed tolerantly (Verifik's docs show several shapes:
//! `verifik/related-endpoints.md`) into the engine's outcomes.

use serde_json::{json, Value};

use super::{RemoteError, VERIFIK_DEFAULT_MIN_SCORE};
use crate::api::ValidRequest;
use crate::digest::sha256_hex;
use crate::engine::{CompareOutcome, Decision, GalleryResult, LivenessOutcome, Timings};
use crate::vision::detect::BoundingBox;
use crate::vision::liveness::{LivenessResult, LivenessVerdict};
use crate::vision::Face;

fn malformed(reason: impl Into<String>) -> RemoteError {
    RemoteError::MalformedResponse {
        status: 200,
        reason: reason.into(),
    }
}

fn unit_number(v: Option<&Value>, what: &str) -> Result<Option<f64>, RemoteError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => match x.as_f64() {
            Some(f) if f.is_finite() && (0.0..=1.0).contains(&f) => Ok(Some(f)),
            _ => Err(malformed(format!(
                "{what} is not a number from 0 to 1: {x}"
            ))),
        },
    }
}

/// The comparison score, wherever this generation of the API puts it.
fn find_score(data: &Value) -> Result<f64, RemoteError> {
    let candidates = [
        ("data.result.score", data.pointer("/result/score")),
        ("data.score", data.get("score")),
        ("data.comparison.score", data.pointer("/comparison/score")),
    ];
    for (what, v) in candidates {
        if let Some(s) = unit_number(v, what)? {
            return Ok(s);
        }
    }
    Err(malformed(
        "no score at data.result.score, data.score or data.comparison.score",
    ))
}

fn parse_liveness_block(l: &Value, asked: Option<f64>) -> Result<LivenessResult, RemoteError> {
    let score = unit_number(l.get("liveness_score"), "data.liveness.liveness_score")?
        .ok_or_else(|| malformed("data.liveness has no liveness_score"))?;
    let min_score = unit_number(l.get("min_score"), "data.liveness.min_score")?
        .or(asked)
        .unwrap_or(crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE);
    // Verifik passes strictly above the mark; its own `passed` wins when present.
    let passed = l
        .get("passed")
        .and_then(Value::as_bool)
        .unwrap_or(score > min_score);
    Ok(LivenessResult {
        score,
        verdict: if passed {
            LivenessVerdict::Live
        } else {
            LivenessVerdict::Spoof
        },
        // The service does not report the crop context; 0 marks "not measured here".
        context: 0.0,
        min_score,
    })
}

/// Parses a compare (or compare-live) answer body into an outcome; public so that the documented
/// shapes can be checked without a network.
pub fn parse_compare_response(
    body: &str,
    request: &ValidRequest,
    engine: &str,
) -> Result<CompareOutcome, RemoteError> {
    let value: Value = serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
    parse_compare_value(&value, request, engine)
}

pub(super) fn parse_compare_value(
    value: &Value,
    request: &ValidRequest,
    engine: &str,
) -> Result<CompareOutcome, RemoteError> {
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| malformed("no `data` object"))?;
    let score = find_score(data)?;
    let threshold = unit_number(
        data.pointer("/result/compare_min_score"),
        "data.result.compare_min_score",
    )?
    .or(unit_number(
        data.get("compare_min_score"),
        "data.compare_min_score",
    )?)
    .or(request.compare_min_score)
    .unwrap_or(VERIFIK_DEFAULT_MIN_SCORE);
    let service_passed = data
        .pointer("/result/passed")
        .or_else(|| data.pointer("/comparison/passed"))
        .and_then(Value::as_bool);
    let matched = service_passed.unwrap_or(score >= threshold);
    let liveness = match (data.get("liveness"), request.liveness_min_score) {
        (Some(l), asked) if l.is_object() => Some(parse_liveness_block(l, asked)?),
        // Never report a compare-live as passed when the liveness answer is missing.
        (_, Some(_)) => {
            return Err(malformed(
                "liveness was asked for but data.liveness is missing",
            ))
        }
        (_, None) => None,
    };
    let live_ok = liveness.as_ref().is_none_or(|l| l.passed() == Some(true));
    let decision = if matched {
        Decision::Match
    } else {
        Decision::NoMatch
    };
    // The service reports one score for the whole gallery; it belongs to an image only when
    // the gallery has one.
    let single = request.gallery.len() == 1;
    let gallery = request
        .gallery
        .iter()
        .enumerate()
        .map(|(index, bytes)| GalleryResult {
            index,
            sha256: sha256_hex(bytes),
            faces_found: 0,
            face: None,
            score: single.then_some(score),
            distance: None,
            passed: single.then_some(matched),
            error: None,
            reported: single,
            recognisers: Vec::new(),
        })
        .collect();
    Ok(CompareOutcome {
        engine: engine.to_string(),
        search_mode: request.search_mode,
        score,
        threshold,
        threshold_basis: if request.compare_min_score.is_some() {
            "compare_min_score from the request (applied by the remote service)".into()
        } else {
            "the remote service's default".into()
        },
        decision,
        probe_sha256: sha256_hex(&request.probe),
        probe_face: None,
        probe_faces_found: 0,
        gallery,
        liveness,
        passed: matched && live_ok,
        timings: Timings::default(),
        models: Vec::new(),
        remote: Some(json!({
            "id": value.get("id").cloned().unwrap_or(Value::Null),
            "signature": value.get("signature").cloned().unwrap_or(Value::Null),
        })),
        quality: None,
    })
}

pub(super) fn parse_liveness_value(
    value: &Value,
    image: &[u8],
    min_score: f64,
) -> Result<LivenessOutcome, RemoteError> {
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| malformed("no `data` object"))?;
    // A FaceStation server gives its full verdict (including "cannot judge") in
    // `station.liveness`; Verifik gives `data` ({passed, min_score, liveness_score}) or `data.liveness`.
    let station = value
        .pointer("/station/liveness")
        .and_then(|l| serde_json::from_value::<LivenessResult>(l.clone()).ok());
    let liveness = match station {
        Some(l) => l,
        None => {
            let block = data
                .get("liveness")
                .filter(|l| l.is_object())
                .unwrap_or(data);
            parse_liveness_block(block, Some(min_score))?
        }
    };
    // A FaceStation server reports the face box in `station.face`; Verifik does not: a zero box
    // with score 0 then means "not reported".
    let face = value
        .pointer("/station/face")
        .and_then(|f| serde_json::from_value::<Face>(f.clone()).ok())
        .unwrap_or(Face {
            bbox: BoundingBox {
                x: 0.0,
                y: 0.0,
                width: 0.0,
                height: 0.0,
            },
            score: 0.0,
            landmarks: [[0.0; 2]; 5],
        });
    Ok(LivenessOutcome {
        image_sha256: sha256_hex(image),
        face,
        faces_found: value
            .pointer("/station/facesFound")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1),
        liveness,
        timings: Timings::default(),
        models: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SearchMode;

    fn request(gallery: usize, live: Option<f64>) -> ValidRequest {
        let mut r =
            ValidRequest::from_bytes(vec![1; 10], vec![vec![2; 10]; gallery], SearchMode::Fast)
                .expect("valid");
        r.liveness_min_score = live;
        r
    }
    #[test]
    fn documented_shapes_parse() {
        let r = request(1, None);
        let shapes = [
            (json!({"id": "a", "data": {"result": {"score": 0.9}}}), 0.9),
            (json!({"id": "a", "data": {"score": 0.91}}), 0.91),
            (
                json!({"id": "a", "data": {"comparison": {"score": 0.88}}}),
                0.88,
            ),
            (
                json!({"data": {"result": {"score": 0.7, "compare_min_score": 0.67, "passed": true}}}),
                0.7,
            ),
        ];
        for (body, score) in shapes {
            let o = parse_compare_response(&body.to_string(), &r, "remote:x").expect("parses");
            assert_eq!(o.score, score);
        }
        let o = parse_compare_response(
            &json!({"data": {"result": {"score": 0.7, "compare_min_score": 0.67, "passed": true}}})
                .to_string(),
            &r,
            "remote:x",
        )
        .expect("parses");
        assert_eq!(o.threshold, 0.67);
        assert!(o.passed);
        let o = parse_compare_response(&json!({"data": {"score": 0.8}}).to_string(), &r, "x")
            .expect("parses");
        assert_eq!(o.threshold, VERIFIK_DEFAULT_MIN_SCORE);
        assert_eq!(o.decision, Decision::NoMatch);
    }

    #[test]
    fn compare_live_needs_its_liveness_block() {
        let r = request(1, Some(0.6));
        let live = json!({"data": {"score": 0.89, "liveness": {"liveness_score": 0.92, "min_score": 0.65, "passed": true}}});
        let o = parse_compare_response(&live.to_string(), &r, "x").expect("parses");
        assert!(o.passed);
        assert_eq!(o.liveness.as_ref().map(|l| l.min_score), Some(0.65));
        let spoof = json!({"data": {"score": 0.89, "liveness": {"liveness_score": 0.3, "min_score": 0.65, "passed": false}}});
        let o = parse_compare_response(&spoof.to_string(), &r, "x").expect("parses");
        assert!(!o.passed);
        assert_eq!(o.decision, Decision::Match);
        let missing = json!({"data": {"score": 0.89}});
        assert!(matches!(
            parse_compare_response(&missing.to_string(), &r, "x"),
            Err(RemoteError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn malformed_answers_have_their_own_error() {
        let r = request(2, None);
        for body in [
            "<html>oops</html>",
            "{}",
            r#"{"data": {"result": {}}}"#,
            r#"{"data": {"score": "high"}}"#,
            r#"{"data": {"score": 7}}"#,
        ] {
            assert!(
                matches!(
                    parse_compare_response(body, &r, "x"),
                    Err(RemoteError::MalformedResponse { .. })
                ),
                "{body}"
            );
        }
    }
}
