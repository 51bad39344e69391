//! Recovery of a damaged log tail: moving a torn or invalid last line aside
//! to `<log>.torn`, and rotating the `.torn` files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

use super::tail::tail_lines;
use super::{chain_tail, AuditLog, Recovery, RecoveryKind, TORN_FILES, TORN_FILE_CAP};
use crate::record::fsutil::{map_open_err, open_regular, private_options, sidecar};
use crate::record::{io_err, sync_parent_dir, RecordError};

impl AuditLog {
    /// `seq` of the last line in `[0, end)` if it is a record, else 0 (only
    /// used to describe a recovery).
    pub(super) fn seq_before(&self, file: &File, end: u64) -> Result<u64, RecordError> {
        let last = tail_lines(file, end, 1).map_err(io_err(&self.path))?.pop();
        Ok(last.and_then(|l| chain_tail(&l).ok()).map_or(0, |t| t.1))
    }

    /// Moves bytes `[start, len)` of the log to `<log>.torn`, followed by a
    /// newline separator, then truncates the log to `start`. The copy is
    /// synced before truncating, so the bytes are never lost.
    pub(super) fn move_aside(
        &self,
        file: &File,
        start: u64,
        len: u64,
        kind: RecoveryKind,
        after_seq: u64,
    ) -> Result<Recovery, RecordError> {
        let path = self.path.as_path();
        let torn = self.torn_path.as_path();
        self.rotate_torn()?;
        let mut opts = private_options();
        opts.append(true).create(true);
        let mut out = open_regular(torn, &opts).map_err(map_open_err(torn))?;
        let mut reader = file;
        reader.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
        let copied =
            std::io::copy(&mut reader.take(len - start), &mut out).map_err(io_err(torn))?;
        if copied != len - start {
            return Err(RecordError::CorruptLog {
                path: path.to_path_buf(),
                reason: "log shrank while moving its damaged tail aside".into(),
            });
        }
        // A piece that already ends in a newline (a whole bad line) gets
        // none more: pieces stay separated by exactly one newline.
        if kind == RecoveryKind::TornTail {
            out.write_all(b"\n").map_err(io_err(torn))?;
        }
        out.sync_data().map_err(io_err(torn))?;
        // Separate write handle: append-only handles cannot truncate on
        // every platform.
        let mut w = OpenOptions::new();
        w.write(true);
        let w = open_regular(path, &w).map_err(map_open_err(path))?;
        w.set_len(start)
            .and_then(|()| w.sync_all())
            .map_err(io_err(path))?;
        let bytes = match kind {
            RecoveryKind::TornTail => len - start,
            // Without its newline, as for a torn tail.
            RecoveryKind::InvalidLastLine { .. } => len - start - 1,
        };
        Ok(Recovery {
            kind,
            log: path.to_path_buf(),
            after_seq,
            bytes,
            moved_to: torn.to_path_buf(),
        })
    }

    /// Rotates `<log>.torn` once it reached [`TORN_FILE_CAP`]: `.torn.2` ->
    /// `.torn.3` (dropping the old `.torn.3`), ..., `.torn` -> `.torn.1`.
    fn rotate_torn(&self) -> Result<(), RecordError> {
        let torn = self.torn_path.as_path();
        match std::fs::metadata(torn) {
            Ok(m) if m.len() < TORN_FILE_CAP => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(torn)(e)),
        }
        let numbered = |i: usize| sidecar(torn, &format!(".{i}"));
        for i in (1..TORN_FILES).rev() {
            let from = if i == 1 {
                torn.to_path_buf()
            } else {
                numbered(i - 1)
            };
            match std::fs::rename(&from, numbered(i)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&from)(e)),
            }
        }
        sync_parent_dir(torn);
        Ok(())
    }
}
