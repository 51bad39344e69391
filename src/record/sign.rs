//! Signing and verifying single records.
//!
//! The signature sits inside the record's existing Verifik-style
//! `signature` object (whose `message`/`dateTime` are kept untouched) and
//! covers the canonical JSON of the whole record minus `signature.value`,
//! so every field, including the algorithm and key fields, is protected.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};

use super::canonical::canonical_json;
use super::keys::{key_id_of, StationKey};
use super::RecordError;

/// Value of `signature.algorithm`.
pub const ALGORITHM: &str = "Ed25519";
/// Value of `signature.canonicalization`.
pub const CANONICALIZATION: &str = "RFC8785";

/// Adds `algorithm`, `canonicalization`, `publicKey`, `keyId` and `value`
/// to `record.signature` (creating it if absent). Re-signing replaces a
/// previous station signature.
pub fn sign_record(record: &mut Value, key: &StationKey) -> Result<(), RecordError> {
    let obj = record.as_object_mut().ok_or(RecordError::NotAnObject)?;
    let sig = obj
        .entry("signature")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or(RecordError::SignatureNotObject)?;
    sig.remove("value");
    sig.insert("algorithm".into(), ALGORITHM.into());
    sig.insert("canonicalization".into(), CANONICALIZATION.into());
    sig.insert("publicKey".into(), key.public_key_b64().into());
    sig.insert("keyId".into(), key.key_id().into());

    let message = canonical_json(record)?;
    let value = B64.encode(key.sign(message.as_bytes()));
    // Re-borrow: `record` was shared for canonicalization above.
    let sig = record
        .get_mut("signature")
        .and_then(Value::as_object_mut)
        .ok_or(RecordError::SignatureNotObject)?;
    sig.insert("value".into(), value.into());
    Ok(())
}

/// Checks the record against the public key embedded in it.
///
/// This proves integrity and which key signed, not that the key is trusted;
/// use [`verify_record_with_key`] to pin the station's key.
pub fn verify_record(record: &Value) -> Result<(), RecordError> {
    let obj = record.as_object().ok_or(RecordError::NotAnObject)?;
    let sig = match obj.get("signature") {
        Some(Value::Object(sig)) => sig,
        Some(_) => return Err(RecordError::SignatureNotObject),
        None => return Err(RecordError::MissingSignatureField("value")),
    };

    let algorithm = sig_str(sig, "algorithm")?;
    if algorithm != ALGORITHM {
        return Err(RecordError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    let canonicalization = sig_str(sig, "canonicalization")?;
    if canonicalization != CANONICALIZATION {
        return Err(RecordError::UnsupportedCanonicalization(
            canonicalization.to_owned(),
        ));
    }
    let public_key = decode_public_key(sig_str(sig, "publicKey")?, "publicKey")?;
    let key_id = sig_str(sig, "keyId")?;
    let expected_id = key_id_of(public_key.as_bytes());
    if key_id != expected_id {
        return Err(RecordError::KeyIdMismatch {
            found: key_id.to_owned(),
            expected: expected_id,
        });
    }
    let value = sig_str(sig, "value")?;
    let sig_bytes = B64.decode(value).map_err(|source| RecordError::BadBase64 {
        field: "value",
        source,
    })?;
    let sig_bytes: [u8; 64] = sig_bytes.as_slice().try_into().map_err(|_| {
        RecordError::BadSignatureEncoding(format!("{} bytes, expected 64", sig_bytes.len()))
    })?;
    let signature = Signature::from_bytes(&sig_bytes);

    let mut unsigned = record.clone();
    if let Some(s) = unsigned.get_mut("signature").and_then(Value::as_object_mut) {
        s.remove("value");
    }
    let message = canonical_json(&unsigned)?;
    // verify_strict rejects weak keys and malleable signatures.
    public_key
        .verify_strict(message.as_bytes(), &signature)
        .map_err(|_| RecordError::SignatureMismatch)
}

/// Like [`verify_record`], but also requires the record to be signed by
/// `expected_public_key_b64` (trust pinning).
pub fn verify_record_with_key(
    record: &Value,
    expected_public_key_b64: &str,
) -> Result<(), RecordError> {
    let expected = B64
        .decode(expected_public_key_b64.trim())
        .map_err(|e| RecordError::BadKey(format!("trusted key is not base64: {e}")))?;
    let found_b64 = record
        .get("signature")
        .and_then(|s| s.get("publicKey"))
        .and_then(Value::as_str)
        .ok_or(RecordError::MissingSignatureField("publicKey"))?;
    let found = decode_public_key(found_b64, "publicKey")?;
    if found.as_bytes().as_slice() != expected.as_slice() {
        return Err(RecordError::UntrustedKey {
            found: found_b64.to_owned(),
            expected: expected_public_key_b64.to_owned(),
        });
    }
    verify_record(record)
}

fn sig_str<'a>(sig: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, RecordError> {
    sig.get(field)
        .and_then(Value::as_str)
        .ok_or(RecordError::MissingSignatureField(field))
}

fn decode_public_key(b64: &str, field: &'static str) -> Result<VerifyingKey, RecordError> {
    let bytes = B64
        .decode(b64)
        .map_err(|source| RecordError::BadBase64 { field, source })?;
    let bytes: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| RecordError::BadKey(format!("{} bytes, expected 32", bytes.len())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| RecordError::BadKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "id": "Z8Lq3",
            "data": {
                "comparison_result": "match",
                "score": 0.92,
                "threshold": 0.85,
                "faces": [{"box": [1, 2, 30, 40]}],
                "name": "Zoë Ñúñez",
            },
            "signature": {
                "message": "Certified by Verifik.co",
                "dateTime": "September 29, 2023 6:57 PM"
            },
            "station": {"mode": "local", "ok": true, "note": null}
        })
    }

    fn key() -> StationKey {
        StationKey::generate().expect("rng")
    }

    #[test]
    fn sign_then_verify_keeps_verifik_fields() {
        let k = key();
        let mut r = sample();
        sign_record(&mut r, &k).expect("sign");
        let s = &r["signature"];
        assert_eq!(s["message"], "Certified by Verifik.co");
        assert_eq!(s["dateTime"], "September 29, 2023 6:57 PM");
        assert_eq!(s["algorithm"], "Ed25519");
        assert_eq!(s["canonicalization"], "RFC8785");
        assert_eq!(s["publicKey"], k.public_key_b64().as_str());
        assert_eq!(s["keyId"], k.key_id().as_str());
        verify_record(&r).expect("verifies");
        verify_record_with_key(&r, &k.public_key_b64()).expect("pinned");

        // Survives a text round trip and any key order / whitespace.
        let pretty = serde_json::to_string_pretty(&r).expect("ser");
        let back: Value = serde_json::from_str(&pretty).expect("de");
        verify_record(&back).expect("after round trip");
    }

    #[test]
    fn signature_created_when_absent_and_resign_works() {
        let k = key();
        let mut r = json!({"id": 1});
        sign_record(&mut r, &k).expect("sign");
        verify_record(&r).expect("verifies");
        r["id"] = json!(2);
        assert!(verify_record(&r).is_err());
        sign_record(&mut r, &k).expect("re-sign");
        verify_record(&r).expect("re-signed verifies");
    }

    #[test]
    fn not_objects_rejected() {
        let k = key();
        assert!(matches!(
            sign_record(&mut json!([1]), &k),
            Err(RecordError::NotAnObject)
        ));
        assert!(matches!(
            sign_record(&mut json!({"signature": "x"}), &k),
            Err(RecordError::SignatureNotObject)
        ));
        assert!(matches!(
            verify_record(&json!("x")),
            Err(RecordError::NotAnObject)
        ));
        assert!(matches!(
            verify_record(&json!({"id": 1})),
            Err(RecordError::MissingSignatureField(_))
        ));
    }

    /// Every leaf (and every object key) changed, added or removed must
    /// break verification.
    #[test]
    fn any_single_change_fails() {
        let k = key();
        let mut signed = sample();
        sign_record(&mut signed, &k).expect("sign");

        fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
            out.push(at.clone());
            match v {
                Value::Object(m) => {
                    for (key, child) in m {
                        pointers(child, format!("{at}/{key}"), out);
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        pointers(child, format!("{at}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut all = Vec::new();
        pointers(&signed, String::new(), &mut all);
        let mut tried = 0;
        for p in all.iter().filter(|p| !p.is_empty()) {
            // Replace the value.
            let mut r = signed.clone();
            let slot = r.pointer_mut(p).expect("pointer");
            let replacement = match slot {
                Value::String(s) => json!(format!("{s}x")),
                Value::Number(_) => json!(12345),
                Value::Bool(b) => json!(!*b),
                Value::Null => json!(0),
                Value::Array(_) => json!([]),
                Value::Object(_) => json!({}),
            };
            *slot = replacement;
            assert!(verify_record(&r).is_err(), "changing {p} went unnoticed");
            tried += 1;

            // Remove it (object members) – except `signature/value`
            // whose removal is trivially a missing-field error too.
            let (parent, last) = p.rsplit_once('/').expect("has slash");
            let mut r = signed.clone();
            let parent_v = if parent.is_empty() {
                Some(&mut r)
            } else {
                r.pointer_mut(parent)
            };
            match parent_v {
                Some(Value::Object(m)) => {
                    m.remove(last);
                }
                Some(Value::Array(a)) => {
                    let i: usize = last.parse().expect("index");
                    a.remove(i);
                }
                _ => unreachable!(),
            }
            assert!(verify_record(&r).is_err(), "removing {p} went unnoticed");
        }
        assert!(tried > 15);

        // Adding a field anywhere also fails.
        let mut r = signed.clone();
        r["extra"] = json!(1);
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::SignatureMismatch)
        ));
        let mut r = signed.clone();
        r["signature"]["extra"] = json!(1);
        assert!(verify_record(&r).is_err());
        let mut r = signed;
        r["data"]["score"] = json!(0.9200000000000002);
        assert!(verify_record(&r).is_err());
    }

    #[test]
    fn specific_errors() {
        let k = key();
        let mut signed = sample();
        sign_record(&mut signed, &k).expect("sign");

        let mut r = signed.clone();
        r["signature"]["algorithm"] = json!("RS256");
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::UnsupportedAlgorithm(a)) if a == "RS256"
        ));

        let mut r = signed.clone();
        r["signature"]["canonicalization"] = json!("none");
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::UnsupportedCanonicalization(_))
        ));

        let mut r = signed.clone();
        r["signature"]["value"] = json!("not base64!");
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::BadBase64 { field: "value", .. })
        ));

        let mut r = signed.clone();
        r["signature"]["value"] = json!(B64.encode([0u8; 10]));
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::BadSignatureEncoding(_))
        ));

        let mut r = signed.clone();
        r["signature"]["publicKey"] = json!(B64.encode([1u8; 31]));
        assert!(matches!(verify_record(&r), Err(RecordError::BadKey(_))));

        let mut r = signed.clone();
        r["signature"]["publicKey"] = json!("%%%");
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::BadBase64 {
                field: "publicKey",
                ..
            })
        ));

        // Another key's public key with matching key id: signature mismatch.
        let other = key();
        let mut r = signed.clone();
        r["signature"]["publicKey"] = json!(other.public_key_b64());
        r["signature"]["keyId"] = json!(other.key_id());
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::SignatureMismatch)
        ));

        let mut r = signed.clone();
        r["signature"]["keyId"] = json!(other.key_id());
        assert!(matches!(
            verify_record(&r),
            Err(RecordError::KeyIdMismatch { .. })
        ));

        for field in [
            "algorithm",
            "canonicalization",
            "publicKey",
            "keyId",
            "value",
        ] {
            let mut r = signed.clone();
            if let Some(s) = r["signature"].as_object_mut() {
                s.remove(field);
            }
            assert!(
                matches!(verify_record(&r), Err(RecordError::MissingSignatureField(f)) if f == field),
                "{field}"
            );
        }

        // Pinning: a validly signed record by another key is refused.
        let mut r2 = sample();
        sign_record(&mut r2, &other).expect("sign");
        verify_record(&r2).expect("self-consistent");
        assert!(matches!(
            verify_record_with_key(&r2, &k.public_key_b64()),
            Err(RecordError::UntrustedKey { .. })
        ));
        assert!(matches!(
            verify_record_with_key(&signed, "???"),
            Err(RecordError::BadKey(_))
        ));
    }
}
