//! The exclusions side file (`<input>.qa-exclusions.json`): pairs a reviewer marked mislabelled
//! or excluded, each with a note. The next run leaves them out of every rate and lists them in
//! the report, so the evidence for a threshold says which pairs it did not count, and why.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::input::QaPair;
use super::QaError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// The label (`same`) is wrong.
    Mislabelled,
    /// Not a valid comparison for another reason (wrong crop, duplicate image, ...).
    Excluded,
}

impl ExclusionReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExclusionReason::Mislabelled => "mislabelled",
            ExclusionReason::Excluded => "excluded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    pub a: String,
    pub b: String,
    pub reason: ExclusionReason,
    #[serde(default)]
    pub note: String,
    /// When it was marked (ISO 8601, UTC).
    #[serde(default)]
    pub at: String,
}

impl Exclusion {
    /// Whether this entry names the pair (in either order).
    pub fn matches(&self, a: &str, b: &str) -> bool {
        (self.a == a && self.b == b) || (self.a == b && self.b == a)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExclusionFile {
    pub version: u32,
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
}

impl Default for ExclusionFile {
    fn default() -> Self {
        Self {
            version: 1,
            exclusions: Vec::new(),
        }
    }
}

impl ExclusionFile {
    /// The file at `path`, or an empty list when there is none.
    pub fn load(path: &Path) -> Result<Self, QaError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                QaError::Input(format!("{}: not an exclusions file ({e})", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(QaError::Input(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Writes atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), QaError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| QaError::Other(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        let io = |e: std::io::Error| QaError::Output(format!("writing {}: {e}", path.display()));
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Adds or replaces the entry of a pair.
    pub fn mark(&mut self, e: Exclusion) {
        self.exclusions.retain(|x| !x.matches(&e.a, &e.b));
        self.exclusions.push(e);
    }

    /// Removes the entry of a pair; true if there was one.
    pub fn unmark(&mut self, a: &str, b: &str) -> bool {
        let before = self.exclusions.len();
        self.exclusions.retain(|x| !x.matches(a, b));
        before != self.exclusions.len()
    }

    pub fn find(&self, a: &str, b: &str) -> Option<&Exclusion> {
        self.exclusions.iter().find(|x| x.matches(a, b))
    }

    /// For each pair, its exclusion if it has one; and the entries that matched no pair.
    pub fn apply<'a>(
        &'a self,
        pairs: &[QaPair],
    ) -> (Vec<Option<&'a Exclusion>>, Vec<&'a Exclusion>) {
        let flags: Vec<Option<&Exclusion>> = pairs.iter().map(|p| self.find(&p.a, &p.b)).collect();
        let unmatched = self
            .exclusions
            .iter()
            .filter(|e| !pairs.iter().any(|p| e.matches(&p.a, &p.b)))
            .collect();
        (flags, unmatched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> QaPair {
        QaPair {
            a: a.into(),
            b: b.into(),
            same: Some(true),
            group: None,
            group_b: None,
            source: String::new(),
            logged_score: None,
        }
    }

    #[test]
    fn mark_apply_save_load() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p.csv.qa-exclusions.json");
        assert_eq!(
            ExclusionFile::load(&path).unwrap(),
            ExclusionFile::default()
        );
        let mut f = ExclusionFile::default();
        let e = |a: &str, b: &str, r| Exclusion {
            a: a.into(),
            b: b.into(),
            reason: r,
            note: "n".into(),
            at: String::new(),
        };
        f.mark(e("x", "y", ExclusionReason::Excluded));
        f.mark(e("y", "x", ExclusionReason::Mislabelled));
        f.mark(e("gone", "z", ExclusionReason::Excluded));
        assert_eq!(f.exclusions.len(), 2);
        f.save(&path).unwrap();
        let g = ExclusionFile::load(&path).unwrap();
        assert_eq!(g, f);
        let pairs = [pair("x", "y"), pair("x", "z")];
        let (flags, unmatched) = g.apply(&pairs);
        assert_eq!(
            flags[0].map(|e| e.reason),
            Some(ExclusionReason::Mislabelled)
        );
        assert!(flags[1].is_none());
        assert_eq!(unmatched.len(), 1);
        let mut g = g;
        assert!(g.unmark("x", "y"));
        assert!(!g.unmark("x", "y"));
    }
}
