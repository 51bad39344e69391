//! Opening the station's files only when they are regular files, and
//! replacing files atomically.
//!
//! A key or log path that names a FIFO would block `open` forever (reading
//! waits for a writer) and a device could be read or written by mistake, so
//! every file of this module is opened with `O_NONBLOCK | O_NOCTTY` and its
//! type checked on the opened handle (race-free: the file checked is the
//! file used) before anything is read or written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{io_err, sync_parent_dir, RecordError};

/// What a non-regular file type is, for the operator.
fn describe(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn not_regular(path: &Path, ft: std::fs::FileType) -> RecordError {
    RecordError::NotRegularFile {
        path: path.to_path_buf(),
        kind: describe(ft),
    }
}

/// Refuses `path` early, with a clear error, if it exists and is not a
/// regular file (symlinks are followed). A missing path is fine.
pub(crate) fn refuse_non_regular(path: &Path) -> Result<(), RecordError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(not_regular(path, meta.file_type())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Opens `path` with `opts`, refusing anything but a regular file.
///
/// The path is checked first (so that no FIFO or device is even opened in
/// the common case), then the opened handle is checked again, which closes
/// the race with a path swapped in between.
pub(crate) fn open_regular(path: &Path, opts: &OpenOptions) -> std::io::Result<File> {
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                NotRegular(describe(meta.file_type())),
            ));
        }
    }
    let mut opts = opts.clone();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO returns at once instead of waiting for
        // the other end. O_NOCTTY: a terminal never becomes ours.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            NotRegular(describe(meta.file_type())),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // Regular files ignore O_NONBLOCK on Linux, but clear it anyway so the
        // handle behaves like any other on every unix.
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own, with flag arguments only.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok(file)
}

/// Marker error inside `io::Error` for a non-regular file found by
/// [`open_regular`]; [`map_open_err`] turns it into
/// [`RecordError::NotRegularFile`].
#[derive(Debug)]
struct NotRegular(&'static str);

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, not a regular file", self.0)
    }
}

impl std::error::Error for NotRegular {}

/// Maps an error of [`open_regular`] to a [`RecordError`] naming `path`.
pub(crate) fn map_open_err(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |e| {
        if let Some(NotRegular(kind)) = e.get_ref().and_then(|i| i.downcast_ref::<NotRegular>()) {
            return RecordError::NotRegularFile {
                path: path.to_path_buf(),
                kind,
            };
        }
        io_err(path)(e)
    }
}

/// Opens an existing regular file for reading.
pub(crate) fn open_read(path: &Path) -> Result<File, RecordError> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    open_regular(path, &opts).map_err(map_open_err(path))
}

/// Options that create files as 0600 on unix: the station's files reveal
/// who was verified when, or hold its key.
pub(crate) fn private_options() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// `<path><suffix>`, e.g. `audit.jsonl.torn`.
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A fresh, unguessable temp name next to `path` (same directory, so that
/// rename/link to `path` is atomic).
pub(crate) fn temp_sibling(path: &Path) -> Result<PathBuf, RecordError> {
    use rand_core::RngCore;
    let mut rnd = [0u8; 8];
    rand_core::OsRng
        .try_fill_bytes(&mut rnd)
        .map_err(|e| RecordError::Rng(e.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        hex::encode(rnd)
    )))
}

/// Writes `bytes` to a new 0600 temp file beside `path`, fsyncs it, and
/// returns the temp path (the caller renames or links it into place).
pub(crate) fn write_temp_sibling(path: &Path, bytes: &[u8]) -> Result<PathBuf, RecordError> {
    let tmp = temp_sibling(path)?;
    let mut opts = private_options();
    opts.write(true).create_new(true);
    let mut file = opts.open(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    Ok(tmp)
}

/// Replaces `path` by `bytes` atomically (temp file, fsync, rename, fsync of
/// the directory): readers see the old or the new content, never a mix.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    refuse_non_regular(path)?;
    let tmp = write_temp_sibling(path, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sync_parent_dir(path);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("cstring");
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }

    #[test]
    fn fifo_and_directory_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("pipe");
        mkfifo(&fifo);
        for (p, kind) in [
            (&fifo, "a FIFO (named pipe)"),
            (&dir.path().to_path_buf(), "a directory"),
        ] {
            match refuse_non_regular(p) {
                Err(RecordError::NotRegularFile { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("expected NotRegularFile, got {other:?}"),
            }
            match open_read(p) {
                Err(RecordError::NotRegularFile { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("expected NotRegularFile, got {other:?}"),
            }
        }
        // Read+write (as the log is opened) must not block either.
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        assert!(matches!(
            open_regular(&fifo, &opts).map_err(map_open_err(&fifo)),
            Err(RecordError::NotRegularFile { .. })
        ));
    }

    #[test]
    fn replace_atomically_swaps_content_and_keeps_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("f");
        replace_atomically(&p, b"one").expect("write");
        replace_atomically(&p, b"two").expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
