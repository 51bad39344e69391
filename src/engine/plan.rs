//! A mode's plan: its recognisers' stages (recogniser + views) and how their scores combine
//! (one stage, a fusion of two, or a cascade), with the shipped FAST and ACCURATE plans. The one
//! place where a fused or cascaded score is decided, for the engine and the evaluation alike.

use super::score::{fitted, Calibration};
use crate::vision::recognise::{Embedding, ModelMismatch, Views};

/// One recogniser (manifest id) and the views of a face it averages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stage {
    pub recogniser: String,
    pub views: Views,
}

impl Stage {
    pub fn new(recogniser: &str, views: Views) -> Self {
        Self {
            recogniser: recogniser.to_string(),
            views,
        }
    }
}

/// How the stages of a plan make one score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    /// One stage.
    Single,
    /// Two stages always run; the score is the sigmoid of the mean of their calibrated logits.
    Fusion,
    /// The second stage runs only when the first's score is in `[lo, hi]`, and then its score
    /// (with `fuse`, the fusion of both stages' logits) is the answer; outside the band the
    /// first stage's score stands.
    Cascade { lo: f64, hi: f64, fuse: bool },
}

/// How a mode turns two faces into a score.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// For reports: "dlib-int8+flip", "cascade(dlib-int8>reid+flip)".
    pub name: String,
    /// One stage, or two for a fusion or a cascade, each with its calibration.
    pub stages: Vec<(Stage, Calibration)>,
    pub combine: Combine,
}

/// One stage's contribution to a pair's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageScore {
    pub stage: usize,
    pub raw: f64,
    pub score: f64,
}

/// A pair's score and the stages it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    pub score: f64,
    pub used: Vec<StageScore>,
}

/// The outcome of scoring a pair under a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Scoring {
    Done(PairScore),
    /// The cascade needs this stage's descriptors of both faces.
    Needs(usize),
}

/// A face's descriptors, one slot per stage of the plan (a cascade's second is filled on demand).
pub type FaceDescriptors = Vec<Option<Embedding>>;

impl Plan {
    pub fn single(name: &str, stage: Stage, calibration: Calibration) -> Self {
        Self {
            name: name.to_string(),
            stages: vec![(stage, calibration)],
            combine: Combine::Single,
        }
    }

    /// The stages computed for every face (the rest only on demand).
    pub fn eager(&self) -> usize {
        match self.combine {
            Combine::Fusion => self.stages.len(),
            Combine::Single | Combine::Cascade { .. } => 1,
        }
    }

    /// Scores two faces from their descriptors. Refuses descriptors of different models.
    pub fn score(
        &self,
        a: &[Option<Embedding>],
        b: &[Option<Embedding>],
    ) -> Result<Scoring, ModelMismatch> {
        let mut raws = [None, None];
        for (i, slot) in raws.iter_mut().enumerate().take(self.stages.len()) {
            if let (Some(x), Some(y)) = (
                a.get(i).and_then(Option::as_ref),
                b.get(i).and_then(Option::as_ref),
            ) {
                *slot = Some(x.compare(y)?);
            }
        }
        Ok(self.combine(raws))
    }

    /// The plan's rule on the stages' raw metric values (`None`: not computed). The one place
    /// where a fusion or a cascade is decided, for the engine and the evaluation alike.
    pub fn combine(&self, raws: [Option<f64>; 2]) -> Scoring {
        let stage = |i: usize| {
            raws[i].map(|raw| StageScore {
                stage: i,
                raw,
                score: self.stages[i].1.score(raw),
            })
        };
        let Some(first) = stage(0) else {
            return Scoring::Needs(0);
        };
        match self.combine {
            Combine::Single => Scoring::Done(PairScore {
                score: first.score,
                used: vec![first],
            }),
            Combine::Fusion => {
                let Some(second) = stage(1) else {
                    return Scoring::Needs(1);
                };
                let l =
                    (self.stages[0].1.logit(first.raw) + self.stages[1].1.logit(second.raw)) / 2.0;
                Scoring::Done(PairScore {
                    score: super::score::sigmoid(l),
                    used: vec![first, second],
                })
            }
            Combine::Cascade { lo, hi, fuse } => {
                if first.score < lo || first.score > hi {
                    return Scoring::Done(PairScore {
                        score: first.score,
                        used: vec![first],
                    });
                }
                match stage(1) {
                    Some(second) => Scoring::Done(PairScore {
                        score: if fuse {
                            super::score::sigmoid(
                                (self.stages[0].1.logit(first.raw)
                                    + self.stages[1].1.logit(second.raw))
                                    / 2.0,
                            )
                        } else {
                            second.score
                        },
                        used: vec![first, second],
                    }),
                    None => Scoring::Needs(1),
                }
            }
        }
    }

    /// The score alone, without allocating, when every stage's raw value is known (the
    /// evaluation's all-pairs sweep). Agrees with [`Plan::combine`].
    pub fn score_known(&self, first: f64, second: Option<f64>) -> Option<f64> {
        let s0 = self.stages[0].1.score(first);
        match self.combine {
            Combine::Single => Some(s0),
            Combine::Fusion => second.map(|r| {
                super::score::sigmoid(
                    (self.stages[0].1.logit(first) + self.stages[1].1.logit(r)) / 2.0,
                )
            }),
            Combine::Cascade { lo, hi, .. } if s0 < lo || s0 > hi => Some(s0),
            Combine::Cascade { fuse: true, .. } => second.map(|r| {
                super::score::sigmoid(
                    (self.stages[0].1.logit(first) + self.stages[1].1.logit(r)) / 2.0,
                )
            }),
            Combine::Cascade { .. } => second.map(|r| self.stages[1].1.score(r)),
        }
    }

    /// Whether a cascade needs its second stage for a pair with this first-stage raw value.
    pub fn needs_second(&self, first: f64) -> bool {
        match self.combine {
            Combine::Single => false,
            Combine::Fusion => true,
            Combine::Cascade { lo, hi, .. } => {
                let s0 = self.stages[0].1.score(first);
                (lo..=hi).contains(&s0)
            }
        }
    }
}

/// The recogniser ids of the shipped modes.
pub const DLIB_INT8: &str = "dlib_resnet_v1_int8";
pub const REID: &str = "face_reidentification_retail_0095";

/// FAST's cascade band on the int8 dlib score: outside it the int8 chip decides alone.
pub const FAST_CASCADE_BAND: (f64, f64) = (0.2, 0.999);

/// FAST: int8 dlib on the chip; when its score is in [`FAST_CASCADE_BAND`], reid-0095 on the
/// chip too and the fusion of both decides (docs/recognition.md, "Choosing FAST and ACCURATE").
pub fn fast_plan() -> Plan {
    Plan {
        name: format!(
            "cascade(dlib-int8>>reid@{}..{})",
            FAST_CASCADE_BAND.0, FAST_CASCADE_BAND.1
        ),
        stages: vec![
            (Stage::new(DLIB_INT8, Views::Plain), fitted::DLIB_INT8),
            (Stage::new(REID, Views::Plain), fitted::REID),
        ],
        combine: Combine::Cascade {
            lo: FAST_CASCADE_BAND.0,
            hi: FAST_CASCADE_BAND.1,
            fuse: true,
        },
    }
}

/// ACCURATE: the fusion of reid-0095 on the chip and int8 dlib on the chip and its mirror
/// (docs/recognition.md, "Choosing FAST and ACCURATE").
pub fn accurate_plan() -> Plan {
    Plan {
        name: "fuse(reid,dlib-int8+flip)".into(),
        stages: vec![
            (Stage::new(REID, Views::Plain), fitted::REID),
            (Stage::new(DLIB_INT8, Views::Flip), fitted::DLIB_INT8_FLIP),
        ],
        combine: Combine::Fusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(combine: Combine) -> Plan {
        Plan {
            name: "t".into(),
            stages: vec![
                (Stage::new("a", Views::Plain), fitted::DLIB_INT8),
                (Stage::new("b", Views::Plain), fitted::REID),
            ],
            combine,
        }
    }

    #[test]
    fn the_sweep_scores_pairs_exactly_as_the_engine_does() {
        let plans = [
            plan(Combine::Single),
            plan(Combine::Fusion),
            plan(Combine::Cascade {
                lo: 0.2,
                hi: 0.999,
                fuse: true,
            }),
            plan(Combine::Cascade {
                lo: 0.2,
                hi: 0.999,
                fuse: false,
            }),
        ];
        for p in &plans {
            for i in 0..60 {
                let d = 0.3 + f64::from(i) * 0.01; // dlib distance
                let c = 0.6 - f64::from(i) * 0.012; // reid cosine
                let full = match p.combine([Some(d), Some(c)]) {
                    Scoring::Done(s) => s.score,
                    Scoring::Needs(_) => unreachable!("both stages given"),
                };
                let second = p.needs_second(d).then_some(c);
                assert_eq!(
                    p.score_known(d, second),
                    Some(full),
                    "{:?} d={d}",
                    p.combine
                );
                // Without the second stage a cascade asks for it exactly when needed.
                let lazy = p.combine([Some(d), None]);
                assert_eq!(
                    matches!(lazy, Scoring::Needs(1)),
                    p.needs_second(d),
                    "{:?} d={d}",
                    p.combine
                );
            }
        }
    }

    #[test]
    fn a_cascade_decides_alone_outside_its_band() {
        let p = plan(Combine::Cascade {
            lo: 0.2,
            hi: 0.999,
            fuse: true,
        });
        // Far apart (distance 0.9): the int8 stage's score stands, no second stage.
        match p.combine([Some(0.9), None]) {
            Scoring::Done(s) => {
                assert_eq!(s.used.len(), 1);
                assert!(s.score < 0.2);
            }
            Scoring::Needs(_) => panic!("outside the band"),
        }
        assert_eq!(p.combine([None, Some(0.5)]), Scoring::Needs(0));
        assert_eq!(fast_plan().eager(), 1);
        assert_eq!(accurate_plan().eager(), 2);
    }
}
