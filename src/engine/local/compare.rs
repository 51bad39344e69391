//! How the local engine runs one compare: its work as jobs (decode and detect, descriptors,
//! liveness, quality, a cascade's later stage) over the verifier's pipelines, side by side
//! ([`run_jobs`]), and the outcome assembled from their results in image order.

use std::time::Instant;

use image::RgbImage;

use super::{
    distance_of, ms, FaceDescriptors, FacePolicy, LocalVerifier, PairScore, Pipeline, Plan, Scoring,
};
use crate::api::ValidRequest;
use crate::digest::sha256_hex;
use crate::engine::parallel::run_jobs;
use crate::engine::score::{default_threshold, threshold_basis};
use crate::engine::{
    CompareOutcome, CompareQuality, Decision, EngineError, GalleryResult, ImageRole, Timings,
    Verifier,
};
use crate::vision::liveness::LivenessResult;
use crate::vision::quality::QualityReport;
use crate::vision::recognise::Embedding;
use crate::vision::{Face, VisionError};

/// One image's decoded faces and their descriptors under a plan, filled on demand.
struct Described {
    faces: Vec<Face>,
    descs: Vec<FaceDescriptors>,
}

impl Pipeline {
    /// Fills stage `i` of the given faces (a cascade's second stage) if missing.
    fn fill_stage(
        &mut self,
        img: &RgbImage,
        d: &mut Described,
        which: &[usize],
        plan: &Plan,
        i: usize,
    ) -> Result<(), EngineError> {
        let missing: Vec<usize> = which
            .iter()
            .copied()
            .filter(|&k| d.descs[k][i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let faces: Vec<Face> = missing.iter().map(|&k| d.faces[k]).collect();
        let descs = self.describe_stage(img, &faces, &plan.stages[i].0)?;
        if descs.len() != faces.len() {
            return Err(VisionError::DegenerateFace.into());
        }
        for (k, e) in missing.into_iter().zip(descs) {
            d.descs[k][i] = Some(e);
        }
        Ok(())
    }
}

/// Scores one probe face against each face of a gallery image, running a cascade's later stage
/// for the faces (and the probe) that need it. Returns the best face's index and its score.
fn score_gallery(
    p: &mut Pipeline,
    plan: &Plan,
    probe_img: &RgbImage,
    probe: &mut Described,
    img: &RgbImage,
    gallery: &mut Described,
) -> Result<Option<(usize, PairScore)>, EngineError> {
    let mut best: Option<(usize, PairScore)> = None;
    for k in 0..gallery.faces.len() {
        let score = loop {
            match plan.score(&probe.descs[0], &gallery.descs[k]) {
                Ok(Scoring::Done(s)) => break s,
                Ok(Scoring::Needs(i)) => {
                    if probe.descs[0][i].is_some() && gallery.descs[k][i].is_some() {
                        return Err(VisionError::DegenerateFace.into());
                    }
                    p.fill_stage(probe_img, probe, &[0], plan, i)?;
                    p.fill_stage(img, gallery, &[k], plan, i)?;
                }
                Err(e) => return Err(VisionError::UnexpectedOutput(e.to_string()).into()),
            }
        };
        if best.as_ref().is_none_or(|(_, b)| score.score > b.score) {
            best = Some((k, score));
        }
    }
    Ok(best)
}

/// One image of a request, decoded, with every face the detector found.
struct Found {
    img: RgbImage,
    faces: Vec<Face>,
    decode_ms: f64,
    detect_ms: f64,
}

impl Pipeline {
    /// Decodes one image of a request and detects its faces.
    fn find(&mut self, bytes: &[u8], role: ImageRole) -> Result<Found, EngineError> {
        let t = Instant::now();
        let img = self.decode(bytes, role)?;
        let decode_ms = ms(t);
        let t = Instant::now();
        let faces = self.detect(&img)?;
        Ok(Found {
            img,
            faces,
            decode_ms,
            detect_ms: ms(t),
        })
    }
}

/// A job of a compare once its images are detected. `image` is 0 for the probe and i + 1 for
/// gallery image i.
enum Job<'a> {
    Liveness {
        img: &'a RgbImage,
        face: Face,
        min: f64,
    },
    /// Capture quality of `subject` (else of the largest face) among all the image's faces.
    Quality {
        image: usize,
        found: &'a Found,
        subject: Option<Face>,
    },
    /// One plan stage's descriptors of some faces of an image, for those faces' `slots`.
    Describe {
        image: usize,
        img: &'a RgbImage,
        faces: Vec<Face>,
        slots: Vec<usize>,
        stage: usize,
    },
}

/// What a job produced, with where it goes, and the milliseconds it took.
enum Output {
    Liveness(LivenessResult),
    Quality {
        image: usize,
        report: QualityReport,
    },
    Describe {
        image: usize,
        slots: Vec<usize>,
        stage: usize,
        descs: Vec<Embedding>,
    },
}

impl Job<'_> {
    fn run(&self, p: &mut Pipeline, plan: &Plan) -> Result<(Output, f64), EngineError> {
        let t = Instant::now();
        let out = match self {
            Job::Liveness { img, face, min } => Output::Liveness(p.liveness(img, face, *min)?),
            Job::Quality {
                image,
                found,
                subject,
            } => Output::Quality {
                image: *image,
                report: match subject {
                    Some(f) => p.quality.assess_subject(&found.img, &found.faces, Some(f)),
                    None => p.quality.assess(&found.img, &found.faces),
                },
            },
            Job::Describe {
                image,
                img,
                faces,
                slots,
                stage,
            } => Output::Describe {
                image: *image,
                slots: slots.clone(),
                stage: *stage,
                descs: p.describe_stage(img, faces, &plan.stages[*stage].0)?,
            },
        };
        Ok((out, ms(t)))
    }
}

/// What a compare's jobs have produced so far, by image (0 is the probe, i + 1 gallery image i).
struct Results {
    described: Vec<Option<Described>>,
    quality: Vec<Option<QualityReport>>,
    liveness: Option<LivenessResult>,
    timings: Timings,
}

impl Results {
    /// Runs `jobs` side by side on the pipelines and puts each output where it belongs.
    fn run(
        &mut self,
        pipes: &mut [&mut Pipeline],
        jobs: &[Job],
        plan: &Plan,
    ) -> Result<(), EngineError> {
        let done = run_jobs(pipes, jobs, |p, job| job.run(p, plan));
        place(done, self)
    }
}

/// Puts each job's output where it belongs and adds its time to its stage; the first failure
/// in job order is the compare's answer.
fn place(
    done: Vec<Result<(Output, f64), EngineError>>,
    results: &mut Results,
) -> Result<(), EngineError> {
    let Results {
        described,
        quality,
        liveness,
        timings,
    } = results;
    for result in done {
        match result? {
            (Output::Liveness(l), took) => {
                timings.liveness_ms += took;
                *liveness = Some(l);
            }
            (Output::Quality { image, report }, took) => {
                timings.quality_ms += took;
                if let Some(slot) = quality.get_mut(image) {
                    *slot = Some(report);
                }
            }
            (
                Output::Describe {
                    image,
                    slots,
                    stage,
                    descs,
                },
                took,
            ) => {
                timings.embed_ms += took;
                let set = described.get_mut(image).and_then(Option::as_mut);
                match set {
                    Some(set) if descs.len() == slots.len() => {
                        for (k, e) in slots.into_iter().zip(descs) {
                            if let Some(slot) = set.descs.get_mut(k).and_then(|d| d.get_mut(stage))
                            {
                                *slot = Some(e);
                            }
                        }
                    }
                    _ => return Err(VisionError::DegenerateFace.into()),
                }
            }
        }
    }
    Ok(())
}

/// A compare on the verifier's pipelines, as jobs side by side:
/// 1. decode and detect every image;
/// 2. the plan's eager descriptors, liveness and quality of every image;
/// 3. a cascade's later stage, for the probe and the gallery faces that need it;
/// 4. the quality of gallery images with several faces, once their best face is known.
pub(super) fn compare(
    verifier: &mut LocalVerifier,
    request: &ValidRequest,
) -> Result<CompareOutcome, EngineError> {
    let start = Instant::now();
    let mut timings = Timings::default();
    let mode = request.search_mode;
    let plan = verifier.pipeline.plan(mode).clone();
    let mut pipes: Vec<&mut Pipeline> = std::iter::once(&mut verifier.pipeline)
        .chain(verifier.helpers.iter_mut())
        .collect();

    // 1. Decode and detect every image, side by side.
    let inputs: Vec<(ImageRole, &[u8])> = std::iter::once((ImageRole::Probe, &request.probe[..]))
        .chain(
            request
                .gallery
                .iter()
                .enumerate()
                .map(|(i, b)| (ImageRole::Gallery(i), &b[..])),
        )
        .collect();
    let mut found = run_jobs(&mut pipes, &inputs, |p, (role, bytes)| p.find(bytes, *role));
    for f in found.iter().flatten() {
        timings.decode_ms += f.decode_ms;
        timings.detect_ms += f.detect_ms;
    }
    let probe = found.remove(0)?;
    let policy = if request.largest_probe_face {
        FacePolicy::Largest
    } else {
        FacePolicy::RefuseSeveral
    };
    let (probe_face, _) = Pipeline::choose_face(
        &probe.faces,
        policy,
        ImageRole::Probe,
        probe.img.dimensions(),
    )?;
    // One bad gallery file does not abort the compare: it is named in the outcome.
    let mut unreadable: Vec<Option<String>> = Vec::with_capacity(found.len());
    let mut images: Vec<Option<Found>> = Vec::with_capacity(found.len());
    for f in found {
        match f {
            Ok(f) => {
                unreadable.push(None);
                images.push(Some(f));
            }
            Err(EngineError::Decode { source, .. }) => {
                unreadable.push(Some(source.to_string()));
                images.push(None);
            }
            Err(e) => return Err(e),
        }
    }

    // 2. Liveness, quality and the plan's eager descriptors of every image, side by side.
    // Image 0 is the probe (its one chosen face), image i + 1 gallery image i (all its faces).
    let all: Vec<Option<(&RgbImage, Vec<Face>)>> =
        std::iter::once(Some((&probe.img, vec![probe_face])))
            .chain(
                images
                    .iter()
                    .map(|g| g.as_ref().map(|g| (&g.img, g.faces.clone()))),
            )
            .collect();
    let mut jobs = Vec::new();
    for stage in 0..plan.eager() {
        for (image, f) in all.iter().enumerate() {
            if let Some((img, faces)) = f.as_ref().filter(|(_, faces)| !faces.is_empty()) {
                jobs.push(Job::Describe {
                    image,
                    img,
                    faces: faces.clone(),
                    slots: (0..faces.len()).collect(),
                    stage,
                });
            }
        }
    }
    if let Some(min) = request.liveness_min_score {
        jobs.push(Job::Liveness {
            img: &probe.img,
            face: probe_face,
            min,
        });
    }
    jobs.push(Job::Quality {
        image: 0,
        found: &probe,
        subject: Some(probe_face),
    });
    for (i, g) in images.iter().enumerate() {
        // A gallery image with several faces is measured once its best match is known (4.).
        if let Some(g) = g.as_ref().filter(|g| g.faces.len() <= 1) {
            jobs.push(Job::Quality {
                image: i + 1,
                found: g,
                subject: g.faces.first().copied(),
            });
        }
    }
    let described: Vec<Option<Described>> = all
        .iter()
        .map(|f| {
            f.as_ref().map(|(_, faces)| Described {
                faces: faces.clone(),
                descs: vec![vec![None; plan.stages.len()]; faces.len()],
            })
        })
        .collect();
    let mut results = Results {
        described,
        quality: vec![None; all.len()],
        liveness: None,
        timings,
    };
    results.run(&mut pipes, &jobs, &plan)?;

    // 3. A cascade's later stage, for the probe and the gallery faces whose first score needs
    // it, side by side.
    let mut needs: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
    if let Some(Some(p)) = results.described.first() {
        for (i, g) in results.described.iter().enumerate().skip(1) {
            for k in 0..g.as_ref().map_or(0, |g| g.faces.len()) {
                let Some(g) = g else { break };
                if let Ok(Scoring::Needs(stage)) = plan.score(&p.descs[0], &g.descs[k]) {
                    needs.entry((0, stage)).or_default();
                    needs.entry((i, stage)).or_default().push(k);
                }
            }
        }
    }
    let jobs: Vec<Job> = needs
        .into_iter()
        .filter_map(|((image, stage), slots)| {
            let (img, faces) = all.get(image)?.as_ref()?;
            let slots = if image == 0 { vec![0] } else { slots };
            Some(Job::Describe {
                image,
                img,
                faces: slots.iter().map(|&k| faces[k]).collect(),
                slots,
                stage,
            })
        })
        .collect();
    results.run(&mut pipes, &jobs, &plan)?;

    // Scores (the best face of each gallery image; anything still missing is filled here).
    let threshold = request
        .compare_min_score
        .unwrap_or_else(|| default_threshold(mode));
    let mut probe_set = results
        .described
        .first_mut()
        .and_then(Option::take)
        .ok_or(EngineError::NoFace(ImageRole::Probe))?;
    let mut best_of: Vec<Option<(usize, PairScore)>> = Vec::with_capacity(images.len());
    let t = Instant::now();
    for (i, g) in images.iter().enumerate() {
        best_of.push(
            match (g, results.described.get_mut(i + 1).and_then(Option::as_mut)) {
                (Some(g), Some(set)) => score_gallery(
                    &mut *pipes[0],
                    &plan,
                    &probe.img,
                    &mut probe_set,
                    &g.img,
                    set,
                )?,
                _ => None,
            },
        );
    }
    results.timings.embed_ms += ms(t);

    // 4. Quality of gallery images with several faces, of the face that matched best.
    let jobs: Vec<Job> = images
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let g = g.as_ref().filter(|g| g.faces.len() > 1)?;
            Some(Job::Quality {
                image: i + 1,
                found: g,
                subject: best_of[i].as_ref().map(|(k, _)| g.faces[*k]),
            })
        })
        .collect();
    results.run(&mut pipes, &jobs, &plan)?;

    let Results {
        mut quality,
        liveness,
        mut timings,
        ..
    } = results;
    let mut gallery = Vec::with_capacity(request.gallery.len());
    let mut gallery_quality = Vec::with_capacity(request.gallery.len());
    for (index, bytes) in request.gallery.iter().enumerate() {
        let faces_found = images[index].as_ref().map_or(0, |g| g.faces.len());
        let (face, score, distance, sources) = match &best_of[index] {
            Some((k, s)) => {
                let last = s.used.last().copied();
                let distance = last.map(|u| distance_of(plan.stages[u.stage].1.metric, u.raw));
                (
                    images[index].as_ref().map(|g| g.faces[*k]),
                    Some(s.score),
                    distance,
                    pipes[0].sources(&plan, s),
                )
            }
            None => (None, None, None, Vec::new()),
        };
        gallery_quality.push(quality[index + 1].take());
        gallery.push(GalleryResult {
            index,
            sha256: sha256_hex(bytes),
            faces_found,
            face,
            score,
            distance,
            passed: score.map(|s| s >= threshold),
            error: unreadable[index].take(),
            reported: true,
            recognisers: sources,
        });
    }
    let best = gallery
        .iter()
        .filter_map(|g| g.score)
        .max_by(|a, b| a.total_cmp(b));
    let decision = match best {
        None => Decision::NoFace,
        Some(s) if s >= threshold => Decision::Match,
        Some(_) => Decision::NoMatch,
    };
    let live_ok = liveness
        .as_ref()
        .is_none_or(|l: &LivenessResult| l.passed() == Some(true));
    let probe_quality = quality[0]
        .take()
        .ok_or_else(|| VisionError::UnexpectedOutput("probe quality not measured".into()))?;
    timings.total_ms = ms(start);
    Ok(CompareOutcome {
        engine: verifier.name(),
        search_mode: mode,
        score: best.unwrap_or(0.0),
        threshold,
        threshold_basis: if request.compare_min_score.is_some() {
            "compare_min_score from the request".into()
        } else {
            threshold_basis(mode)
        },
        decision,
        probe_sha256: sha256_hex(&request.probe),
        probe_face: Some(probe_face),
        probe_faces_found: probe.faces.len(),
        gallery,
        liveness,
        passed: decision == Decision::Match && live_ok,
        timings,
        models: verifier.pipeline.models().to_vec(),
        remote: None,
        quality: Some(CompareQuality {
            probe: probe_quality,
            gallery: gallery_quality,
        }),
    })
}
