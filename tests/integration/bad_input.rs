//! The bad-input corpus: each case gets its own specific error (status, code, words) and no panic.
//! Requests go through the same path as every front end: JSON -> validate -> engine.

use crate::common;

use std::io::Cursor;

use base64::Engine as _;
use facestation::api::{ApiError, CompareRequest};
use facestation::engine::{CompareOutcome, Decision, Verifier};
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{json, Value};

const OBAMA: &str = "faces/face_recognition/barack_obama/examples__obama.jpg";
const OBAMA2: &str = "faces/face_recognition/barack_obama/examples__obama2.jpg";
const ALEX: &str =
    "faces/face_recognition/alex_lacamoire/examples__knn_examples__train__alex_lacamoire__img1.jpg";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn face(path: &str) -> String {
    b64(&common::read(path))
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

/// A plain 200x200 gradient: decodes fine, holds no face.
fn no_face_png() -> Vec<u8> {
    encode(
        &RgbImage::from_fn(200, 200, |x, y| image::Rgb([x as u8, y as u8, 128])),
        ImageFormat::Png,
    )
}

/// Two different people side by side (also used by `parallel`).
pub(crate) fn two_faces_jpeg() -> Vec<u8> {
    let a = image::load_from_memory(&common::read(OBAMA))
        .expect("a")
        .to_rgb8();
    let b = image::load_from_memory(&common::read(ALEX))
        .expect("b")
        .to_rgb8();
    let h = 400;
    let a = image::imageops::resize(
        &a,
        a.width() * h / a.height(),
        h,
        image::imageops::FilterType::Triangle,
    );
    let b = image::imageops::resize(
        &b,
        b.width() * h / b.height(),
        h,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = RgbImage::new(a.width() + b.width(), h);
    image::imageops::replace(&mut canvas, &a, 0, 0);
    image::imageops::replace(&mut canvas, &b, i64::from(a.width()), 0);
    encode(&canvas, ImageFormat::Jpeg)
}

fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    // Signature + IHDR only: a file that claims a huge image and holds nothing.
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut crc = 0xFFFF_FFFFu32;
    for &b in &ihdr {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    v.extend_from_slice(&ihdr);
    v.extend_from_slice(&(!crc).to_be_bytes());
    v.extend_from_slice(&[0u8; 64]);
    v
}

/// The whole path a request takes; engine errors become Verifik-style errors as the server does.
fn compare(body: Value) -> Result<CompareOutcome, ApiError> {
    let request: CompareRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::invalid(format!("malformed request: {e}")))?;
    let valid = request.validate(false)?;
    common::verifier()
        .compare(&valid)
        .map_err(|e| ApiError::from(&e))
}

fn expect_error(name: &str, body: Value, status: u16, code: &str, words: &str) {
    let e = compare(body).expect_err(name);
    assert_eq!(
        (e.status, e.code.as_str()),
        (status, code),
        "{name}: {}",
        e.message
    );
    assert!(
        e.message.contains(words),
        "{name}: `{}` does not say `{words}`",
        e.message
    );
}

#[test]
fn each_bad_input_gets_its_specific_error() {
    let good = face(OBAMA);
    let jpeg = common::read(OBAMA);
    let truncated = b64(&jpeg[..jpeg.len() / 2]);
    let one_pixel = b64(&encode(&RgbImage::new(1, 1), ImageFormat::Jpeg));
    let gif = {
        let mut v = b"GIF89a".to_vec();
        v.extend_from_slice(&[10, 0, 10, 0, 0, 0, 0, 0x3B]);
        v.extend_from_slice(&[0u8; 100]);
        b64(&v)
    };
    let random_jpeg_magic = {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.extend((0..400u32).map(|i| (i * 37 % 251) as u8));
        b64(&v)
    };
    let huge_file = b64(&vec![0xFFu8; 16 * 1024 * 1024]);
    let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "broken base64",
            json!({"probe": "@@@!".repeat(40), "gallery": [good]}),
            412,
            "only_images_in_base64",
            "not valid base64",
        ),
        (
            "empty string",
            json!({"probe": "", "gallery": [good]}),
            412,
            "only_images_in_base64",
            "too short",
        ),
        (
            "short string",
            json!({"probe": "aGVsbG8=", "gallery": [good]}),
            412,
            "only_images_in_base64",
            "too short",
        ),
        (
            "data URI without base64",
            json!({"probe": "data:image/png,abc", "gallery": [good]}),
            412,
            "only_images_in_base64",
            "data URI",
        ),
        (
            "text file",
            json!({"probe": b64(&b"this is a text file, not an image. ".repeat(10)), "gallery": [good]}),
            415,
            "unsupported_image",
            "not an image",
        ),
        (
            "GIF",
            json!({"probe": gif, "gallery": [good]}),
            415,
            "unsupported_image",
            "Gif",
        ),
        (
            "truncated JPEG",
            json!({"probe": truncated, "gallery": [good]}),
            400,
            "invalid_image",
            "truncated",
        ),
        (
            "random bytes after a JPEG magic",
            json!({"probe": random_jpeg_magic, "gallery": [good]}),
            400,
            "invalid_image",
            "probe",
        ),
        (
            "1x1 image",
            json!({"probe": one_pixel, "gallery": [good]}),
            400,
            "invalid_image",
            "too small",
        ),
        (
            "PNG header claiming 30000x30000",
            json!({"probe": b64(&png_claiming(30_000, 30_000)), "gallery": [good]}),
            413,
            "image_too_large",
            "30000x30000",
        ),
        (
            "16 MB file",
            json!({"probe": huge_file, "gallery": [good]}),
            413,
            "image_too_large",
            "bytes",
        ),
        (
            "unknown search_mode",
            json!({"probe": good, "gallery": [good], "search_mode": "TURBO"}),
            400,
            "invalid_request",
            "search_mode",
        ),
        (
            "bad os",
            json!({"os": "WINDOWS95", "probe": good, "gallery": [good]}),
            400,
            "invalid_request",
            "unknown os",
        ),
        (
            "empty gallery",
            json!({"probe": good, "gallery": []}),
            400,
            "invalid_request",
            "gallery is empty",
        ),
        (
            "too many gallery images",
            json!({"probe": good, "gallery": vec![good.clone(); 11]}),
            400,
            "invalid_request",
            "at most 10",
        ),
        (
            "missing gallery",
            json!({"probe": good}),
            400,
            "invalid_request",
            "gallery",
        ),
        (
            "gallery not an array",
            json!({"probe": good, "gallery": 7}),
            400,
            "invalid_request",
            "malformed",
        ),
        (
            "two probes",
            json!({"probe": [good, good], "gallery": [good]}),
            400,
            "invalid_request",
            "one image",
        ),
        (
            "compare_min_score above 1",
            json!({"probe": good, "gallery": [good], "compare_min_score": 1.5}),
            400,
            "invalid_request",
            "between 0 and 1",
        ),
        (
            "negative liveness_min_score",
            json!({"probe": good, "gallery": [good], "liveness_min_score": -0.1}),
            400,
            "invalid_request",
            "between 0 and 1",
        ),
        (
            "no face in the probe",
            json!({"probe": b64(&no_face_png()), "gallery": [good]}),
            422,
            "no_face",
            "no face found in the probe",
        ),
        (
            "two faces in the probe",
            json!({"probe": b64(&two_faces_jpeg()), "gallery": [good]}),
            422,
            "several_faces",
            "several faces in the probe",
        ),
    ];
    assert!(cases.len() >= 20);
    for (name, body, status, code, words) in cases {
        expect_error(name, body, status, code, words);
    }
}

/// A broken gallery image is not a refusal of the request any more: it gets its own error in the
/// outcome (and the record), and the other gallery images are compared (as the station always did).
#[test]
fn a_broken_gallery_image_gets_its_own_error_and_the_rest_are_compared() {
    let truncated = {
        let jpeg = common::read(OBAMA);
        b64(&jpeg[..jpeg.len() / 2])
    };
    let o = compare(json!({"probe": face(OBAMA), "gallery": [face(OBAMA2), truncated]}))
        .expect("a decision, not an error");
    assert!(o.gallery[0].score.is_some());
    assert_eq!(o.gallery[1].score, None);
    let e = o.gallery[1].error.as_deref().unwrap_or("");
    assert!(e.contains("truncated"), "{e}");
    assert_eq!(o.decision, Decision::Match);
    // Only unreadable images: no face to compare, so no match (never a 0 score).
    let only_bad = compare(json!({"probe": face(OBAMA), "gallery": [b64(b"not an image at all, just text, long enough to pass the base64 length check of the API")]}))
        .expect("decision");
    assert_eq!(only_bad.decision, Decision::NoFace);
    assert!(only_bad.gallery[0].error.is_some());
}

#[test]
fn the_largest_face_rule_is_an_explicit_choice() {
    let request: CompareRequest =
        serde_json::from_value(json!({"probe": b64(&two_faces_jpeg()), "gallery": [face(OBAMA2)]}))
            .expect("json");
    let mut valid = request.validate(false).expect("valid");
    valid.largest_probe_face = true;
    let o = common::verifier().compare(&valid).expect("compare");
    assert_eq!(o.probe_faces_found, 2);
    assert!(o.probe_face.is_some());
}

#[test]
fn gallery_images_without_a_face_are_reported_not_scored_zero() {
    let o = compare(json!({"probe": face(OBAMA), "gallery": [b64(&no_face_png()), face(OBAMA2)]}))
        .expect("compare");
    assert_eq!(o.gallery[0].score, None);
    assert_eq!(o.gallery[0].faces_found, 0);
    assert!(o.gallery[1].score.is_some());
    assert_eq!(o.decision, Decision::Match);
    let none =
        compare(json!({"probe": face(OBAMA), "gallery": [b64(&no_face_png())]})).expect("compare");
    assert_eq!(none.decision, Decision::NoFace);
    assert!(!none.passed);
}

#[test]
fn a_gallery_image_with_two_faces_uses_the_one_that_matches() {
    let o = compare(json!({"probe": face(OBAMA2), "gallery": [b64(&two_faces_jpeg())]}))
        .expect("compare");
    let g = &o.gallery[0];
    assert_eq!(g.faces_found, 2);
    assert_eq!(o.decision, Decision::Match, "score {:?}", g.score);
    // Obama is on the left half of the composite.
    let f = g.face.expect("face");
    assert!(f.bbox.x < 400.0, "chosen box {f:?}");
}
