//! The real size of the image a file holds, read from the bytes before any decoder runs.
//!
//! Containers can say one size and carry another: a WebP's VP8X canvas is only a promise, the
//! frame's own VP8/VP8L bitstream header is what the decoder allocates for. So for each format
//! this reads the size the *decoder* will use (PNG IHDR, BMP info or core header, JPEG SOF, the
//! WebP bitstream header) and, where the container states a size too, refuses a disagreement.
//! Every read is bounds-checked: a short file is reported as truncated, never indexed past.

use image::ImageFormat;

use super::DecodeError;

/// Width and height of the image the decoder will produce (before EXIF orientation).
pub(super) fn frame_dimensions(
    bytes: &[u8],
    format: ImageFormat,
) -> Result<(u32, u32), DecodeError> {
    match format {
        ImageFormat::Png => png(bytes),
        ImageFormat::Bmp => bmp(bytes),
        ImageFormat::WebP => webp(bytes),
        ImageFormat::Jpeg => super::jpeg::frame_dimensions(bytes),
        other => Err(DecodeError::UnsupportedFormat {
            format: format!("{other:?}"),
        }),
    }
}

fn truncated(format: &'static str, detail: impl Into<String>) -> DecodeError {
    DecodeError::Truncated {
        format,
        detail: detail.into(),
    }
}

fn corrupt(format: &str, detail: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!("{format}: {detail}"))
}

fn get<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    get::<4>(bytes, at).map(u32::from_be_bytes)
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    get::<4>(bytes, at).map(u32::from_le_bytes)
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    get::<2>(bytes, at).map(u16::from_le_bytes)
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    get::<3>(bytes, at).map(|b| u32::from_le_bytes([b[0], b[1], b[2], 0]))
}

/// PNG: the IHDR chunk must come first (the spec requires it, and the decoder allocates from it).
fn png(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    const F: &str = "PNG";
    let (Some(len), Some(name)) = (be32(bytes, 8), get::<4>(bytes, 12)) else {
        return Err(truncated(
            F,
            "the file ends inside its signature or first chunk",
        ));
    };
    if &name != b"IHDR" || len != 13 {
        return Err(corrupt(F, "the first chunk is not a 13-byte IHDR header"));
    }
    let (Some(width), Some(height)) = (be32(bytes, 16), be32(bytes, 20)) else {
        return Err(truncated(F, "the file ends inside its IHDR header"));
    };
    // The spec caps both at 2^31 - 1; 0 is not an image.
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(corrupt(
            F,
            format!("IHDR declares an impossible size {width}x{height}"),
        ));
    }
    Ok((width, height))
}

/// BMP: the DIB header's size tells its layout. OS/2 1.x bitmaps use the 12-byte BITMAPCOREHEADER
/// with 16-bit unsigned width and height (reading it as the 40-byte Windows header gave nonsense
/// sizes); every Windows header (40, 52, 56, 108, 124 bytes) has 32-bit signed ones, a negative
/// height meaning top-down rows. OS/2 2.x headers (16..64 bytes) are refused by name: `image`
/// cannot decode them.
fn bmp(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    const F: &str = "BMP";
    let Some(header_size) = le32(bytes, 14) else {
        return Err(truncated(F, "the file ends inside its file header"));
    };
    // The whole DIB header must be present before any of its fields is trusted.
    let header_end = usize::try_from(header_size)
        .ok()
        .and_then(|s| s.checked_add(14));
    if header_size >= 12 && header_end.is_none_or(|end| end > bytes.len()) {
        return Err(truncated(
            F,
            format!("the file ends inside its {header_size}-byte bitmap header"),
        ));
    }
    let (width, height) = match header_size {
        12 => {
            // BITMAPCOREHEADER: u16 width, u16 height, u16 planes, u16 bits per pixel.
            let (Some(w), Some(h)) = (le16(bytes, 18), le16(bytes, 20)) else {
                return Err(truncated(F, "the file ends inside its OS/2 bitmap header"));
            };
            (u32::from(w), u32::from(h))
        }
        40 | 52 | 56 | 108 | 124 => {
            let (Some(w), Some(h)) = (le32(bytes, 18), le32(bytes, 22)) else {
                return Err(truncated(F, "the file ends inside its bitmap header"));
            };
            let (w, h) = (w as i32, h as i32);
            if w < 0 {
                return Err(corrupt(
                    F,
                    format!("the header declares a negative width {w}"),
                ));
            }
            // i32::MIN has no positive counterpart: the decoder refuses it, so do we, by name.
            if h == i32::MIN {
                return Err(corrupt(F, "the header declares an impossible height"));
            }
            (w.unsigned_abs(), h.unsigned_abs())
        }
        16..=64 => {
            return Err(DecodeError::UnsupportedFeature {
                format: F,
                feature: format!("an OS/2 2.x bitmap header ({header_size} bytes)"),
            })
        }
        s if s < 12 => {
            return Err(corrupt(F, format!("a {s}-byte bitmap header is too short")));
        }
        s => {
            return Err(DecodeError::UnsupportedFeature {
                format: F,
                feature: format!("an unknown {s}-byte bitmap header"),
            })
        }
    };
    if width == 0 || height == 0 {
        return Err(corrupt(
            F,
            format!("the header declares an empty image {width}x{height}"),
        ));
    }
    Ok((width, height))
}

/// One RIFF chunk: its FourCC and its payload (without the pad byte).
struct Chunk<'a> {
    name: [u8; 4],
    data: &'a [u8],
}

/// Iterates the chunks of `body` (the bytes after "RIFF size WEBP", cut at the RIFF size).
fn chunks(body: &[u8]) -> impl Iterator<Item = Result<Chunk<'_>, DecodeError>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= body.len() {
            return None;
        }
        let (Some(name), Some(size)) = (get::<4>(body, at), le32(body, at + 4)) else {
            at = body.len();
            return Some(Err(truncated(
                "WebP",
                "the file ends inside a chunk header",
            )));
        };
        let start = at + 8;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&end| end <= body.len());
        let Some(end) = end else {
            at = body.len();
            return Some(Err(truncated(
                "WebP",
                format!(
                    "its {} chunk says {size} bytes but only {} remain",
                    String::from_utf8_lossy(&name),
                    body.len() - start.min(body.len())
                ),
            )));
        };
        // Chunks are padded to an even size; a missing final pad byte is tolerated (the decoder
        // tolerates it too).
        at = end + (end - start) % 2;
        Some(Ok(Chunk {
            name,
            data: &body[start..end],
        }))
    })
}

/// WebP. A simple file is one VP8 (lossy) or VP8L (lossless) chunk, whose bitstream header holds
/// the size. An extended file (VP8X) states a canvas size and then carries the bitstream chunk,
/// possibly after ICCP/ALPH chunks: its real frame size is read from that chunk and must equal the
/// canvas, because the decoder decodes the whole frame before it notices a disagreement (a 200x200
/// canvas over a 16383x16383 frame cost ~420 MB and 2.5 s before this check). Animations are
/// refused: a face check wants one still photo, and each frame would be another bitstream to trust.
fn webp(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    const F: &str = "WebP";
    let (Some(riff), Some(size), Some(webp)) =
        (get::<4>(bytes, 0), le32(bytes, 4), get::<4>(bytes, 8))
    else {
        return Err(truncated(F, "the file ends inside its RIFF header"));
    };
    if &riff != b"RIFF" || &webp != b"WEBP" {
        return Err(corrupt(F, "not a RIFF/WEBP container"));
    }
    // The RIFF size counts from byte 8; a file shorter than that was cut. Bytes after it are
    // ignored, as the decoder ignores them.
    let riff_end = usize::try_from(size).ok().and_then(|s| s.checked_add(8));
    let Some(riff_end) = riff_end.filter(|&end| end <= bytes.len()) else {
        return Err(truncated(
            F,
            format!(
                "the RIFF header says {} bytes but the file has {}",
                u64::from(size) + 8,
                bytes.len()
            ),
        ));
    };
    let body = bytes.get(12..riff_end).unwrap_or_default();
    let mut iter = chunks(body);
    let first = match iter.next() {
        Some(chunk) => chunk?,
        None => {
            return Err(truncated(
                F,
                "the file holds no chunk after its RIFF header",
            ))
        }
    };
    match &first.name {
        b"VP8 " => vp8_size(first.data),
        b"VP8L" => vp8l_size(first.data),
        b"VP8X" => {
            let (Some(flags), Some(w), Some(h)) =
                (first.data.first(), le24(first.data, 4), le24(first.data, 7))
            else {
                return Err(truncated(F, "the file ends inside its VP8X header"));
            };
            // Stored minus one, 24 bits each: up to 16777216 a side.
            let (canvas_w, canvas_h) = (w + 1, h + 1);
            const ANIMATION_FLAG: u8 = 0x02;
            if flags & ANIMATION_FLAG != 0 {
                return Err(animated());
            }
            let mut frame = None;
            for chunk in iter {
                let chunk = chunk?;
                match &chunk.name {
                    b"ANIM" | b"ANMF" => return Err(animated()),
                    b"VP8 " | b"VP8L" => {
                        // The decoder takes the first one; a second would be a file that shows
                        // different images to different readers.
                        if frame.is_some() {
                            return Err(corrupt(F, "the file holds two image bitstreams"));
                        }
                        frame = Some(if &chunk.name == b"VP8 " {
                            vp8_size(chunk.data)?
                        } else {
                            vp8l_size(chunk.data)?
                        });
                    }
                    _ => {}
                }
            }
            let Some((frame_w, frame_h)) = frame else {
                return Err(corrupt(F, "the VP8X file holds no VP8 or VP8L image data"));
            };
            if (frame_w, frame_h) != (canvas_w, canvas_h) {
                return Err(DecodeError::SizeMismatch {
                    format: F,
                    header_width: canvas_w,
                    header_height: canvas_h,
                    data_width: frame_w,
                    data_height: frame_h,
                });
            }
            Ok((frame_w, frame_h))
        }
        other => Err(corrupt(
            F,
            format!(
                "the first chunk is {:?}, not VP8, VP8L or VP8X",
                String::from_utf8_lossy(other)
            ),
        )),
    }
}

fn animated() -> DecodeError {
    DecodeError::UnsupportedFeature {
        format: "WebP",
        feature: "animation".into(),
    }
}

/// VP8 key frame: a 3-byte frame tag (bit 0 clear on key frames; bits 5..23 the size of the first
/// partition), the start code 9d 01 2a, then 14-bit width and height (the top 2 bits are an
/// upscaling hint the decoder ignores).
fn vp8_size(data: &[u8]) -> Result<(u32, u32), DecodeError> {
    const F: &str = "WebP";
    let (Some(tag), Some(start), Some(w), Some(h)) = (
        le24(data, 0),
        get::<3>(data, 3),
        le16(data, 6),
        le16(data, 8),
    ) else {
        return Err(truncated(F, "the VP8 chunk ends inside its frame header"));
    };
    if tag & 1 != 0 {
        return Err(corrupt(F, "the VP8 frame is not a key frame"));
    }
    if start != [0x9d, 0x01, 0x2a] {
        return Err(corrupt(F, "the VP8 frame lacks its start code"));
    }
    let first_partition = (tag >> 5) as usize;
    if first_partition > data.len() - 10 {
        return Err(truncated(
            F,
            format!(
                "the VP8 first partition needs {first_partition} bytes, the chunk holds {}",
                data.len() - 10
            ),
        ));
    }
    let (width, height) = (u32::from(w & 0x3FFF), u32::from(h & 0x3FFF));
    if width == 0 || height == 0 {
        return Err(corrupt(F, format!("the VP8 frame is {width}x{height}")));
    }
    Ok((width, height))
}

/// VP8L: signature 0x2f, then 32 bits little endian: width - 1 (14 bits), height - 1 (14 bits),
/// alpha hint (1 bit), version (3 bits, must be 0). Up to 16384 a side, which the decoder itself
/// misreports as 0 (it masks after adding one), hence "0x0 pixels" before this parser.
fn vp8l_size(data: &[u8]) -> Result<(u32, u32), DecodeError> {
    const F: &str = "WebP";
    let (Some(&signature), Some(bits)) = (data.first(), le32(data, 1)) else {
        return Err(truncated(F, "the VP8L chunk ends inside its header"));
    };
    if signature != 0x2f {
        return Err(corrupt(F, "the VP8L bitstream lacks its signature"));
    }
    if bits >> 29 != 0 {
        return Err(corrupt(F, format!("unknown VP8L version {}", bits >> 29)));
    }
    Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8l_reads_the_full_14_bit_sizes() {
        let bits: u32 = 16383 | (16383 << 14);
        let mut data = vec![0x2f];
        data.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(vp8l_size(&data), Ok((16384, 16384)));
        let bits: u32 = 39 | (29 << 14);
        let mut data = vec![0x2f];
        data.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(vp8l_size(&data), Ok((40, 30)));
    }

    #[test]
    fn vp8_reads_the_key_frame_header() {
        // Key frame, first partition of 0 bytes, 16383x300 (with upscale bits set, ignored).
        let mut data = vec![0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a];
        data.extend_from_slice(&(16383u16 | 0xC000).to_le_bytes());
        data.extend_from_slice(&300u16.to_le_bytes());
        assert_eq!(vp8_size(&data), Ok((16383, 300)));
        data[3] = 0;
        assert!(matches!(vp8_size(&data), Err(DecodeError::Corrupt(_))));
        assert!(matches!(
            vp8_size(&data[..7]),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn bmp_core_header_is_read_as_16_bit() {
        let mut v = b"BM".to_vec();
        v.extend_from_slice(&[0u8; 12]);
        v.extend_from_slice(&12u32.to_le_bytes());
        v.extend_from_slice(&300u16.to_le_bytes());
        v.extend_from_slice(&200u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&24u16.to_le_bytes());
        assert_eq!(bmp(&v), Ok((300, 200)));
    }
}
