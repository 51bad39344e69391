//! The Rust pipeline against the Python reference (`shared/models/reference/reference_vectors.json`):
//! same detections, same image-to-chip matrix, same descriptors (README template, centre face).

use crate::common;

use facestation::engine::{FacePolicy, ImageRole, Pipeline};
use facestation::vision::align::TEMPLATE_DLIB_MEAN;
use facestation::vision::recognise::{Recogniser, Views};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn descriptors_match_the_python_reference() {
    let text =
        std::fs::read_to_string(common::shared().join("models/reference/reference_vectors.json"))
            .expect("read");
    let refs: Value = serde_json::from_str(&text).expect("json");
    // The reference's "descriptor" is the plain chip and "descriptor_flip_tta" the chip + mirror,
    // of the fp32 dlib model on dlib's mean-face template (the manifest's spec with that template).
    let models = common::models();
    let mut entry = models.recogniser("dlib_resnet_v1").expect("dlib").clone();
    entry.recogniser.as_mut().expect("spec").template = TEMPLATE_DLIB_MEAN;
    let mut dlib = Recogniser::new(models.session_for(&entry, 1).expect("session"), &entry)
        .expect("recogniser");
    let mut v = common::verifier();
    let p = &mut v.pipeline;
    let items = refs["items"].as_array().expect("items");
    assert!(items.len() >= 10);
    let mut worst: f64 = 0.0;
    for item in items {
        let path = item["path"].as_str().expect("path");
        let img = p
            .decode(&common::read(path), ImageRole::Probe)
            .expect("decode");
        let faces = p.detect(&img).expect("detect");
        let dets = item["detections"].as_array().expect("detections");
        assert_eq!(faces.len(), dets.len(), "{path}: face count");
        let (face, _) = Pipeline::choose_face(
            &faces,
            FacePolicy::Centre,
            ImageRole::Probe,
            img.dimensions(),
        )
        .expect("face");
        let chosen = &dets[item["chosen"].as_u64().expect("chosen") as usize];
        let rbox = floats(&chosen["box"]);
        assert!(
            (f64::from(face.bbox.x) - rbox[0]).abs() < 0.5,
            "{path}: box x {} vs {}",
            face.bbox.x,
            rbox[0]
        );
        assert!(
            (f64::from(face.bbox.y + face.bbox.height) - rbox[3]).abs() < 0.5,
            "{path}: box bottom"
        );
        let m = dlib.alignment(&face).expect("align");
        let rm = item["M_image_to_chip"].as_array().expect("M");
        let r0 = floats(&rm[0]);
        assert!(
            (m.a - r0[0]).abs() < 1e-2 && (m.tx - r0[2]).abs() < 1.5,
            "{path}: matrix {m:?} vs {r0:?}"
        );
        for (views, key) in [
            (Views::Plain, "descriptor"),
            (Views::Flip, "descriptor_flip_tta"),
        ] {
            let d = dlib
                .describe(&img, &[face], views)
                .expect("describe")
                .pop()
                .expect("one");
            let r = floats(&item[key]);
            let dist: f64 = d
                .values
                .iter()
                .zip(&r)
                .map(|(a, b)| (f64::from(*a) - b).powi(2))
                .sum::<f64>()
                .sqrt();
            worst = worst.max(dist);
            eprintln!("{path} {key}: {dist:.4}");
            assert!(
                dist < 0.05,
                "{path} {key}: distance to the reference {dist}"
            );
        }
    }
    eprintln!("largest descriptor distance to the reference: {worst:.5}");
}
