//! Helpers shared by the record module's unit tests: records shaped like
//! the station's, logs written quickly (no fsync per line), and the
//! forgery an attacker with write access and a key of their own would do.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use super::keys::StationKey;
use super::log::{sha256_hex, GENESIS_SHA256};
use super::sign::sign_record;

/// An unsigned compare record like `build_record`'s, decided at `time`
/// (ISO 8601 UTC) with score `score` (>= 0.85 is a match).
pub(crate) fn compare_record(i: usize, time: &str, score: f64) -> Value {
    let passed = score >= 0.85;
    json!({
        "id": format!("r{i:04}"),
        "data": {
            "type": "compare",
            "probe": [format!("sha256:{}", sha256_hex(format!("probe{i}").as_bytes()))],
            "gallery": [
                format!("sha256:{}", sha256_hex(format!("g{i}a").as_bytes())),
                format!("sha256:{}", sha256_hex(format!("g{i}b").as_bytes())),
            ],
            "result": {"score": score, "compare_min_score": 0.85, "passed": passed},
            "createdAt": time,
            "comparedAt": time,
            "search_mode": "FAST",
        },
        "signature": {"message": "Certified by FaceStation", "dateTime": "x"},
        "station": {
            "engine": "local",
            "decision": if passed { "match" } else { "no_match" },
            "passed": passed,
            "threshold": 0.85,
            "probe": {"sha256": sha256_hex(format!("probe{i}").as_bytes())},
        },
    })
}

/// Chains and signs `records` into a new log at `path` in one write.
pub(crate) fn write_log(path: &Path, key: &StationKey, records: Vec<Value>) {
    let mut out = Vec::new();
    let mut prev = GENESIS_SHA256.to_owned();
    for (i, mut r) in records.into_iter().enumerate() {
        r["seq"] = json!(i + 1);
        r["prevRecordSha256"] = json!(prev);
        sign_record(&mut r, key).expect("sign");
        let line = serde_json::to_string(&r).expect("ser");
        prev = sha256_hex(line.as_bytes());
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(&out).expect("write");
}

/// The log's lines, without newlines.
pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes `lines` back as a log.
pub(crate) fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(path, s).expect("write");
}

/// The forgery the trusted-key check exists for: line `from` (1-based) is
/// edited by `edit`, then it and every later line are re-signed with
/// `forger` and re-chained, so that the log verifies on its own.
pub(crate) fn forge_from(
    path: &Path,
    from: usize,
    forger: &StationKey,
    edit: impl FnOnce(&mut Value),
) {
    let mut ls = lines(path);
    let mut prev = if from == 1 {
        GENESIS_SHA256.to_owned()
    } else {
        sha256_hex(ls[from - 2].as_bytes())
    };
    let mut edit = Some(edit);
    for line in ls.iter_mut().skip(from - 1) {
        let mut r: Value = serde_json::from_str(line).expect("json");
        if let Some(edit) = edit.take() {
            edit(&mut r);
        }
        r["prevRecordSha256"] = json!(prev);
        sign_record(&mut r, forger).expect("sign");
        *line = serde_json::to_string(&r).expect("ser");
        prev = sha256_hex(line.as_bytes());
    }
    write_lines(path, &ls);
}

/// Match -> no match, as a fraudster would edit a decision.
pub(crate) fn flip_to_no_match(r: &mut Value) {
    r["data"]["result"]["passed"] = json!(false);
    r["data"]["result"]["score"] = json!(0.12);
    r["station"]["decision"] = json!("no_match");
    r["station"]["passed"] = json!(false);
}
