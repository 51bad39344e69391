//! A descriptor cache for evaluation only (never for live decisions): one file per stage
//! (recogniser and views, detector, face policy), one line per image keyed by the image's sha256,
//! so re-running `eval`, or evaluating another candidate on the same images, skips decode, detect
//! and embed for every image already seen.
//!
//! The file name is the sha256 of everything that changes a descriptor: the recogniser's and the
//! detector's sha256, the views, the detector settings, the face policy and this format's version.
//! A changed model or setting therefore reads a different file; nothing is ever invalidated in place.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;

/// Bumped whenever what a line means changes.
const FORMAT: &str = "facestation-eval-descriptor-cache-v1";

/// One image's entry for one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedImage {
    /// sha256 of the image file.
    pub image: String,
    /// Faces the detector found.
    pub faces: usize,
    /// The chosen face's descriptor (`None`: no face).
    pub values: Option<Vec<f32>>,
    pub raw_norm: f32,
    /// Stage times when the entry was computed (decode and detect are shared by the stages
    /// computed in the same run).
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub embed_ms: f64,
    #[serde(default)]
    pub detect_cpu_ms: f64,
    #[serde(default)]
    pub embed_cpu_ms: f64,
    /// The chosen face (box and landmarks), so a later stage need not detect again.
    #[serde(default)]
    pub face: Option<crate::vision::Face>,
}

/// What the stage's file name depends on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageKey<'a> {
    pub recogniser_sha256: &'a str,
    pub views: &'a str,
    pub detector_sha256: &'a str,
    /// Detector settings and the face policy, as text.
    pub settings: &'a str,
}

impl StageKey<'_> {
    pub fn file_name(&self) -> String {
        let text = format!(
            "{FORMAT}|{}|{}|{}|{}",
            self.recogniser_sha256, self.views, self.detector_sha256, self.settings
        );
        format!("{}.jsonl", &sha256_hex(text.as_bytes())[..32])
    }
}

/// One stage's cache: the entries read at start and a file to append new ones to.
pub struct StageCache {
    path: PathBuf,
    entries: HashMap<String, CachedImage>,
    writer: Option<BufWriter<File>>,
    /// Lines that could not be parsed (a torn last line after a crash): skipped.
    pub skipped_lines: usize,
}

impl StageCache {
    /// Opens (creating the folder) the stage's file under `dir`.
    pub fn open(dir: &Path, key: &StageKey) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(key.file_name());
        let mut entries = HashMap::new();
        let mut skipped_lines = 0;
        match File::open(&path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line?;
                    match serde_json::from_str::<CachedImage>(&line) {
                        Ok(e) => {
                            entries.insert(e.image.clone(), e);
                        }
                        Err(_) => skipped_lines += 1,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            path,
            entries,
            writer: None,
            skipped_lines,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, image_sha256: &str) -> Option<&CachedImage> {
        self.entries.get(image_sha256)
    }

    /// Adds an entry (kept in memory and appended to the file).
    pub fn put(&mut self, entry: CachedImage) -> std::io::Result<()> {
        if self.writer.is_none() {
            let torn = ends_without_newline(&self.path)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let mut w = BufWriter::new(f);
            if torn {
                // A new line starts on a fresh line even after a torn write.
                writeln!(w)?;
            }
            self.writer = Some(w);
        }
        if let Some(w) = self.writer.as_mut() {
            let line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
            writeln!(w, "{line}")?;
        }
        self.entries.insert(entry.image.clone(), entry);
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

fn ends_without_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// The default cache folder: the user's cache dir, `facestation/eval-descriptors`.
pub fn default_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("facestation").join("eval-descriptors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(image: &str) -> CachedImage {
        CachedImage {
            image: image.into(),
            faces: 1,
            values: Some(vec![0.1, -2.5e-7, 3.0]),
            raw_norm: 12.5,
            decode_ms: 1.0,
            detect_ms: 2.0,
            embed_ms: 3.0,
            detect_cpu_ms: 1.5,
            embed_cpu_ms: 2.5,
            face: None,
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_keys_separate_stages() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = StageKey {
            recogniser_sha256: "aa",
            views: "chip",
            detector_sha256: "dd",
            settings: "centre",
        };
        let other = StageKey {
            views: "chip+mirror",
            ..key.clone()
        };
        assert_ne!(key.file_name(), other.file_name());
        let mut c = StageCache::open(dir.path(), &key).expect("open");
        assert!(c.is_empty());
        c.put(entry("img1")).expect("put");
        c.flush().expect("flush");
        drop(c);
        // A torn line is skipped, not fatal.
        let path = dir.path().join(key.file_name());
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        write!(f, "{{\"image\": \"x").expect("write");
        drop(f);
        let mut c = StageCache::open(dir.path(), &key).expect("reopen");
        assert_eq!(c.get("img1"), Some(&entry("img1")));
        assert_eq!(c.skipped_lines, 1);
        c.put(entry("img2")).expect("put after a torn line");
        c.flush().expect("flush");
        let c = StageCache::open(dir.path(), &key).expect("reopen");
        assert_eq!((c.len(), c.skipped_lines), (2, 1));
        let c = StageCache::open(dir.path(), &other).expect("other stage");
        assert!(c.is_empty());
    }
}
