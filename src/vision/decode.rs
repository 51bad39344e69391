//! Image decoding with limits checked before the pixels are decoded, and EXIF orientation applied.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

mod header;
mod jpeg;

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
    /// A supported format using a feature the decoder cannot (or we will not) handle.
    #[error("{format} files with {feature} are not supported")]
    UnsupportedFeature {
        format: &'static str,
        feature: String,
    },
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
    /// The container states one size and the image data inside it another (a WebP VP8X canvas
    /// over a bigger frame): the decoder would allocate for the data, so it is refused unread.
    #[error(
        "the {format} header says {header_width}x{header_height} pixels but its image data is \
         {data_width}x{data_height}: refused before decoding"
    )]
    SizeMismatch {
        format: &'static str,
        header_width: u32,
        header_height: u32,
        data_width: u32,
        data_height: u32,
    },
    /// The data ends before the image does; decoders would fill the rest with grey.
    #[error("the {format} image is truncated: {detail}")]
    Truncated {
        format: &'static str,
        detail: String,
    },
    /// Within the size limits, but the decoder needed more memory than allowed.
    #[error("decoding this {width}x{height} image needs more memory than allowed: {detail}")]
    DecoderLimit {
        width: u32,
        height: u32,
        detail: String,
    },
    #[error("the image data is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Decodes JPEG, PNG, WebP or BMP bytes to upright RGB.
///
/// Before any decoder runs, the real size of the image is read from the bytes the decoder will
/// use (the frame's own bitstream header, cross-checked with its container) and checked against
/// `limits`; a JPEG's scans are walked to make sure their data is all there.
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
    let (width, height) = header::frame_dimensions(bytes, format)?;
    check_dimensions(width, height, limits)?;
    if format == ImageFormat::Jpeg {
        // After the size check: the walk keeps one bit per coefficient for progressive files.
        jpeg::check_scans(bytes)?;
    }
    let mut decoder = reader(bytes, format, limits)
        .into_decoder()
        .map_err(|e| classify(e, (width, height)))?;
    // Our parser and the decoder must agree on what they read; if they do not, the checks
    // above were about some other image than the one about to be decoded.
    let (dw, dh) = decoder.dimensions();
    if (dw, dh) != (width, height) {
        return Err(DecodeError::SizeMismatch {
            format: format_name(format),
            header_width: width,
            header_height: height,
            data_width: dw,
            data_height: dh,
        });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, (width, height)))?;
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        _ => "image",
    }
}

/// The size the header parser reads, `None` when it refuses the file (kept for the tests that
/// compare it with the decoders).
#[cfg(test)]
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    header::frame_dimensions(bytes, format).ok()
}

fn reader<'a>(
    data: &'a [u8],
    format: ImageFormat,
    limits: &DecodeLimits,
) -> ImageReader<Cursor<&'a [u8]>> {
    let mut r = ImageReader::with_format(Cursor::new(data), format);
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // 4 bytes a pixel covers RGBA decoders; a little slack for their working buffers.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(4) + (64 << 20));
    r.limits(l);
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

/// Maps a decoder error. The size is the one already read from the header (the decoder's
/// limit errors carry none, which used to be reported as "0x0 pixels").
fn classify(e: image::ImageError, (width, height): (u32, u32)) -> DecodeError {
    match e {
        image::ImageError::Limits(l) => DecodeError::DecoderLimit {
            width,
            height,
            detail: l.to_string(),
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
            Err(DecodeError::Truncated { format: "JPEG", .. })
        ));
    }

    /// A deterministic busy image: its JPEG has far more scan data than headers.
    fn noise(w: u32, h: u32) -> RgbImage {
        let mut state = 0x2545_F491u32;
        RgbImage::from_fn(w, h, |x, y| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = (state & 0x3F) as u8;
            image::Rgb([(x as u8).wrapping_add(n), (y as u8) ^ n, n.wrapping_mul(3)])
        })
    }

    #[test]
    fn refuses_a_truncated_jpeg_given_back_its_end_marker() {
        // The probe's case: cut at 60 %, FF D9 appended. The old check (an EOI after the last
        // SOS) passed it and the decoder filled the missing 40 % with grey.
        let jpeg = encode(&noise(256, 256), ImageFormat::Jpeg);
        let mut cut = jpeg[..jpeg.len() * 6 / 10].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        let err = decode_image(&cut, &DecodeLimits::default()).expect_err("truncated");
        assert!(
            matches!(err, DecodeError::Truncated { format: "JPEG", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        // The whole file still decodes, and so does one with bytes after its end marker.
        assert!(decode_image(&jpeg, &DecodeLimits::default()).is_ok());
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"trailing bytes after EOI");
        assert!(decode_image(&trailing, &DecodeLimits::default()).is_ok());
    }

    #[test]
    fn refuses_a_jpeg_whose_scans_miss_only_their_last_bytes() {
        // Cut anywhere in the scan data, even a few bytes before the end: always caught.
        let jpeg = encode(&noise(64, 48), ImageFormat::Jpeg);
        for keep in [jpeg.len() - 40, jpeg.len() - 12, jpeg.len() - 4] {
            let mut cut = jpeg[..keep].to_vec();
            cut.extend_from_slice(&[0xFF, 0xD9]);
            assert!(
                matches!(
                    decode_image(&cut, &DecodeLimits::default()),
                    Err(DecodeError::Truncated { .. })
                ),
                "kept {keep} of {}",
                jpeg.len()
            );
        }
    }

    #[test]
    fn header_dimensions_read_the_jpeg_frame_not_an_exif_thumbnail() {
        // An APP1 segment holding a whole other JPEG (a thumbnail) is skipped by length.
        let thumb = encode(&gradient(20, 20), ImageFormat::Jpeg);
        let jpeg = encode(&gradient(70, 50), ImageFormat::Jpeg);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&thumb);
        let mut v = jpeg[..2].to_vec();
        v.extend_from_slice(&[0xFF, 0xE1]);
        v.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(&app1);
        v.extend_from_slice(&jpeg[2..]);
        assert_eq!(header_dimensions(&v, ImageFormat::Jpeg), Some((70, 50)));
        let out = decode_image(&v, &DecodeLimits::default()).expect("decode");
        assert_eq!(out.dimensions(), (70, 50));
    }

    /// A RIFF/WEBP file of the given chunks (padded to even sizes, as the format requires).
    pub(crate) fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
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

    /// The VP8L chunk of a real lossless WebP made by `image`, with its header's size rewritten.
    fn vp8l_claiming(w: u32, h: u32) -> Vec<u8> {
        let webp = encode(&gradient(200, 200), ImageFormat::WebP);
        assert_eq!(&webp[12..16], b"VP8L");
        let mut data = webp[20..].to_vec();
        let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
        let bits = (bits & !0x0FFF_FFFF) | (w - 1) | ((h - 1) << 14);
        data[1..5].copy_from_slice(&bits.to_le_bytes());
        data
    }

    /// A VP8 key frame header claiming w x h, followed by `payload` bytes of zeros.
    fn vp8_claiming(w: u16, h: u16, payload: usize) -> Vec<u8> {
        let mut d = vec![0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a];
        d.extend_from_slice(&w.to_le_bytes());
        d.extend_from_slice(&h.to_le_bytes());
        d.resize(10 + payload, 0);
        d
    }

    #[test]
    fn refuses_a_webp_whose_canvas_hides_a_bigger_frame() {
        // The probe's file: a VP8X canvas of 200x200 over a 16383x16383 frame. It passed the
        // 40 MP check on the canvas, then decoding cost ~420 MB and 2.5 s. Refused from the
        // bitstream header, before any decoder runs, with both sizes in the message.
        let lossless = riff(&[
            (b"VP8X", &vp8x(0, 200, 200)),
            (b"VP8L", &vp8l_claiming(16383, 16383)),
        ]);
        let lossy = riff(&[
            (b"VP8X", &vp8x(0, 200, 200)),
            (b"VP8 ", &vp8_claiming(16383, 16383, 490_000)),
        ]);
        for (name, file) in [("VP8L", lossless), ("VP8", lossy)] {
            let start = std::time::Instant::now();
            let err = decode_image(&file, &DecodeLimits::default()).expect_err(name);
            let elapsed = start.elapsed();
            assert_eq!(
                err,
                DecodeError::SizeMismatch {
                    format: "WebP",
                    header_width: 200,
                    header_height: 200,
                    data_width: 16383,
                    data_height: 16383,
                },
                "{name}"
            );
            assert!(err.to_string().contains("16383x16383"), "{err}");
            assert!(
                elapsed < std::time::Duration::from_millis(200),
                "{name}: refused in {elapsed:?}, want < 200 ms"
            );
            eprintln!("lying {name} WebP refused in {elapsed:?}");
        }
        // Each frame kind agreeing with its canvas still decodes.
        let real = encode(&gradient(200, 200), ImageFormat::WebP);
        let extended = riff(&[(b"VP8X", &vp8x(0, 200, 200)), (b"VP8L", &real[20..])]);
        let out = decode_image(&extended, &DecodeLimits::default()).expect("VP8X still image");
        assert_eq!(out.dimensions(), (200, 200));
    }

    #[test]
    fn reports_the_real_size_a_vp8l_header_claims() {
        // 14 bits of width - 1: 16384 a side. The decoder itself computes 0 (it masks after
        // adding one), which was reported as "0x0 pixels".
        let file = riff(&[(b"VP8L", &vp8l_claiming(16384, 16384))]);
        let err = decode_image(&file, &DecodeLimits::default()).expect_err("too big");
        assert_eq!(
            err,
            DecodeError::TooManyPixels {
                width: 16384,
                height: 16384,
                limit: DecodeLimits::default().max_pixels
            }
        );
        assert!(err.to_string().contains("16384x16384"), "{err}");
        // And a lossy key frame header too.
        let file = riff(&[(b"VP8 ", &vp8_claiming(16383, 9000, 64))]);
        assert!(matches!(
            decode_image(&file, &DecodeLimits::default()),
            Err(DecodeError::TooManyPixels {
                width: 16383,
                height: 9000,
                ..
            })
        ));
    }

    #[test]
    fn refuses_animated_webp_by_name() {
        let real = encode(&gradient(40, 40), ImageFormat::WebP);
        let frame = &real[12..]; // the VP8L chunk, header and all, as ANMF's payload
        let mut anmf = vec![0u8; 6];
        anmf.extend_from_slice(&39u32.to_le_bytes()[..3]);
        anmf.extend_from_slice(&39u32.to_le_bytes()[..3]);
        anmf.extend_from_slice(&[100, 0, 0, 0]);
        anmf.extend_from_slice(frame);
        for flags in [0x02, 0x00] {
            let file = riff(&[
                (b"VP8X", &vp8x(flags, 40, 40)),
                (b"ANIM", &[0, 0, 0, 0, 0, 0]),
                (b"ANMF", &anmf),
            ]);
            let err = decode_image(&file, &DecodeLimits::default()).expect_err("animated");
            assert_eq!(
                err,
                DecodeError::UnsupportedFeature {
                    format: "WebP",
                    feature: "animation".into()
                }
            );
        }
    }

    /// An OS/2 1.x bitmap: 14-byte file header, 12-byte BITMAPCOREHEADER (16-bit sizes), 24-bit
    /// bottom-up rows padded to 4 bytes.
    pub(crate) fn os2_bmp(img: &RgbImage) -> Vec<u8> {
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

    #[test]
    fn decodes_an_os2_palette_bitmap() {
        // OS/2 1.x palettes are 3-byte RGB triples (Windows ones are 4 bytes).
        let (w, h) = (21u32, 17u32);
        let row = (w as usize).div_ceil(4) * 4;
        let offset = 26 + 256 * 3;
        let mut v = b"BM".to_vec();
        v.extend_from_slice(&((offset + row * h as usize) as u32).to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(&(offset as u32).to_le_bytes());
        v.extend_from_slice(&12u32.to_le_bytes());
        v.extend_from_slice(&(w as u16).to_le_bytes());
        v.extend_from_slice(&(h as u16).to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&8u16.to_le_bytes());
        for i in 0..=255u8 {
            v.extend_from_slice(&[i, 255 - i, i / 2]); // B, G, R
        }
        for y in (0..h).rev() {
            let start = v.len();
            v.extend((0..w).map(|x| (x * 10 + y) as u8));
            v.resize(start + row, 0);
        }
        let out = decode_image(&v, &DecodeLimits::default()).expect("OS/2 palette bitmap");
        assert_eq!(out.dimensions(), (w, h));
        let i = 3 * 10 + 5;
        assert_eq!(out.get_pixel(3, 5).0, [i / 2, 255 - i, i]);
    }

    #[test]
    fn decodes_a_motion_jpeg_frame_without_huffman_tables() {
        // Webcam MJPEG frames omit DHT and rely on the Annex K tables (flagged by an AVI1 APP0);
        // `image`'s encoder writes exactly those tables, so dropping its DHT segments makes one.
        let jpeg = encode(&noise(64, 48), ImageFormat::Jpeg);
        let mut mjpeg = jpeg[..2].to_vec();
        mjpeg.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        mjpeg.extend_from_slice(b"AVI1\0");
        mjpeg.extend_from_slice(&[0; 9]);
        let mut i = 2;
        let mut dropped = 0;
        while jpeg[i] == 0xFF && jpeg[i + 1] != 0xDA {
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if jpeg[i + 1] == 0xC4 {
                dropped += 1;
            } else {
                mjpeg.extend_from_slice(&jpeg[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        assert!(dropped > 0);
        mjpeg.extend_from_slice(&jpeg[i..]);
        let out = decode_image(&mjpeg, &DecodeLimits::default()).expect("MJPEG frame");
        let reference = decode_image(&jpeg, &DecodeLimits::default()).expect("JPEG");
        assert_eq!(out, reference);
        // Cut and given back its EOI, it is refused like any other.
        let mut cut = mjpeg[..mjpeg.len() * 7 / 10].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        assert!(matches!(
            decode_image(&cut, &DecodeLimits::default()),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn decodes_os2_bitmaps() {
        // Its 16-bit width and height used to be read as 32-bit fields, giving nonsense sizes.
        let img = gradient(37, 23);
        let bmp = os2_bmp(&img);
        assert_eq!(header_dimensions(&bmp, ImageFormat::Bmp), Some((37, 23)));
        let out = decode_image(&bmp, &DecodeLimits::default()).expect("OS/2 bitmap");
        assert_eq!(out, img);
        // OS/2 2.x headers cannot be decoded: refused by name.
        let mut v2 = bmp.clone();
        v2[14..18].copy_from_slice(&64u32.to_le_bytes());
        v2.resize(26 + 64, 0);
        assert!(matches!(
            decode_image(&v2, &DecodeLimits::default()),
            Err(DecodeError::UnsupportedFeature { format: "BMP", ref feature }) if feature.contains("OS/2")
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
