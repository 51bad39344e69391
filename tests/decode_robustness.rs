//! `decode_image` against hostile input: a corpus of the probe's cases (each with its specific
//! error), real JPEGs from `../shared/data` (all accepted; cut ones refused), and property tests
//! over arbitrary and mutated files asserting no panic, bounded time, and no allocation or image
//! beyond the limits. `PROPTEST_CASES` sets the cases per property (default 256).
//!
//! Its own test binary (not a module of `tests/integration`) because it installs a counting
//! global allocator, which must not sit under every other test.

#[path = "integration/common.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use facestation::vision::{decode_image, DecodeError, DecodeLimits};
use image::{DynamicImage, ImageFormat, RgbImage};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// The largest single allocation made by this thread while `measure` runs: a decoder that trusts
// a lying header allocates for the lie, so this catches what the returned size alone cannot.

struct PeakAlloc;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: the allocator also runs while thread-locals are torn down.
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
        }
    });
}

unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

struct Measured {
    result: Result<RgbImage, DecodeError>,
    elapsed: Duration,
    peak_alloc: usize,
}

fn measure(bytes: &[u8], limits: &DecodeLimits) -> Measured {
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let start = Instant::now();
    let result = decode_image(bytes, limits);
    let elapsed = start.elapsed();
    TRACKING.with(|t| t.set(false));
    Measured {
        result,
        elapsed,
        peak_alloc: PEAK.with(Cell::get),
    }
}

// ---------------------------------------------------------------------------------------------
// Files built in code.

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 77]))
}

/// Deterministic busy pixels, so a JPEG's scan data dominates its headers.
fn noise(w: u32, h: u32) -> RgbImage {
    let mut state = 0x9E37_79B9u32;
    RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state & 0x3F) as u8;
        image::Rgb([(x as u8).wrapping_add(n), (y as u8) ^ n, n.wrapping_mul(3)])
    })
}

fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = b"WEBP".to_vec();
    for (name, data) in chunks {
        body.extend_from_slice(&name[..]);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(&body);
    v
}

fn vp8x(flags: u8, w: u32, h: u32) -> Vec<u8> {
    let mut d = vec![flags, 0, 0, 0];
    d.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    d.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    d
}

/// The VP8L chunk payload of a real lossless WebP.
fn vp8l_payload(img: &RgbImage) -> Vec<u8> {
    let webp = encode(img, ImageFormat::WebP);
    assert_eq!(&webp[12..16], b"VP8L", "image writes simple lossless WebP");
    webp[20..].to_vec()
}

fn with_vp8l_size(mut payload: Vec<u8>, w: u32, h: u32) -> Vec<u8> {
    let bits = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]);
    let bits = (bits & !0x0FFF_FFFF) | (w - 1) | ((h - 1) << 14);
    payload[1..5].copy_from_slice(&bits.to_le_bytes());
    payload
}

fn vp8_keyframe(w: u16, h: u16, payload: usize) -> Vec<u8> {
    let mut d = vec![0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a];
    d.extend_from_slice(&w.to_le_bytes());
    d.extend_from_slice(&h.to_le_bytes());
    d.resize(10 + payload, 0);
    d
}

fn os2_bmp(img: &RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let row = (w as usize * 3).div_ceil(4) * 4;
    let mut v = b"BM".to_vec();
    v.extend_from_slice(&((26 + row * h as usize) as u32).to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&26u32.to_le_bytes());
    v.extend_from_slice(&12u32.to_le_bytes());
    v.extend_from_slice(&(w as u16).to_le_bytes());
    v.extend_from_slice(&(h as u16).to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&24u16.to_le_bytes());
    for y in (0..h).rev() {
        let start = v.len();
        for x in 0..w {
            let p = img.get_pixel(x, y);
            v.extend_from_slice(&[p[2], p[1], p[0]]);
        }
        v.resize(start + row, 0);
    }
    v
}

fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = encode(&gradient(16, 16), ImageFormat::Png);
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    png
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFF, marker];
    v.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn dht(class_id: u8, counts: &[u8; 16], values: &[u8]) -> Vec<u8> {
    let mut body = vec![class_id];
    body.extend_from_slice(counts);
    body.extend_from_slice(values);
    segment(0xC4, &body)
}

/// A hand-made progressive JPEG: 16x16 grey, four blocks, scans DC first (Al=1), AC first
/// (Al=1, one nonzero coefficient a block), DC refinement, AC refinement, then `extra_refines`
/// more AC refinement scans. Small enough to check byte by byte, and it decodes.
fn progressive_jpeg(extra_refines: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    let mut dqt = vec![0u8];
    dqt.extend_from_slice(&[1u8; 64]);
    v.extend(segment(0xDB, &dqt));
    v.extend(segment(0xC2, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]));
    // DC: one 1-bit code '0' for category 0. AC: 2-bit codes 00 = EOB, 01 = run 0 size 1, 10 = ZRL.
    let mut dc_counts = [0u8; 16];
    dc_counts[0] = 1;
    v.extend(dht(0x00, &dc_counts, &[0]));
    let mut ac_counts = [0u8; 16];
    ac_counts[1] = 3;
    v.extend(dht(0x10, &ac_counts, &[0x00, 0x01, 0xF0]));
    let sos = |ss: u8, se: u8, ahal: u8| segment(0xDA, &[1, 1, 0x00, ss, se, ahal]);
    // DC first: four '0' bits, padded with ones.
    v.extend(sos(0, 0, 0x01));
    v.push(0x0F);
    // AC first: per block '01' + one value bit '1' + EOB '00'.
    v.extend(sos(1, 63, 0x01));
    v.extend_from_slice(&[0x63, 0x18, 0xCF]);
    // DC refinement: one bit a block.
    v.extend(sos(0, 0, 0x10));
    v.push(0x0F);
    // AC refinement: per block EOB '00' + the correction bit of its one nonzero coefficient.
    for _ in 0..1 + extra_refines {
        v.extend(sos(1, 63, 0x10));
        v.extend_from_slice(&[0x00, 0x0F]);
    }
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn cut_with_eoi(bytes: &[u8], keep: usize) -> Vec<u8> {
    let mut v = bytes[..keep].to_vec();
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

// ---------------------------------------------------------------------------------------------
// The corpus.

type Check = fn(&Result<RgbImage, DecodeError>) -> bool;

fn corpus() -> Vec<(&'static str, Vec<u8>, Check, &'static str)> {
    let jpeg = encode(&noise(256, 256), ImageFormat::Jpeg);
    let lossless = vp8l_payload(&gradient(200, 200));
    let two_sofs = {
        // A second SOF after the first: decoders disagree on which one wins.
        let sof = segment(0xC0, &[8, 0x10, 0, 0x10, 0, 1, 1, 0x11, 0]);
        let mut v = jpeg[..2].to_vec();
        v.extend_from_slice(&sof);
        v.extend_from_slice(&jpeg[2..]);
        v
    };
    let sof_marker_at = |jpeg: &[u8]| {
        jpeg.windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("baseline SOF")
    };
    let lossless_jpeg = {
        let mut v = jpeg.clone();
        let at = sof_marker_at(&v);
        v[at + 1] = 0xC3;
        v
    };
    let dnl_height = {
        let mut v = jpeg.clone();
        let at = sof_marker_at(&v);
        v[at + 5..at + 7].copy_from_slice(&[0, 0]);
        v
    };
    let missing_table = {
        // The scan names DC table 2, which no DHT defines (and Annex K has no default for).
        let mut v = jpeg.clone();
        let sos = v.windows(2).rposition(|w| w == [0xFF, 0xDA]).expect("SOS");
        v[sos + 6] = 0x20 | (v[sos + 6] & 0x0F);
        v
    };
    let bad_huffman = {
        // Three 1-bit codes cannot exist.
        let mut counts = [0u8; 16];
        counts[0] = 3;
        let mut v = jpeg[..2].to_vec();
        v.extend(dht(0x00, &counts, &[0, 1, 2]));
        v.extend_from_slice(&jpeg[2..]);
        v
    };
    let os2 = os2_bmp(&gradient(40, 30));
    let os2_v2 = {
        let mut v = os2.clone();
        v[14..18].copy_from_slice(&64u32.to_le_bytes());
        v.resize(14 + 64 + 40 * 30 * 3, 0);
        v
    };
    let negative_width_bmp = {
        let mut v = encode(&gradient(20, 20), ImageFormat::Bmp);
        v[18..22].copy_from_slice(&(-20i32).to_le_bytes());
        v
    };
    let png_without_ihdr = {
        let mut v = encode(&gradient(20, 20), ImageFormat::Png);
        v[12..16].copy_from_slice(b"tEXt");
        v
    };
    let animated = {
        let mut anmf = vec![0u8; 6];
        anmf.extend_from_slice(&[199, 0, 0, 199, 0, 0, 100, 0, 0, 0]);
        anmf.extend_from_slice(b"VP8L");
        anmf.extend_from_slice(&(lossless.len() as u32).to_le_bytes());
        anmf.extend_from_slice(&lossless);
        riff(&[
            (b"VP8X", &vp8x(0x02, 200, 200)),
            (b"ANIM", &[0; 6]),
            (b"ANMF", &anmf),
        ])
    };
    let webp_cut = {
        let v = riff(&[(b"VP8L", &lossless)]);
        v[..v.len() / 2].to_vec()
    };
    let two_bitstreams = riff(&[
        (b"VP8X", &vp8x(0, 200, 200)),
        (b"VP8L", &lossless),
        (b"VP8L", &with_vp8l_size(lossless.clone(), 3000, 3000)),
    ]);
    let gif = {
        let mut v = b"GIF89a".to_vec();
        v.extend_from_slice(&[10, 0, 10, 0, 0, 0, 0, 0x3B]);
        v
    };
    let prog = progressive_jpeg(0);
    vec![
        (
            "WebP: VP8X canvas 200x200 over a VP8 frame of 16383x16383",
            riff(&[
                (b"VP8X", &vp8x(0, 200, 200)),
                (b"VP8 ", &vp8_keyframe(16383, 16383, 490_000)),
            ]),
            |r| {
                matches!(
                    r,
                    Err(DecodeError::SizeMismatch {
                        format: "WebP",
                        header_width: 200,
                        data_width: 16383,
                        data_height: 16383,
                        ..
                    })
                )
            },
            "16383x16383",
        ),
        (
            "WebP: VP8X canvas 200x200 over a VP8L frame of 16383x16383",
            riff(&[
                (b"VP8X", &vp8x(0, 200, 200)),
                (b"VP8L", &with_vp8l_size(lossless.clone(), 16383, 16383)),
            ]),
            |r| matches!(r, Err(DecodeError::SizeMismatch { .. })),
            "header says 200x200",
        ),
        (
            "WebP: VP8L header claiming 16384x16384",
            riff(&[(b"VP8L", &with_vp8l_size(lossless.clone(), 16384, 16384))]),
            |r| {
                matches!(
                    r,
                    Err(DecodeError::TooManyPixels {
                        width: 16384,
                        height: 16384,
                        ..
                    })
                )
            },
            "16384x16384",
        ),
        (
            "WebP: animation",
            animated,
            |r| {
                matches!(
                    r,
                    Err(DecodeError::UnsupportedFeature { format: "WebP", .. })
                )
            },
            "animation",
        ),
        (
            "WebP: cut in half",
            webp_cut,
            |r| matches!(r, Err(DecodeError::Truncated { format: "WebP", .. })),
            "truncated",
        ),
        (
            "WebP: two image bitstreams",
            two_bitstreams,
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "two image bitstreams",
        ),
        (
            "BMP: OS/2 1.x core header (decodes)",
            os2,
            |r| matches!(r, Ok(img) if img.dimensions() == (40, 30)),
            "",
        ),
        (
            "BMP: OS/2 2.x header",
            os2_v2,
            |r| {
                matches!(
                    r,
                    Err(DecodeError::UnsupportedFeature { format: "BMP", .. })
                )
            },
            "OS/2 2.x",
        ),
        (
            "BMP: negative width",
            negative_width_bmp,
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "negative width",
        ),
        (
            "JPEG: cut at 60 % with FF D9 appended",
            cut_with_eoi(&jpeg, jpeg.len() * 6 / 10),
            |r| matches!(r, Err(DecodeError::Truncated { format: "JPEG", .. })),
            "truncated",
        ),
        (
            "JPEG: cut at 60 %",
            jpeg[..jpeg.len() * 6 / 10].to_vec(),
            |r| matches!(r, Err(DecodeError::Truncated { format: "JPEG", .. })),
            "truncated",
        ),
        (
            "JPEG: headers only, then FF D9",
            cut_with_eoi(&jpeg, sof_marker_at(&jpeg) + 19),
            |r| matches!(r, Err(DecodeError::Truncated { .. })),
            "truncated",
        ),
        (
            "JPEG: progressive, last scan's data removed",
            {
                let mut v = prog[..prog.len() - 4].to_vec();
                v.extend_from_slice(&[0xFF, 0xD9]);
                v
            },
            |r| matches!(r, Err(DecodeError::Truncated { format: "JPEG", .. })),
            "scan 4 holds 0 of its 4 MCUs",
        ),
        (
            "JPEG: progressive, 101 scans",
            progressive_jpeg(97),
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "more than 100 scans",
        ),
        (
            "JPEG: two frame headers",
            two_sofs,
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "two frame headers",
        ),
        (
            "JPEG: lossless (SOF3)",
            lossless_jpeg,
            |r| {
                matches!(
                    r,
                    Err(DecodeError::UnsupportedFeature { format: "JPEG", .. })
                )
            },
            "lossless",
        ),
        (
            "JPEG: height 0 (DNL)",
            dnl_height,
            |r| {
                matches!(
                    r,
                    Err(DecodeError::UnsupportedFeature { format: "JPEG", .. })
                )
            },
            "DNL",
        ),
        (
            "JPEG: scan using an undefined Huffman table",
            missing_table,
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "never defines",
        ),
        (
            "JPEG: invalid Huffman table",
            bad_huffman,
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "not a valid prefix code",
        ),
        (
            "PNG: IHDR claiming 30000x30000",
            png_claiming(30_000, 30_000),
            |r| {
                matches!(
                    r,
                    Err(DecodeError::TooManyPixels {
                        width: 30_000,
                        height: 30_000,
                        ..
                    })
                )
            },
            "30000x30000",
        ),
        (
            "PNG: first chunk not IHDR",
            png_without_ihdr,
            |r| matches!(r, Err(DecodeError::Corrupt(_))),
            "IHDR",
        ),
        (
            "1x1 PNG",
            encode(&gradient(1, 1), ImageFormat::Png),
            |r| matches!(r, Err(DecodeError::TooSmall { .. })),
            "too small",
        ),
        (
            "empty",
            Vec::new(),
            |r| matches!(r, Err(DecodeError::Empty)),
            "empty",
        ),
        (
            "text",
            b"hello, I am a text file".to_vec(),
            |r| matches!(r, Err(DecodeError::UnknownFormat)),
            "not an image",
        ),
        (
            "GIF",
            gif,
            |r| matches!(r, Err(DecodeError::UnsupportedFormat { .. })),
            "Gif",
        ),
        (
            "16 MB of FF",
            vec![0xFF; 16 * 1024 * 1024],
            |r| matches!(r, Err(DecodeError::TooManyBytes { .. })),
            "bytes",
        ),
    ]
}

#[test]
fn each_hostile_file_gets_its_specific_error() {
    let limits = DecodeLimits::default();
    let cases = corpus();
    assert!(cases.len() >= 25);
    for (name, bytes, check, words) in cases {
        let m = measure(&bytes, &limits);
        let shown = match &m.result {
            Ok(img) => format!("Ok({}x{})", img.width(), img.height()),
            Err(e) => format!("{e:?}: {e}"),
        };
        assert!(check(&m.result), "{name}: got {shown}");
        if let Err(e) = &m.result {
            assert!(
                e.to_string().contains(words),
                "{name}: `{e}` lacks `{words}`"
            );
        }
        // Everything here is refused (or decoded) from a few header bytes or one cheap walk.
        assert!(
            m.elapsed < Duration::from_millis(200),
            "{name}: took {:?}",
            m.elapsed
        );
        assert!(
            m.peak_alloc < 16 << 20,
            "{name}: allocated {} bytes at once",
            m.peak_alloc
        );
    }
}

#[test]
fn the_lying_webp_is_refused_fast_and_without_allocating_for_its_frame() {
    // The probe's file: 0.49 MB, a 200x200 canvas, a 16383x16383 VP8 frame (~420 MB, 2.5 s to
    // decode before the fix).
    let file = riff(&[
        (b"VP8X", &vp8x(0, 200, 200)),
        (b"VP8 ", &vp8_keyframe(16383, 16383, 490_000)),
    ]);
    assert!(file.len() > 480_000);
    let m = measure(&file, &DecodeLimits::default());
    eprintln!(
        "lying WebP ({} bytes): {:?} in {:?}, largest allocation {} bytes",
        file.len(),
        m.result.as_ref().err(),
        m.elapsed,
        m.peak_alloc
    );
    assert!(matches!(m.result, Err(DecodeError::SizeMismatch { .. })));
    assert!(m.elapsed < Duration::from_millis(200), "{:?}", m.elapsed);
    assert!(m.peak_alloc < 1 << 20, "{} bytes", m.peak_alloc);
}

#[test]
fn a_hand_made_progressive_jpeg_decodes_and_its_cuts_do_not() {
    let prog = progressive_jpeg(0);
    let img = decode_image(&prog, &DecodeLimits::default()).expect("progressive JPEG");
    assert_eq!(img.dimensions(), (16, 16));
    // Where each scan's entropy-coded data lies: after its SOS segment, up to the next marker.
    let mut data = Vec::new();
    for sos in (0..prog.len() - 1).filter(|&i| prog[i..].starts_with(&[0xFF, 0xDA])) {
        let start = sos + 2 + usize::from(u16::from_be_bytes([prog[sos + 2], prog[sos + 3]]));
        let end = start
            + prog[start..]
                .iter()
                .position(|&b| b == 0xFF)
                .expect("marker");
        data.push(start..end);
    }
    assert_eq!(data.len(), 4);
    // Every cut from the first scan on, given back its EOI, is refused: as truncated when it
    // falls in (or right before) a scan's data; a cut inside a segment header may instead leave
    // the appended FF D9 as that header's fields, which is corrupt. A cut exactly between two
    // scans leaves a complete, coarser progressive image: accepted once the DC scan is whole
    // (see `jpeg::check_scans`).
    let first_sos = data[0].start - 10;
    for keep in first_sos..prog.len() - 2 {
        let r = decode_image(&cut_with_eoi(&prog, keep), &DecodeLimits::default());
        if data.iter().any(|d| d.contains(&keep)) {
            assert!(
                matches!(r, Err(DecodeError::Truncated { .. })),
                "kept {keep}: {r:?}"
            );
        } else if data.iter().any(|d| d.end == keep || d.end + 1 == keep) {
            // (Keeping the next marker's FF changes nothing: FF FF D9 is a fill byte and EOI.)
            assert!(r.is_ok() || keep == data[0].start, "kept {keep}: {r:?}");
        } else {
            assert!(
                matches!(
                    r,
                    Err(DecodeError::Truncated { .. } | DecodeError::Corrupt(_))
                ),
                "kept {keep}: {r:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real files.

fn all_jpegs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&common::data("faces"), &mut out);
    assert!(out.len() > 1000, "only {} JPEGs under faces/", out.len());
    out
}

/// (progressive, has a restart interval), from the segments before the first scan.
fn jpeg_kind(b: &[u8]) -> Option<(bool, bool)> {
    if b.get(..2) != Some(&[0xFF, 0xD8]) {
        return None; // e.g. a WebP named .jpg
    }
    let (mut i, mut progressive, mut restart) = (2, false, false);
    while i + 4 <= b.len() && b[i] == 0xFF {
        let m = b[i + 1];
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        match m {
            0xC2 => progressive = true,
            0xDD => restart = b.get(i + 4..i + 6).is_some_and(|r| r != [0, 0]),
            0xDA => break,
            _ => {}
        }
        i += 2 + len;
    }
    Some((progressive, restart))
}

/// Every progressive and restart-interval JPEG in the data, plus every 97th other one.
fn sample_jpegs() -> Vec<(PathBuf, Vec<u8>)> {
    let mut picked = Vec::new();
    let (mut progressive, mut restart) = (0, 0);
    for (i, p) in all_jpegs().into_iter().enumerate() {
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let Some((prog, rst)) = jpeg_kind(&bytes) else {
            continue;
        };
        progressive += usize::from(prog);
        restart += usize::from(rst);
        if prog || rst || i % 97 == 0 {
            picked.push((p, bytes));
        }
    }
    assert!(
        progressive >= 10 && restart >= 3,
        "the data should hold progressive ({progressive}) and restart-interval ({restart}) JPEGs"
    );
    picked
}

#[test]
fn real_jpegs_are_accepted_and_their_cuts_refused() {
    let limits = DecodeLimits::default();
    let files = sample_jpegs();
    let start = Instant::now();
    for (path, bytes) in &files {
        let name = path.display();
        let img = decode_image(bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(img.width() >= 16 && img.height() >= 16, "{name}");
        for fraction in [0.6, 0.95] {
            let keep = (bytes.len() as f64 * fraction) as usize;
            let r = decode_image(&cut_with_eoi(bytes, keep), &limits);
            assert!(
                matches!(r, Err(DecodeError::Truncated { format: "JPEG", .. })),
                "{name} cut at {fraction}: {r:?}"
            );
        }
    }
    eprintln!(
        "{} real JPEGs decoded, each also refused when cut at 60 % and 95 %, in {:?}",
        files.len(),
        start.elapsed()
    );
}

/// Every JPEG of the data set (about 4,500): run by hand with `-- --ignored` after a change to
/// the JPEG walk.
#[test]
#[ignore]
fn every_real_jpeg_is_accepted() {
    let limits = DecodeLimits::default();
    let mut failures = Vec::new();
    let files = all_jpegs();
    for p in &files {
        let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if let Err(e) = decode_image(&bytes, &limits) {
            failures.push(format!("{}: {e}", p.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    eprintln!("{} JPEGs accepted", files.len());
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Tight limits, so that mutated headers claiming large images are refused and decoding what
/// passes stays cheap.
fn fuzz_limits() -> DecodeLimits {
    DecodeLimits {
        max_bytes: 1 << 20,
        max_pixels: 1 << 20,
        max_side: 2048,
        min_side: 1,
    }
}

/// No panic (proptest fails the case on one), bounded time, no image and no allocation beyond
/// the limits. Decoders allocate up to 8 bytes a pixel (16-bit RGBA PNG) plus row buffers.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let limits = fuzz_limits();
    let m = measure(bytes, &limits);
    prop_assert!(
        m.elapsed < Duration::from_secs(2),
        "took {:?} ({} bytes)",
        m.elapsed,
        bytes.len()
    );
    let alloc_bound = 16 * limits.max_pixels as usize + (1 << 20);
    prop_assert!(
        m.peak_alloc <= alloc_bound,
        "allocated {} bytes at once (bound {alloc_bound})",
        m.peak_alloc
    );
    if let Ok(img) = &m.result {
        let (w, h) = img.dimensions();
        prop_assert!(w >= 1 && h >= 1);
        prop_assert!(w <= limits.max_side && h <= limits.max_side, "{w}x{h}");
        prop_assert!(u64::from(w) * u64::from(h) <= limits.max_pixels, "{w}x{h}");
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    /// A 16- or 32-bit field overwritten with a value that tends to matter (0, max, sizes).
    Field16(Index, u16, bool),
    Field32(Index, u32, bool),
    Truncate(Index),
    TruncateWithEoi(Index),
    Remove(Index, usize),
    Insert(Index, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let u16s = prop_oneof![
        Just(0u16),
        Just(1),
        Just(0x3FFF),
        Just(0x4000),
        Just(0x7FFF),
        Just(0xFFFF),
        any::<u16>()
    ];
    let u32s = prop_oneof![
        Just(0u32),
        Just(1),
        Just(16383),
        Just(16384),
        Just(0x7FFF_FFFF),
        Just(0xFFFF_FFFF),
        any::<u32>()
    ];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), u16s, any::<bool>()).prop_map(|(i, v, be)| Mutation::Field16(i, v, be)),
        (any::<Index>(), u32s, any::<bool>()).prop_map(|(i, v, be)| Mutation::Field32(i, v, be)),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::TruncateWithEoi),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..32)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

/// Positions favour the first 64 bytes (where the headers are) half of the time.
fn position(bytes: &[u8], index: &Index, header_bias: bool) -> usize {
    let len = if header_bias {
        bytes.len().min(64)
    } else {
        bytes.len()
    };
    index.index(len.max(1))
}

fn mutate(seed: &[u8], mutations: &[(Mutation, bool)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for (m, bias) in mutations {
        if v.is_empty() {
            break;
        }
        let at = |v: &[u8], i: &Index| position(v, i, *bias);
        match m {
            Mutation::FlipBit(i, bit) => {
                let p = at(&v, i);
                v[p] ^= 1 << bit;
            }
            Mutation::SetByte(i, b) => {
                let p = at(&v, i);
                v[p] = *b;
            }
            Mutation::Field16(i, value, be) => {
                let p = at(&v, i);
                let bytes = if *be {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                for (k, b) in bytes.iter().enumerate() {
                    if let Some(slot) = v.get_mut(p + k) {
                        *slot = *b;
                    }
                }
            }
            Mutation::Field32(i, value, be) => {
                let p = at(&v, i);
                let bytes = if *be {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                for (k, b) in bytes.iter().enumerate() {
                    if let Some(slot) = v.get_mut(p + k) {
                        *slot = *b;
                    }
                }
            }
            Mutation::Truncate(i) => {
                let p = i.index(v.len());
                v.truncate(p);
            }
            Mutation::TruncateWithEoi(i) => {
                let p = i.index(v.len());
                v.truncate(p);
                v.extend_from_slice(&[0xFF, 0xD9]);
            }
            Mutation::Remove(i, n) => {
                let p = at(&v, i);
                let end = (p + n).min(v.len());
                v.drain(p..end);
            }
            Mutation::Insert(i, bytes) => {
                let p = at(&v, i);
                v.splice(p..p, bytes.iter().copied());
            }
        }
    }
    v
}

fn mutations() -> impl Strategy<Value = Vec<(Mutation, bool)>> {
    proptest::collection::vec((mutation(), any::<bool>()), 1..6)
}

struct Seeds {
    png: Vec<u8>,
    jpeg: Vec<u8>,
    jpeg_grey: Vec<u8>,
    progressive: Vec<u8>,
    webp: Vec<u8>,
    webp_extended: Vec<u8>,
    bmp: Vec<u8>,
    os2_bmp: Vec<u8>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: std::sync::OnceLock<Seeds> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let img = noise(48, 40);
        let grey = DynamicImage::ImageRgb8(noise(40, 24)).into_luma8();
        let mut jpeg_grey = Cursor::new(Vec::new());
        grey.write_to(&mut jpeg_grey, ImageFormat::Jpeg)
            .expect("grey JPEG");
        let webp_payload = vp8l_payload(&img);
        Seeds {
            png: encode(&img, ImageFormat::Png),
            jpeg: encode(&img, ImageFormat::Jpeg),
            jpeg_grey: jpeg_grey.into_inner(),
            progressive: progressive_jpeg(1),
            webp: riff(&[(b"VP8L", &webp_payload)]),
            webp_extended: riff(&[
                (b"VP8X", &vp8x(0x10, 48, 40)),
                (b"ICCP", b"not really a profile"),
                (b"VP8L", &webp_payload),
            ]),
            bmp: encode(&img, ImageFormat::Bmp),
            os2_bmp: os2_bmp(&img),
        }
    })
}

#[test]
fn the_seeds_decode() {
    let s = seeds();
    for (name, seed) in [
        ("png", &s.png),
        ("jpeg", &s.jpeg),
        ("jpeg_grey", &s.jpeg_grey),
        ("progressive", &s.progressive),
        ("webp", &s.webp),
        ("webp_extended", &s.webp_extended),
        ("bmp", &s.bmp),
        ("os2_bmp", &s.os2_bmp),
    ] {
        decode_image(seed, &fuzz_limits()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

const MAGICS: [&[u8]; 6] = [
    &[0xFF, 0xD8, 0xFF],
    &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
    b"RIFF\x00\x01\x00\x00WEBPVP8X",
    b"RIFF\x00\x01\x00\x00WEBPVP8L",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"BM",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        // Shrinking a failure is useful but must not hold CI for long.
        max_shrink_time: 30_000,
        // Failing inputs are saved here (tests run from the crate root) and replayed first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/decode_robustness.proptest-regressions",
            ),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_behind_a_format_magic(
        magic in 0..MAGICS.len(),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = MAGICS[magic].to_vec();
        bytes.extend_from_slice(&tail);
        check(&bytes)?;
    }

    #[test]
    fn mutated_png(m in mutations()) {
        check(&mutate(&seeds().png, &m))?;
    }

    #[test]
    fn mutated_jpeg(m in mutations(), grey in any::<bool>()) {
        let s = seeds();
        check(&mutate(if grey { &s.jpeg_grey } else { &s.jpeg }, &m))?;
    }

    #[test]
    fn mutated_progressive_jpeg(m in mutations()) {
        check(&mutate(&seeds().progressive, &m))?;
    }

    #[test]
    fn mutated_webp(m in mutations(), extended in any::<bool>()) {
        let s = seeds();
        check(&mutate(if extended { &s.webp_extended } else { &s.webp }, &m))?;
    }

    #[test]
    fn mutated_bmp(m in mutations(), os2 in any::<bool>()) {
        let s = seeds();
        check(&mutate(if os2 { &s.os2_bmp } else { &s.bmp }, &m))?;
    }
}
