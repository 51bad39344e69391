//! Records written before the recognisers changed still verify: a record names the models that
//! produced it (id and sha256), and its signature is checked from the record alone, whatever
//! engine the station now runs. The record below was written by `facestation compare --json` of
//! the main branch before this change (dlib fp32, FAST, the obama pair of the face_recognition set;
//! the images appear only as sha256 digests), signed with a throwaway key.

use facestation::record::{verify_log, verify_record};
use serde_json::Value;

const MAIN_RECORD: &str = r#"{"data":{"__v":0,"_id":"18d548756ab046134445d4e1","client":"a87ec8752e2066e3","comparedAt":"2026-12-01T09:54:39.206Z","createdAt":"2026-12-01T09:54:39.525Z","deleted":false,"gallery":["sha256:a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"],"liveness":{"liveness_score":0.9994863569736481,"min_score":0.6,"passed":true},"probe":["sha256:0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"],"result":{"compare_min_score":0.62,"passed":true,"score":0.973426129441306},"search_mode":"FAST","type":"compare-live","updatedAt":"2026-12-01T09:54:39.525Z"},"id":"klabn","prevRecordSha256":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"signature":{"algorithm":"Ed25519","canonicalization":"RFC8785","dateTime":"December 1, 2026 9:54 AM","keyId":"a87ec8752e2066e3","message":"Certified by FaceStation","publicKey":"uybSmHwKHyz1JlWvdv6yxBKW85fvHAovdeasvwoXQXY=","value":"cYHb3FmvF2KfKGdrd9VlSOLDBljpwNqf9DmMnx/dvoAWG5cgJQGOseAhKDmD8qNoVZxYQ2Fj9YDl7fMGpu7zBg=="},"station":{"decision":"match","engine":"local","gallery":[{"distance":0.38394638895988464,"error":null,"face":{"box":{"height":404.6772155761719,"width":275.2510681152344,"x":202.17237854003906,"y":229.1424102783203},"landmarks":[[243.60372924804688,375.0467224121094],[368.10125732421875,383.7789306640625],[275.7069091796875,454.7847900390625],[244.49879455566406,524.0943603515625],[350.4718933105469,530.4811401367188]],"score":0.9510970115661621},"faces_found":1,"index":0,"passed":true,"reported":true,"score":0.973426129441306,"sha256":"a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"}],"imagesEmbedded":false,"liveness":{"context":2.700000047683716,"min_score":0.6,"score":0.9994863569736481,"verdict":"live"},"models":[{"id":"yunet_s_dynamic","role":"detector","sha256":"daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3"},{"id":"dlib_resnet_v1","role":"embedder","sha256":"c89022491c34fb2720a4a749eac64f69c9bc67168745933c3c543a0e2ffc7162"},{"id":"minifasnet_v2_2.7","role":"liveness_v2","sha256":"2aa9e891c3fdc897b3e040272ffd5308f9dab947be679a0785c8ad93337b2c77"},{"id":"minifasnet_v1se_4.0","role":"liveness_v1se","sha256":"1ed7e447cdbeb9980e066cc3ef05ad1bf3964e0399b88e288ced37290739ed10"}],"passed":true,"probe":{"face":{"box":{"height":330.61834716796875,"width":242.65391540527344,"x":369.40234375,"y":90.65496826171875},"landmarks":[[439.6436462402344,212.97633361816406],[555.3277587890625,213.39007568359375],[496.02142333984375,266.5721740722656],[440.0338134765625,317.5313720703125],[547.4116821289062,319.5927429199219]],"score":0.9454372525215149},"facesFound":1,"sha256":"0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"},"reasons":[],"remote":null,"reviewBand":{"above":0.03,"basis":"FMR x10 either side of the threshold on LFW folds 1-5 (FAST)","below":0.03},"threshold":0.62,"thresholdBasis":"FMR <= 0.1% on LFW folds 1-5 impostor pairs (FAST)","timingsMs":{"decode_ms":40.538638,"detect_ms":155.060873,"embed_ms":88.97162399999999,"liveness_ms":34.171229999999994,"total_ms":318.879419},"verdict":"verified","version":"0.1.0"}}"#;

#[test]
fn a_record_of_the_previous_engine_still_verifies() {
    let record: Value = serde_json::from_str(MAIN_RECORD).expect("JSON");
    verify_record(&record).expect("the old record verifies");
    let models = record["station"]["models"].as_array().expect("models");
    assert!(models.iter().any(|m| m["id"] == "dlib_resnet_v1"
        && m["sha256"] == "c89022491c34fb2720a4a749eac64f69c9bc67168745933c3c543a0e2ffc7162"));
    // The model it names is still in the manifest, so its scores can be traced and re-run.
    let entries = facestation::runtime::manifest_entries().expect("manifest");
    assert!(entries
        .iter()
        .any(|e| e.sha256 == "c89022491c34fb2720a4a749eac64f69c9bc67168745933c3c543a0e2ffc7162"));
    // As an audit log of one line: signature, seq and hash chain.
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    std::fs::write(&log, format!("{MAIN_RECORD}\n")).expect("write");
    assert_eq!(verify_log(&log).expect("log verifies").records, 1);
    // And a changed score does not.
    let mut forged = record.clone();
    forged["data"]["result"]["score"] = Value::from(0.99);
    assert!(verify_record(&forged).is_err());
}
