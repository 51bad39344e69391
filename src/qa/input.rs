//! What the workbench reads: a pairs CSV (`a,b,same[,group][,group_b][,source]`), a folder of
//! `<identity>/<images>`, or the station's own audit log (unlabelled production scores), each
//! with the digest the report names it by.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::QaError;
use crate::digest::sha256_hex;

/// One comparison to evaluate (or, from an audit log, one that production made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaPair {
    /// Image paths relative to the dataset root (audit log: `sha256:<probe>` / `sha256:<gallery>`).
    pub a: String,
    pub b: String,
    /// Ground truth; `None` for production decisions (unlabelled).
    pub same: Option<bool>,
    /// The pair's group (of image `a`, and of `b` unless `group_b` says otherwise).
    pub group: Option<String>,
    pub group_b: Option<String>,
    /// The CSV's `source` column, when there is one (e.g. `lfw_fold03`).
    pub source: String,
    /// Audit log only: the score production computed (`None`: no face in that gallery image).
    pub logged_score: Option<f64>,
}

impl QaPair {
    /// Both images' groups, when the pair has any.
    pub fn groups(&self) -> Option<(&str, &str)> {
        let a = self.group.as_deref()?;
        Some((a, self.group_b.as_deref().unwrap_or(a)))
    }
}

/// Which kind of input, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    PairsCsv,
    Folder,
    AuditLog,
}

/// A loaded input.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub kind: InputKind,
    /// The file or folder given.
    pub path: PathBuf,
    /// Folder the image paths are relative to.
    pub root: PathBuf,
    /// Short name for reports and the threshold basis (the file or folder name).
    pub name: String,
    pub sha256: String,
    /// What `sha256` is the digest of, in words.
    pub sha256_of: String,
    pub pairs: Vec<QaPair>,
    /// How the pairs were chosen (filters, the impostor sample), in words; empty = all.
    pub selection: Vec<String>,
    /// Things the reader noticed that the report should say (ignored columns, skipped lines).
    pub notes: Vec<String>,
    /// Audit log: lines whose signature did not verify (excluded from the statistics).
    pub rejected_lines: Vec<String>,
}

/// The side file of exclusions for an input: `<input>.qa-exclusions.json` beside it.
pub fn exclusions_path(input: &Path) -> PathBuf {
    let mut s = input.as_os_str().to_owned();
    // A folder given with a trailing slash still gets its side file beside it.
    let trimmed = Path::new(&s).components().as_path().to_path_buf();
    s = trimmed.into_os_string();
    s.push(".qa-exclusions.json");
    PathBuf::from(s)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

// ---------------------------------------------------------------------------------------------
// Pairs CSV
// ---------------------------------------------------------------------------------------------

/// Parses a pairs CSV: a header naming at least `a`, `b` and `same` (0 or 1); optional `group`
/// (alias `group_a`), `group_b` and `source`; other columns are ignored and noted. `group_column`
/// names another column to group by (e.g. `source`). Any malformed row is an error naming its
/// line: a silently skipped pair would change every rate.
pub fn parse_pairs_csv(
    text: &str,
    group_column: Option<&str>,
) -> Result<(Vec<QaPair>, Vec<String>), QaError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let bad = |line: u64, message: String| QaError::Input(format!("line {line}: {message}"));
    let headers = reader
        .headers()
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(ia), Some(ib), Some(is)) = (col("a"), col("b"), col("same")) else {
        return Err(bad(
            1,
            format!(
                "the header must name columns a, b and same (and optionally group, group_b, source); got `{}`",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    };
    let ig = match group_column {
        Some(name) => Some(
            col(name)
                .ok_or_else(|| bad(1, format!("no column `{name}` to group by in the header")))?,
        ),
        None => col("group").or_else(|| col("group_a")),
    };
    let igb = col("group_b");
    let isrc = col("source");
    let known = ["a", "b", "same", "group", "group_a", "group_b", "source"];
    let mut notes = Vec::new();
    let ignored: Vec<&str> = headers
        .iter()
        .filter(|h| !known.contains(h) && Some(*h) != group_column)
        .collect();
    if !ignored.is_empty() {
        notes.push(format!("columns ignored: {}", ignored.join(", ")));
    }
    let mut pairs = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).unwrap_or("").to_string();
        let (a, b) = (field(ia), field(ib));
        if a.is_empty() || b.is_empty() {
            return Err(bad(line, "image path `a` and `b` must not be empty".into()));
        }
        let same = match field(is).as_str() {
            "1" => true,
            "0" => false,
            other => return Err(bad(line, format!("`same` must be 0 or 1, got `{other}`"))),
        };
        let opt = |i: Option<usize>| i.map(field).filter(|s| !s.is_empty());
        pairs.push(QaPair {
            a,
            b,
            same: Some(same),
            group: opt(ig),
            group_b: opt(igb),
            source: opt(isrc).unwrap_or_default(),
            logged_score: None,
        });
    }
    Ok((pairs, notes))
}

/// Reads a pairs CSV; `source_prefix` keeps only rows whose `source` starts with it.
pub fn load_pairs_csv(
    path: &Path,
    root: Option<&Path>,
    group_column: Option<&str>,
    source_prefix: Option<&str>,
) -> Result<Dataset, QaError> {
    let bytes = std::fs::read(path)
        .map_err(|e| QaError::Input(format!("reading {}: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| QaError::Input(format!("{} is not UTF-8 text", path.display())))?;
    let (mut pairs, notes) = parse_pairs_csv(text, group_column)
        .map_err(|e| QaError::Input(format!("{}: {e}", path.display())))?;
    let mut selection = Vec::new();
    if let Some(p) = source_prefix {
        let before = pairs.len();
        pairs.retain(|r| r.source.starts_with(p));
        selection.push(format!(
            "rows whose source starts with \"{p}\": {} of {before}",
            pairs.len()
        ));
    }
    let root = root.map(Path::to_path_buf).unwrap_or_else(|| {
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    Ok(Dataset {
        kind: InputKind::PairsCsv,
        path: path.to_path_buf(),
        root,
        name: name_of(path),
        sha256: sha256_hex(&bytes),
        sha256_of: "the CSV file's bytes".into(),
        pairs,
        selection,
        notes,
        rejected_lines: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Folder of identities
// ---------------------------------------------------------------------------------------------

/// How impostor pairs are chosen from a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpostorChoice {
    /// Every pair of images of different identities.
    All,
    /// `n` distinct pairs drawn uniformly with a seeded generator (SplitMix64).
    Sample { n: usize, seed: u64 },
}

/// Above this many impostor pairs a folder needs `--impostor-sample`.
pub const MAX_ALL_IMPOSTORS: usize = 2_000_000;

const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "bmp"];

/// SplitMix64: a small, fixed, documented generator, so a `--seed` reproduces the same sample
/// on every platform and every version of this program.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0), without modulo bias (Lemire's rejection).
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Image file names by identity (sub-folder name).
pub type Identities = BTreeMap<String, Vec<String>>;

/// The images of a folder, by identity (sub-folder), names sorted.
pub fn list_identities(dir: &Path) -> Result<(Identities, Vec<String>), QaError> {
    let read = |d: &Path| {
        std::fs::read_dir(d).map_err(|e| QaError::Input(format!("reading {}: {e}", d.display())))
    };
    let mut ids = BTreeMap::new();
    let mut notes = Vec::new();
    let mut loose = 0usize;
    for entry in read(dir)? {
        let entry = entry.map_err(|e| QaError::Input(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        if !path.is_dir() {
            loose += 1;
            continue;
        }
        let id = entry.file_name().to_string_lossy().into_owned();
        let mut images = Vec::new();
        for f in read(&path)? {
            let f = f.map_err(|e| QaError::Input(format!("{}: {e}", path.display())))?;
            let name = f.file_name().to_string_lossy().into_owned();
            let ext = Path::new(&name)
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            if f.path().is_file() && ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
                images.push(name);
            }
        }
        images.sort();
        if !images.is_empty() {
            ids.insert(id, images);
        }
    }
    if loose > 0 {
        notes.push(format!(
            "{loose} files directly in the folder ignored (images belong in <identity>/ sub-folders)"
        ));
    }
    Ok((ids, notes))
}

/// Builds the pairs of a folder of `<identity>/<images>`: every genuine pair, and every impostor
/// pair or a seeded sample of them. The digest is of the sorted list of the images' SHA-256.
pub fn load_folder(dir: &Path, impostors: ImpostorChoice) -> Result<Dataset, QaError> {
    let (ids, mut notes) = list_identities(dir)?;
    let images: Vec<(usize, String)> = ids
        .iter()
        .enumerate()
        .flat_map(|(k, (id, files))| files.iter().map(move |f| (k, format!("{id}/{f}"))))
        .collect();
    if ids.len() < 2 {
        return Err(QaError::Input(format!(
            "{}: needs at least two identity sub-folders with images, found {}",
            dir.display(),
            ids.len()
        )));
    }
    let mut digests = Vec::with_capacity(images.len());
    for (_, rel) in &images {
        let bytes = std::fs::read(dir.join(rel))
            .map_err(|e| QaError::Input(format!("reading {}: {e}", dir.join(rel).display())))?;
        digests.push(sha256_hex(&bytes));
    }
    digests.sort();
    let digest = sha256_hex(digests.join("\n").as_bytes());

    let pair = |p: usize, q: usize, same: bool| QaPair {
        a: images[p].1.clone(),
        b: images[q].1.clone(),
        same: Some(same),
        group: None,
        group_b: None,
        source: String::new(),
        logged_score: None,
    };
    let mut pairs = Vec::new();
    for p in 0..images.len() {
        for q in p + 1..images.len() {
            if images[p].0 == images[q].0 {
                pairs.push(pair(p, q, true));
            }
        }
    }
    let genuine = pairs.len();
    let sizes: Vec<usize> = ids.values().map(Vec::len).collect();
    let total: usize = sizes.iter().sum();
    let all_impostors: usize = sizes.iter().map(|n| n * (total - n)).sum::<usize>() / 2;
    let mut selection = vec![format!(
        "{} identities, {} images: all {genuine} genuine pairs",
        ids.len(),
        images.len()
    )];
    match impostors {
        ImpostorChoice::Sample { n, seed } if n < all_impostors => {
            selection.push(format!(
                "{n} of {all_impostors} impostor pairs drawn uniformly without replacement (SplitMix64, seed {seed})"
            ));
            for (p, q) in sample_impostors(&images, n, all_impostors, seed) {
                pairs.push(pair(p, q, false));
            }
        }
        choice => {
            if choice == ImpostorChoice::All && all_impostors > MAX_ALL_IMPOSTORS {
                return Err(QaError::Input(format!(
                    "{}: {all_impostors} impostor pairs is more than {MAX_ALL_IMPOSTORS}; pass --impostor-sample N --seed S",
                    dir.display()
                )));
            }
            selection.push(format!("all {all_impostors} impostor pairs"));
            for p in 0..images.len() {
                for q in p + 1..images.len() {
                    if images[p].0 != images[q].0 {
                        pairs.push(pair(p, q, false));
                    }
                }
            }
        }
    }
    if genuine == 0 {
        notes.push("no identity has two images: there are no genuine pairs".into());
    }
    Ok(Dataset {
        kind: InputKind::Folder,
        path: dir.to_path_buf(),
        root: dir.to_path_buf(),
        name: name_of(dir),
        sha256: digest,
        sha256_of: "the sorted list of the images' SHA-256 (hex, one per line)".into(),
        pairs,
        selection,
        notes,
        rejected_lines: Vec::new(),
    })
}

/// `n` distinct unordered pairs of images of different identities, uniformly, in a reproducible
/// order: ordered draws (p, q) are uniform over ordered cross pairs, so their unordered form is
/// uniform too; repeats are drawn again. Dense samples (more than half) shuffle the full list.
fn sample_impostors(
    images: &[(usize, String)],
    n: usize,
    all: usize,
    seed: u64,
) -> Vec<(usize, usize)> {
    let mut rng = SplitMix64::new(seed);
    if n * 2 > all {
        let mut every: Vec<(usize, usize)> = Vec::with_capacity(all);
        for p in 0..images.len() {
            for q in p + 1..images.len() {
                if images[p].0 != images[q].0 {
                    every.push((p, q));
                }
            }
        }
        // Partial Fisher-Yates.
        for i in 0..n {
            let j = i + rng.below((every.len() - i) as u64) as usize;
            every.swap(i, j);
        }
        every.truncate(n);
        return every;
    }
    let m = images.len() as u64;
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let p = rng.below(m) as usize;
        let q = rng.below(m) as usize;
        if images[p].0 == images[q].0 {
            continue;
        }
        let key = (p.min(q), p.max(q));
        if seen.insert(key) {
            out.push(key);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

/// Reads the station's audit log (JSON Lines): one unlabelled pair per gallery image of every
/// compare record (`station.gallery[].score`, else `data.result.score`). Lines whose signature
/// does not verify are left out of the statistics and listed; tombstones of purged records and
/// other records (liveness, configuration, key rotation, purge) are counted in notes. The hash
/// chain is not checked here (`facestation record verify` does that).
pub fn load_audit_log(path: &Path) -> Result<Dataset, QaError> {
    let bytes = std::fs::read(path)
        .map_err(|e| QaError::Input(format!("reading {}: {e}", path.display())))?;
    let mut pairs = Vec::new();
    let mut rejected = Vec::new();
    let mut other = 0usize;
    let mut purged = 0usize;
    let mut records = 0usize;
    let mut modes: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                rejected.push(format!("line {n}: not JSON ({e})"));
                continue;
            }
        };
        if let Err(e) = crate::record::verify_record(&v) {
            rejected.push(format!("line {n}: signature does not verify ({e})"));
            continue;
        }
        records += 1;
        if v["purged"].as_bool() == Some(true) {
            purged += 1;
            continue;
        }
        let data = &v["data"];
        let kind = data["type"].as_str().unwrap_or("");
        if !kind.starts_with("compare") {
            other += 1;
            continue;
        }
        let mode = data["search_mode"].as_str().unwrap_or("").to_string();
        *modes.entry(mode.clone()).or_default() += 1;
        let probe = v["station"]["probe"]["sha256"]
            .as_str()
            .map(|s| format!("sha256:{s}"))
            .unwrap_or_else(|| format!("line {n} probe"));
        let group = (!mode.is_empty()).then_some(mode);
        match v["station"]["gallery"].as_array() {
            Some(gallery) if !gallery.is_empty() => {
                for (k, g) in gallery.iter().enumerate() {
                    let b = g["sha256"]
                        .as_str()
                        .map(|s| format!("sha256:{s}"))
                        .unwrap_or_else(|| format!("line {n} gallery {k}"));
                    pairs.push(QaPair {
                        a: probe.clone(),
                        b,
                        same: None,
                        group: group.clone(),
                        group_b: None,
                        source: format!("line {n}"),
                        logged_score: g["score"].as_f64(),
                    });
                }
            }
            _ => pairs.push(QaPair {
                a: probe.clone(),
                b: format!("line {n} gallery"),
                same: None,
                group: group.clone(),
                group_b: None,
                source: format!("line {n}"),
                logged_score: data["result"]["score"].as_f64(),
            }),
        }
    }
    let mut notes = vec![format!(
        "{records} records with a valid signature; production scores are unlabelled: only their distribution and the share accepted at a threshold can be shown, not FMR or FNMR"
    )];
    if purged > 0 {
        notes.push(format!(
            "{purged} records purged by retention (tombstones): their scores are gone and not counted"
        ));
    }
    if other > 0 {
        notes.push(format!(
            "{other} records that are not compare decisions (liveness, configuration) skipped"
        ));
    }
    if !modes.is_empty() {
        notes.push(format!(
            "compare records by search mode: {}",
            modes
                .iter()
                .map(|(m, c)| format!("{} {c}", if m.is_empty() { "?" } else { m }))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Dataset {
        kind: InputKind::AuditLog,
        path: path.to_path_buf(),
        root: path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        name: name_of(path),
        sha256: sha256_hex(&bytes),
        sha256_of: "the audit log file's bytes".into(),
        pairs,
        selection: Vec::new(),
        notes,
        rejected_lines: rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_groups_and_errors() {
        let text = "\u{feff}a,b,same,group,extra\nx.jpg,y.jpg,1,g1,z\n\n\"p, q.jpg\",r.jpg,0,,z\n";
        let (pairs, notes) = parse_pairs_csv(text, None).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].groups(), Some(("g1", "g1")));
        assert_eq!(pairs[1].a, "p, q.jpg");
        assert_eq!(pairs[1].group, None);
        assert_eq!(notes, vec!["columns ignored: extra".to_string()]);
        let err = parse_pairs_csv("a,b,same\nx,y,2\n", None).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse_pairs_csv("a,b\nx,y\n", None).is_err());
        assert!(parse_pairs_csv("a,b,same\nx,y\n", None).is_err());
        let (p, _) =
            parse_pairs_csv("a,b,same,source\nx,y,1,lfw_fold01\n", Some("source")).unwrap();
        assert_eq!(p[0].group.as_deref(), Some("lfw_fold01"));
        assert!(parse_pairs_csv("a,b,same\nx,y,1\n", Some("source")).is_err());
    }

    #[test]
    fn splitmix_is_fixed() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = SplitMix64::new(7);
        assert!((0..1000).all(|_| r.below(10) < 10));
    }

    #[test]
    fn folder_pairs_and_seeded_sample() {
        let tmp = tempfile::tempdir().unwrap();
        for (id, n) in [("ann", 3), ("bob", 2), ("cy", 1)] {
            std::fs::create_dir(tmp.path().join(id)).unwrap();
            for k in 0..n {
                std::fs::write(
                    tmp.path().join(id).join(format!("{k}.jpg")),
                    format!("{id}{k}"),
                )
                .unwrap();
            }
        }
        std::fs::write(tmp.path().join("loose.jpg"), "x").unwrap();
        let all = load_folder(tmp.path(), ImpostorChoice::All).unwrap();
        let g = all.pairs.iter().filter(|p| p.same == Some(true)).count();
        let i = all.pairs.iter().filter(|p| p.same == Some(false)).count();
        // Genuine: C(3,2) + C(2,2) = 4; impostor: 3*2 + 3*1 + 2*1 = 11.
        assert_eq!((g, i), (4, 11));
        assert!(all.notes.iter().any(|n| n.contains("1 files directly")));
        let s1 = load_folder(tmp.path(), ImpostorChoice::Sample { n: 4, seed: 9 }).unwrap();
        let s2 = load_folder(tmp.path(), ImpostorChoice::Sample { n: 4, seed: 9 }).unwrap();
        assert_eq!(s1.pairs, s2.pairs);
        let imp: Vec<_> = s1.pairs.iter().filter(|p| p.same == Some(false)).collect();
        assert_eq!(imp.len(), 4);
        let distinct: HashSet<_> = imp.iter().map(|p| (&p.a, &p.b)).collect();
        assert_eq!(distinct.len(), 4);
        assert!(imp
            .iter()
            .all(|p| p.a.split('/').next() != p.b.split('/').next()));
        assert_eq!(all.sha256, s1.sha256);
        assert_eq!(
            exclusions_path(Path::new("/d/pairs.csv")),
            PathBuf::from("/d/pairs.csv.qa-exclusions.json")
        );
        assert_eq!(
            exclusions_path(Path::new("/d/faces/")),
            PathBuf::from("/d/faces.qa-exclusions.json")
        );
    }
}
