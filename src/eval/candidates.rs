//! Candidate recognition configurations for `eval --candidates`, by name:
//!
//! - `ALIAS[+flip|+rot]`: one recogniser (its manifest alias: `dlib`, `dlib-int8`, `reid`) with
//!   its views (chip; chip + mirror; chip + mirror + rotations of +-5 degrees, mirrored);
//! - `fuse(A,B)`: both always run, the score is the sigmoid of the mean of their calibrated logits;
//! - `cascade(A>B)` or `cascade(A>B@LO..HI)`: B runs only when A's calibrated score is in
//!   `[LO, HI]` (default [`DEFAULT_CASCADE_BAND`]), and then B's score is the answer;
//!   `cascade(A>>B...)`: the same, but in the band the answer is the fusion of A and B.
//!
//! Calibrations are fitted on the run's LFW pairs (see `calibrate`) before the plan is built.

use crate::engine::score::Calibration;
use crate::engine::{Combine, Plan, Stage};
use crate::runtime::VerifiedModels;
use crate::vision::recognise::Views;

/// A cascade's default band on the first stage's calibrated score.
pub const DEFAULT_CASCADE_BAND: (f64, f64) = (0.02, 0.998);

/// A parsed candidate, before its calibrations are known.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub stages: Vec<Stage>,
    pub combine: Combine,
}

impl Candidate {
    /// The plan with these calibrations (one per stage, in order).
    pub fn plan(&self, calibrations: &[Calibration]) -> Plan {
        Plan {
            name: self.name.clone(),
            stages: self
                .stages
                .iter()
                .cloned()
                .zip(calibrations.iter().copied())
                .collect(),
            combine: self.combine,
        }
    }
}

/// Splits a comma-separated list at the commas outside parentheses.
pub fn split_list(list: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn stage(models: &VerifiedModels, text: &str) -> Result<Stage, String> {
    let text = text.trim();
    let (name, views) = if let Some(n) = text.strip_suffix("+flip") {
        (n, Views::Flip)
    } else if let Some(n) = text.strip_suffix("+rot") {
        (n, Views::Rotations)
    } else {
        (text, Views::Plain)
    };
    let entry = models.recogniser(name).map_err(|_| {
        let known: Vec<String> = models
            .entries
            .iter()
            .filter_map(|e| e.recogniser.as_ref().map(|r| r.alias.clone()))
            .collect();
        format!("unknown recogniser `{name}` (known: {})", known.join(", "))
    })?;
    Ok(Stage::new(&entry.id, views))
}

fn band(text: &str) -> Result<(f64, f64), String> {
    let (lo, hi) = text
        .split_once("..")
        .ok_or_else(|| format!("cascade band `{text}`: use LO..HI"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("cascade band `{text}`: `{s}` is not a number"))
    };
    let (lo, hi) = (parse(lo)?, parse(hi)?);
    if !(0.0..=1.0).contains(&lo) || !(0.0..=1.0).contains(&hi) || lo > hi {
        return Err(format!("cascade band `{text}`: need 0 <= LO <= HI <= 1"));
    }
    Ok((lo, hi))
}

/// Parses one candidate name.
pub fn parse(models: &VerifiedModels, text: &str) -> Result<Candidate, String> {
    let text = text.trim();
    let inner = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(body) = inner("fuse(") {
        let parts: Vec<&str> = body.split(',').collect();
        let [a, b] = parts[..] else {
            return Err(format!("`{text}`: fuse takes two recognisers"));
        };
        let (a, b) = (stage(models, a)?, stage(models, b)?);
        if a == b {
            return Err(format!("`{text}`: fusing a stage with itself"));
        }
        return Ok(Candidate {
            name: text.to_string(),
            stages: vec![a, b],
            combine: Combine::Fusion,
        });
    }
    if let Some(body) = inner("cascade(") {
        let (body, (lo, hi)) = match body.split_once('@') {
            Some((b, band_text)) => (b, band(band_text)?),
            None => (body, DEFAULT_CASCADE_BAND),
        };
        let (a, b) = body
            .split_once('>')
            .ok_or_else(|| format!("`{text}`: use cascade(FIRST>SECOND)"))?;
        let (b, fuse) = match b.strip_prefix('>') {
            Some(b) => (b, true),
            None => (b, false),
        };
        let (a, b) = (stage(models, a)?, stage(models, b)?);
        if a == b {
            return Err(format!("`{text}`: a cascade of a stage with itself"));
        }
        return Ok(Candidate {
            name: text.to_string(),
            stages: vec![a, b],
            combine: Combine::Cascade { lo, hi, fuse },
        });
    }
    Ok(Candidate {
        name: text.to_string(),
        stages: vec![stage(models, text)?],
        combine: Combine::Single,
    })
}

/// The default list of `eval --candidates all`: every configuration of docs/recognition.md's table.
pub const ALL: &str = "dlib+flip,dlib-int8,dlib-int8+flip,reid,reid+flip,\
    fuse(reid,dlib-int8),fuse(reid,dlib-int8+flip),fuse(reid+flip,dlib-int8+flip),fuse(reid,dlib+flip),\
    cascade(dlib-int8>dlib-int8+flip),cascade(dlib-int8>reid),cascade(dlib-int8>reid+flip),\
    cascade(dlib-int8+flip>reid+flip),cascade(dlib-int8>reid@0.2..1),\
    cascade(dlib-int8>>reid@0.2..0.97),cascade(dlib-int8>>reid@0.2..0.995),\
    cascade(dlib-int8>>reid@0.2..0.998),cascade(dlib-int8>>reid@0.2..0.999),\
    cascade(dlib-int8>>reid@0.1..0.999),cascade(dlib-int8>>reid@0.2..0.9999),\
    cascade(dlib-int8+flip>>reid@0.2..0.999)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_outside_parentheses() {
        assert_eq!(
            split_list("reid, fuse(a,b) ,cascade(a>b@0.1..0.9),"),
            ["reid", "fuse(a,b)", "cascade(a>b@0.1..0.9)"]
        );
    }

    #[test]
    fn the_standard_list_splits_into_its_candidates() {
        let all = split_list(ALL);
        assert_eq!(all.len(), 21);
        assert!(all.iter().all(|c| !c.is_empty() && !c.contains(' ')));
    }

    #[test]
    fn bands_are_checked() {
        assert_eq!(band("0.1..0.9"), Ok((0.1, 0.9)));
        assert!(band("0.9..0.1").is_err());
        assert!(band("0.1").is_err());
        assert!(band("x..1").is_err());
    }
}
