//! Image decoding with limits checked before the pixels are decoded, and EXIF orientation applied.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Input limits. The pixel limit is checked from the header alone, so a decompression bomb
/// (a small file that claims a huge image) is refused before any pixel buffer is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodeLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
    pub max_side: u32,
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 15 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_side: 12_000,
            // Below this there is no face to find; refuse instead of reporting "no face".
            min_side: 16,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("the image is empty (0 bytes)")]
    Empty,
    #[error("the image is {size} bytes, above the limit of {limit} bytes")]
    TooManyBytes { size: usize, limit: usize },
    #[error("not an image in a supported format (JPEG, PNG, WebP, BMP)")]
    UnknownFormat,
    #[error("{format} images are not supported (use JPEG, PNG, WebP or BMP)")]
    UnsupportedFormat { format: String },
    #[error("the image is {width}x{height} pixels, above the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error(
        "the image is {width}x{height} pixels, too small to hold a face (minimum side {min_side})"
    )]
    TooSmall {
        width: u32,
        height: u32,
        min_side: u32,
    },
    #[error("the image data is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Decodes JPEG, PNG, WebP or BMP bytes to upright RGB.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooManyBytes {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| DecodeError::UnknownFormat)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Bmp
    ) {
        return Err(DecodeError::UnsupportedFormat {
            format: format!("{format:?}"),
        });
    }
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(DecodeError::Corrupt(
            "the JPEG is truncated (no end-of-image marker after its last scan)".into(),
        ));
    }
    // Header only: dimensions before any pixel is decoded.
    let (width, height) = match header_dimensions(bytes, format) {
        Some(d) => d,
        None => reader(bytes, format, None)
            .into_dimensions()
            .map_err(|e| classify(e, limits))?,
    };
    check_dimensions(width, height, limits)?;
    let mut decoder = reader(bytes, format, Some(limits))
        .into_decoder()
        .map_err(|e| classify(e, limits))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, limits))?;
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

/// Reads the dimensions straight from the header bytes (PNG IHDR, BMP info header, JPEG SOF), so
/// a file that claims a huge image is refused even when the rest of it is garbage.
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let le32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match format {
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Bmp => Some((le32(18)?.unsigned_abs(), le32(22)?.unsigned_abs())),
        ImageFormat::Jpeg => {
            let mut i = 2;
            while i + 9 < bytes.len() {
                if bytes[i] != 0xFF {
                    return None;
                }
                let marker = bytes[i + 1];
                if marker == 0xFF {
                    i += 1;
                    continue;
                }
                let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
                // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
                if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                    let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]);
                    let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]);
                    return Some((u32::from(w), u32::from(h)));
                }
                i += 2 + len;
            }
            None
        }
        _ => None,
    }
}

/// A JPEG whose last scan (SOS, FF DA) is not followed by an end-of-image marker (FF D9) was cut
/// short; decoders would silently paint the missing part grey. Inside entropy-coded data FF is
/// always followed by 00 or a restart marker, so FF D9 after the last SOS is the real end.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(pos) => bytes[pos..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

fn reader<'a>(
    data: &'a [u8],
    format: ImageFormat,
    limits: Option<&DecodeLimits>,
) -> ImageReader<Cursor<&'a [u8]>> {
    let mut r = ImageReader::with_format(Cursor::new(data), format);
    match limits {
        // Header only: no pixel buffer is allocated, so the real dimensions can be reported.
        None => r.no_limits(),
        Some(limits) => {
            let mut l = Limits::default();
            l.max_image_width = Some(limits.max_side);
            l.max_image_height = Some(limits.max_side);
            // 4 bytes a pixel covers RGBA decoders; a little slack for their working buffers.
            l.max_alloc = Some(limits.max_pixels.saturating_mul(4) + (64 << 20));
            r.limits(l);
        }
    }
    r
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    if width < limits.min_side || height < limits.min_side {
        return Err(DecodeError::TooSmall {
            width,
            height,
            min_side: limits.min_side,
        });
    }
    Ok(())
}

fn classify(e: image::ImageError, limits: &DecodeLimits) -> DecodeError {
    match e {
        image::ImageError::Limits(_) => DecodeError::TooManyPixels {
            width: 0,
            height: 0,
            limit: limits.max_pixels,
        },
        image::ImageError::Unsupported(u) => DecodeError::UnsupportedFormat {
            format: u.to_string(),
        },
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn decodes_each_supported_format() {
        let img = gradient(40, 30);
        for f in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Bmp,
            ImageFormat::WebP,
        ] {
            let out = decode_image(&encode(&img, f), &DecodeLimits::default()).expect("decode");
            assert_eq!(out.dimensions(), (40, 30), "{f:?}");
        }
    }

    #[test]
    fn refuses_empty_text_and_truncated_input() {
        let l = DecodeLimits::default();
        assert_eq!(decode_image(b"", &l), Err(DecodeError::Empty));
        assert_eq!(
            decode_image(b"hello, I am a text file", &l),
            Err(DecodeError::UnknownFormat)
        );
        let jpeg = encode(&gradient(64, 64), ImageFormat::Jpeg);
        let cut = &jpeg[..jpeg.len() / 2];
        assert!(matches!(
            decode_image(cut, &l),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn refuses_oversize_bytes_and_pixels_from_the_header() {
        let l = DecodeLimits {
            max_bytes: 100,
            ..DecodeLimits::default()
        };
        let png = encode(&gradient(64, 64), ImageFormat::Png);
        assert!(matches!(
            decode_image(&png, &l),
            Err(DecodeError::TooManyBytes { .. })
        ));
        // A PNG header claiming 30000x30000: refused from the header alone.
        let bomb = png_header(30_000, 30_000);
        assert!(matches!(
            decode_image(&bomb, &DecodeLimits::default()),
            Err(DecodeError::TooManyPixels {
                width: 30_000,
                height: 30_000,
                ..
            })
        ));
    }

    #[test]
    fn header_dimensions_match_the_decoders() {
        let img = gradient(37, 23);
        for f in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Bmp] {
            assert_eq!(
                header_dimensions(&encode(&img, f), f),
                Some((37, 23)),
                "{f:?}"
            );
        }
        let mut bomb = png_header(30_000, 30_000);
        bomb.truncate(33);
        bomb.extend_from_slice(&[0u8; 64]);
        assert!(matches!(
            decode_image(&bomb, &DecodeLimits::default()),
            Err(DecodeError::TooManyPixels { width: 30_000, .. })
        ));
    }

    #[test]
    fn refuses_a_one_pixel_image() {
        let png = encode(&gradient(1, 1), ImageFormat::Png);
        assert!(matches!(
            decode_image(&png, &DecodeLimits::default()),
            Err(DecodeError::TooSmall { .. })
        ));
    }

    #[test]
    fn applies_exif_orientation() {
        // A 40x20 JPEG tagged "rotate 90 CW" (orientation 6) must come out 20x40.
        let jpeg = encode(&gradient(40, 20), ImageFormat::Jpeg);
        let tagged = insert_exif_orientation(&jpeg, 6);
        let out = decode_image(&tagged, &DecodeLimits::default()).expect("decode");
        assert_eq!(out.dimensions(), (20, 40));
    }

    /// A valid PNG signature + IHDR for the given size, followed by nothing.
    pub(crate) fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(b"IHDR");
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        v.extend_from_slice(&13u32.to_be_bytes());
        v.extend_from_slice(&ihdr);
        v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        // A tiny IDAT (a stored zlib block holding one zero byte) and IEND: a well-formed file
        // whose header claims far more pixels than its data holds.
        let zlib = [
            0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x01,
        ];
        for (name, body) in [(&b"IDAT"[..], &zlib[..]), (&b"IEND"[..], &[][..])] {
            let mut chunk = name.to_vec();
            chunk.extend_from_slice(body);
            v.extend_from_slice(&(body.len() as u32).to_be_bytes());
            v.extend_from_slice(&chunk);
            v.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        v
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// Inserts an APP1 Exif segment with one Orientation tag right after SOI.
    fn insert_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big endian, IFD at 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}
