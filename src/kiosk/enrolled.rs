//! The kiosk's enrolment folder: `DIR/<id>/*.jpg|png|webp|bmp`, looked up by the identity the person
//! types or scans. The id is checked before it touches the file system: a badge reader types like a
//! keyboard, and so can an attacker.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrolledError {
    #[error("the ID is empty")]
    Empty,
    #[error("an ID has 1 to 64 letters, digits, '-', '_' or '.' (and is not '.' or '..')")]
    Invalid,
    #[error("no enrolment for this ID")]
    Unknown,
    #[error("the enrolment of this ID holds no image")]
    NoImages,
    #[error("the enrolment folder cannot be read: {0}")]
    Io(String),
}

/// Most enrolment images used for one claim (the API's gallery limit).
pub const MAX_ENROLLED_IMAGES: usize = crate::api::MAX_GALLERY;

/// Checks a typed or scanned id: trimmed, 1..=64 of `[A-Za-z0-9._-]`, never `.` or `..`.
pub fn check_id(raw: &str) -> Result<String, EnrolledError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(EnrolledError::Empty);
    }
    let ok = id.len() <= 64
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(EnrolledError::Invalid)
    }
}

/// The enrolment images of `id`, in name order (at most [`MAX_ENROLLED_IMAGES`]).
pub fn lookup(dir: &Path, raw_id: &str) -> Result<Vec<PathBuf>, EnrolledError> {
    let id = check_id(raw_id)?;
    let folder = dir.join(&id);
    let meta = std::fs::symlink_metadata(&folder).map_err(|_| EnrolledError::Unknown)?;
    if !meta.is_dir() {
        return Err(EnrolledError::Unknown);
    }
    let mut images: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(|e| EnrolledError::Io(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(
                        e.to_ascii_lowercase().as_str(),
                        "jpg" | "jpeg" | "png" | "webp" | "bmp"
                    )
                })
        })
        .collect();
    images.sort();
    images.truncate(MAX_ENROLLED_IMAGES);
    if images.is_empty() {
        return Err(EnrolledError::NoImages);
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_the_file_system() {
        assert_eq!(check_id(" A-17_x.2 "), Ok("A-17_x.2".into()));
        for bad in [
            "",
            "  ",
            "..",
            ".",
            "../etc",
            "a/b",
            "a\\b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lookup_finds_images_in_name_order_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("E123");
        std::fs::create_dir(&p).expect("mkdir");
        for f in ["b.jpg", "a.PNG", "notes.txt"] {
            std::fs::write(p.join(f), b"x").expect("write");
        }
        let found = lookup(dir.path(), "E123").expect("found");
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or(""))
            .collect();
        assert_eq!(names, ["a.PNG", "b.jpg"]);
        assert_eq!(lookup(dir.path(), "E999"), Err(EnrolledError::Unknown));
        assert_eq!(lookup(dir.path(), "../E123"), Err(EnrolledError::Invalid));
        std::fs::create_dir(dir.path().join("EMPTY")).expect("mkdir");
        assert_eq!(lookup(dir.path(), "EMPTY"), Err(EnrolledError::NoImages));
    }
}
