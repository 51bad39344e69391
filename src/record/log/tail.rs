//! Positioned reads of the log file: single bytes, the last newline before
//! a position, and the last lines of the file, scanning backwards.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Tail reads go backwards in chunks of this size, so appends cost the same
/// however long the log grows.
pub(super) const TAIL_CHUNK: u64 = 64 * 1024;

fn read_exact_at(mut file: &File, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(pos))?;
    file.read_exact(buf)
}

pub(super) fn read_byte_at(file: &File, pos: u64) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    read_exact_at(file, pos, &mut b)?;
    Ok(b[0])
}

/// Position of the last `\n` in `[0, end)`, scanning backwards.
pub(super) fn last_newline_before(file: &File, end: u64) -> std::io::Result<Option<u64>> {
    let mut pos = end;
    let mut buf = vec![0u8; TAIL_CHUNK.min(end) as usize];
    while pos > 0 {
        let chunk = TAIL_CHUNK.min(pos);
        pos -= chunk;
        let buf = &mut buf[..chunk as usize];
        read_exact_at(file, pos, buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(pos + i as u64));
        }
    }
    Ok(None)
}

/// Up to `n` last lines of `[0, end)` (oldest first, without `\n`), reading
/// only as much of the tail as needed. `[0, end)` must be empty or end with
/// a newline.
///
/// Costs O(length of those lines): a backward scan finds where they start,
/// then they are read once (a 32 MiB last line is read twice, not copied
/// chunk by chunk into an ever-growing buffer).
pub(super) fn tail_lines(file: &File, end: u64, n: usize) -> std::io::Result<Vec<Vec<u8>>> {
    if n == 0 || end == 0 {
        return Ok(Vec::new());
    }
    // The n lines start after the n-th newline before the final one.
    let mut start = 0u64;
    let mut found = 0usize;
    let mut pos = end - 1;
    let mut buf = vec![0u8; TAIL_CHUNK.min(pos) as usize];
    'scan: while pos > 0 {
        let chunk = TAIL_CHUNK.min(pos);
        let from = pos - chunk;
        let mut window = &mut buf[..chunk as usize];
        read_exact_at(file, from, window)?;
        while let Some(i) = window.iter().rposition(|&b| b == b'\n') {
            found += 1;
            if found == n {
                start = from + i as u64 + 1;
                break 'scan;
            }
            window = &mut window[..i];
        }
        pos = from;
    }
    let mut body = vec![0u8; (end - 1 - start) as usize];
    read_exact_at(file, start, &mut body)?;
    Ok(body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect())
}
