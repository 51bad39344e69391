//! JPEG structure, checked before the decoder runs.
//!
//! `image` decodes JPEG with zune-jpeg in its lenient mode, which pads a scan that runs out of
//! data with zeros: a file cut short and given back its `FF D9` end marker decodes "fine" into an
//! image whose missing part is flat grey, and that grey got matched. Looking for `FF D9` after the
//! last scan cannot tell such a file from a whole one, so this module walks the file the way a
//! decoder does: every marker segment (SOI, APPn, DQT, SOF, DHT, DRI, SOS, ...), and for every scan
//! the entropy-coded data itself, Huffman symbol by symbol (no IDCT, no pixels), counting the MCUs
//! the data really holds. A scan whose data ends before its last MCU is truncated, whatever marker
//! follows. Progressive scans are walked too (DC and AC, first passes and refinements), keeping one
//! bit per coefficient of which ones are already nonzero, as the refinement syntax requires.
//!
//! What is deliberately lenient, because real encoders and decoders are: stray bytes between
//! segments or before a restart marker, a missing DHT (the Annex K tables are used, as for MJPEG
//! frames), coefficient runs past the end of a block. The walk is linear in the file size except
//! for blocks skipped by end-of-band runs, bounded by [`MAX_SCANS`] scans of at most
//! `max_pixels` worth of blocks (dimensions are checked against the limits before this runs).

use super::DecodeError;

const F: &str = "JPEG";

/// zune-jpeg stops after 100 scans; encoders write at most a few dozen. Each scan walks every
/// block of its component even when its data is a few bytes of end-of-band runs, so a file of
/// thousands of tiny scans is a CPU bomb: refuse it.
const MAX_SCANS: usize = 100;

fn truncated(detail: impl Into<String>) -> DecodeError {
    DecodeError::Truncated {
        format: F,
        detail: detail.into(),
    }
}

fn corrupt(detail: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!("{F}: {detail}"))
}

fn unsupported(feature: impl Into<String>) -> DecodeError {
    DecodeError::UnsupportedFeature {
        format: F,
        feature: feature.into(),
    }
}

/// Walks marker segments. Entropy-coded data is not skipped here: after an SOS the caller walks
/// the scan and moves `pos` to the marker that ends it.
struct Segments<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Segments<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
            return Err(corrupt("no start-of-image marker"));
        }
        Ok(Self { bytes, pos: 2 })
    }

    /// The next marker code. Fill bytes (FF FF ...) are skipped as the spec allows, and so are
    /// stray bytes before a marker (libjpeg and zune-jpeg only warn about them).
    fn next_marker(&mut self) -> Result<u8, DecodeError> {
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let Some(off) = rest.iter().position(|&b| b == 0xFF) else {
                return Err(truncated("the data ends before the end-of-image marker"));
            };
            self.pos += off;
            while self.bytes.get(self.pos) == Some(&0xFF) {
                self.pos += 1;
            }
            match self.bytes.get(self.pos) {
                None => return Err(truncated("the data ends inside a marker")),
                // FF 00 is a stuffed byte, not a marker: stray data, keep looking.
                Some(0x00) => self.pos += 1,
                Some(&m) => {
                    self.pos += 1;
                    return Ok(m);
                }
            }
        }
    }

    /// The payload of a segment with a length field (the length counts itself, not the marker).
    fn segment(&mut self, marker: u8) -> Result<&'a [u8], DecodeError> {
        let Some(len) = self.bytes.get(self.pos..self.pos + 2) else {
            return Err(truncated(format!(
                "the data ends inside the length of segment FF{marker:02X}"
            )));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(corrupt(format!("segment FF{marker:02X} has length {len}")));
        }
        let Some(body) = self.bytes.get(self.pos + 2..self.pos + len) else {
            return Err(truncated(format!(
                "segment FF{marker:02X} needs {len} bytes, {} remain",
                self.bytes.len() - self.pos
            )));
        };
        self.pos += len;
        Ok(body)
    }
}

/// Markers without a length field: TEM and RST0..RST7 (outside a scan they carry nothing).
fn standalone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xD0..=0xD7)
}

/// Start-of-frame markers zune-jpeg decodes: baseline, extended sequential, progressive (Huffman).
fn supported_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC2)
}

/// The other SOF markers, refused by name before the decoder refuses them with less to say.
fn unsupported_sof(marker: u8) -> Option<&'static str> {
    Some(match marker {
        0xC3 => "lossless coding (SOF3)",
        0xC5..=0xC7 => "hierarchical coding",
        0xC9..=0xCB => "arithmetic coding",
        0xCD..=0xCF => "hierarchical arithmetic coding",
        _ => return None,
    })
}

/// The frame size from the SOF segment, reading no further than it (cheap: it comes before the
/// scans). Used to check the limits before the full walk of [`check_scans`].
pub(super) fn frame_dimensions(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    let mut seg = Segments::new(bytes)?;
    loop {
        let marker = seg.next_marker()?;
        match marker {
            0xD9 => {
                return Err(corrupt(
                    "the end-of-image marker comes before any frame header",
                ))
            }
            0xD8 => return Err(corrupt("a second start-of-image marker")),
            0xDA => return Err(corrupt("a scan comes before the frame header")),
            m if standalone(m) => continue,
            _ => {}
        }
        let body = seg.segment(marker)?;
        if let Some(feature) = unsupported_sof(marker) {
            return Err(unsupported(feature));
        }
        if supported_sof(marker) {
            let frame = Frame::parse(body, marker == 0xC2)?;
            return Ok((u32::from(frame.width), u32::from(frame.height)));
        }
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    /// Blocks across and down when the component is alone in a scan.
    blocks_w: usize,
    blocks_h: usize,
    /// A scan carrying this component's DC coefficients (the whole component for sequential
    /// frames) was complete. Without it the decoder paints the component flat.
    dc_done: bool,
    /// Progressive only: for each block, bit k set when zig-zag coefficient k is nonzero so far.
    nonzero: Vec<u64>,
}

struct Frame {
    width: u16,
    height: u16,
    progressive: bool,
    components: Vec<Component>,
    mcus_x: usize,
    mcus_y: usize,
}

impl Frame {
    fn parse(body: &[u8], progressive: bool) -> Result<Self, DecodeError> {
        let Some(&[precision, h1, h0, w1, w0, count]) = body.get(..6) else {
            return Err(corrupt("the frame header is too short"));
        };
        let height = u16::from_be_bytes([h1, h0]);
        let width = u16::from_be_bytes([w1, w0]);
        if precision != 8 {
            return Err(unsupported(format!("{precision}-bit samples")));
        }
        if height == 0 {
            return Err(unsupported("a height defined later by a DNL marker"));
        }
        if width == 0 {
            return Err(corrupt("the frame header declares a width of 0"));
        }
        // zune-jpeg handles 1 to 4 components (grey, YCbCr, CMYK/YCCK and two-band files).
        if !(1..=4).contains(&count) {
            return Err(unsupported(format!("{count} colour components")));
        }
        let specs = body
            .get(6..6 + 3 * usize::from(count))
            .ok_or_else(|| corrupt("the frame header is shorter than its component list"))?;
        let mut components: Vec<Component> = Vec::with_capacity(usize::from(count));
        for spec in specs.chunks_exact(3) {
            let (id, h, v) = (
                spec[0],
                usize::from(spec[1] >> 4),
                usize::from(spec[1] & 15),
            );
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return Err(corrupt(format!(
                    "component {id} has sampling factors {h}x{v}"
                )));
            }
            if components.iter().any(|c| c.id == id) {
                return Err(corrupt(format!("component {id} is declared twice")));
            }
            components.push(Component {
                id,
                h,
                v,
                blocks_w: 0,
                blocks_h: 0,
                dc_done: false,
                nonzero: Vec::new(),
            });
        }
        let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
        let (w, h) = (usize::from(width), usize::from(height));
        for c in &mut components {
            // A.1.1: component size is ceil(X * Hi / Hmax), then whole 8x8 blocks.
            c.blocks_w = (w * c.h).div_ceil(h_max).div_ceil(8);
            c.blocks_h = (h * c.v).div_ceil(v_max).div_ceil(8);
        }
        Ok(Self {
            width,
            height,
            progressive,
            components,
            mcus_x: w.div_ceil(8 * h_max),
            mcus_y: h.div_ceil(8 * v_max),
        })
    }
}

/// A Huffman table for bit-serial decoding (JPEG Annex F.2.2.3) plus a lookup for short codes.
struct Huffman {
    /// For the first `LUT_BITS` bits of input: code length (0 = longer code) and symbol.
    lut: Vec<(u8, u8)>,
    /// Largest code of each length (index 1..=16), -1 when no code has that length.
    max_code: [i32; 17],
    /// Index in `values` of the first code of each length, minus that code.
    offset: [i32; 17],
    values: Vec<u8>,
}

const LUT_BITS: u32 = 9;

impl Huffman {
    fn new(counts: &[u8], values: &[u8]) -> Result<Self, DecodeError> {
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut lut = vec![(0u8, 0u8); 1 << LUT_BITS];
        let mut code: i32 = 0;
        let mut k: i32 = 0;
        for len in 1..=16usize {
            let n = i32::from(counts[len - 1]);
            // Codes of one length must fit in that many bits, and the all-ones code is reserved
            // (libjpeg and zune-jpeg refuse such a table too). Checked before the codes index the
            // lookup table.
            if n > 0 && code + n >= 1 << len {
                return Err(corrupt("a Huffman table is not a valid prefix code"));
            }
            if n > 0 {
                offset[len] = k - code;
                for i in 0..n {
                    let c = code + i;
                    let Some(&symbol) = values.get((k + i) as usize) else {
                        return Err(corrupt("a Huffman table has fewer symbols than codes"));
                    };
                    if len as u32 <= LUT_BITS {
                        let shift = LUT_BITS - len as u32;
                        let first = (c as usize) << shift;
                        for e in &mut lut[first..first + (1 << shift)] {
                            *e = (len as u8, symbol);
                        }
                    }
                }
                code += n;
                k += n;
                max_code[len] = code - 1;
            }
            code <<= 1;
        }
        Ok(Self {
            lut,
            max_code,
            offset,
            values: values.to_vec(),
        })
    }
}

/// DHT: one or more tables, each class/id byte, 16 code counts, then the symbols.
fn parse_dht(
    mut body: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), DecodeError> {
    while !body.is_empty() {
        let Some((&class_id, rest)) = body.split_first() else {
            break;
        };
        let (class, id) = (class_id >> 4, usize::from(class_id & 15));
        if class > 1 || id > 3 {
            return Err(corrupt(format!(
                "Huffman table class {class} id {id} is out of range"
            )));
        }
        let Some(counts) = rest.get(..16) else {
            return Err(corrupt(
                "a Huffman table segment is cut inside its code counts",
            ));
        };
        let total: usize = counts.iter().map(|&n| usize::from(n)).sum();
        if total > 256 {
            return Err(corrupt("a Huffman table declares more than 256 codes"));
        }
        let Some(values) = rest.get(16..16 + total) else {
            return Err(corrupt("a Huffman table segment is cut inside its symbols"));
        };
        let table = Huffman::new(counts, values)?;
        if class == 0 {
            dc[id] = Some(table);
        } else {
            ac[id] = Some(table);
        }
        body = &rest[16 + total..];
    }
    Ok(())
}

/// The tables of Annex K.3, used when a scan refers to a table 0 or 1 the file never defined:
/// Motion-JPEG frames (webcams) omit them, and zune-jpeg supplies these.
fn default_table(ac: bool, id: usize) -> Option<Huffman> {
    const DC_COUNTS: [[u8; 16]; 2] = [
        [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    ];
    const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const AC_COUNTS: [[u8; 16]; 2] = [
        [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D],
        [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
    ];
    const AC_VALUES: [[u8; 162]; 2] = [
        [
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
            0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1,
            0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18,
            0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75,
            0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92,
            0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
            0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
            0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8,
            0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2,
            0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
        ],
        [
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
            0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09,
            0x23, 0x33, 0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25,
            0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38,
            0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56,
            0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74,
            0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
            0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
            0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA,
            0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
            0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2,
            0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
        ],
    ];
    if id > 1 {
        return None;
    }
    let table = if ac {
        Huffman::new(&AC_COUNTS[id], &AC_VALUES[id])
    } else {
        Huffman::new(&DC_COUNTS[id], &DC_VALUES)
    };
    table.ok()
}

/// Why a scan's walk stopped early.
enum Stop {
    /// The scan needed bits past the end of its data: the file was cut.
    OutOfData,
    /// The data holds a bit pattern no table codes for.
    BadCode,
}

/// The entropy-coded bit stream of one scan. Reads stop at the first marker (FF followed by
/// anything but 00); past it, zero bits are supplied as padding and counted, so that any read
/// reaching into them is known to have run out of real data.
struct Bits<'a> {
    bytes: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Loaded bits, most significant first.
    acc: u64,
    /// How many bits of `acc` are loaded (real and padding).
    count: u32,
    /// How many of the loaded bits (the last ones) are padding.
    padding: u32,
    /// A marker or the end of the file was reached; `pos` is at the marker's FF.
    ended: bool,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8], pos: usize) -> Self {
        Self {
            bytes,
            pos,
            acc: 0,
            count: 0,
            padding: 0,
            ended: false,
        }
    }

    fn refill(&mut self) {
        while self.count <= 56 {
            let byte = if self.ended {
                None
            } else {
                match self.bytes.get(self.pos) {
                    Some(0xFF) if self.bytes.get(self.pos + 1) == Some(&0x00) => {
                        self.pos += 2;
                        Some(0xFF)
                    }
                    // FF then anything else is a marker (RSTn, EOI, a table, fill bytes): the
                    // scan's data, or this restart interval's, ends here.
                    Some(0xFF) | None => None,
                    Some(&b) => {
                        self.pos += 1;
                        Some(b)
                    }
                }
            };
            match byte {
                Some(b) => self.acc |= u64::from(b) << (56 - self.count),
                None => {
                    self.ended = true;
                    self.padding += 8;
                }
            }
            self.count += 8;
        }
    }

    /// Drops `n` bits (n <= 32).
    fn skip(&mut self, n: u32) -> Result<(), Stop> {
        if n == 0 {
            return Ok(());
        }
        if self.count < n {
            self.refill();
        }
        self.acc <<= n;
        self.count -= n;
        if self.count < self.padding {
            return Err(Stop::OutOfData);
        }
        Ok(())
    }

    /// Drops `n` bits for any n (e.g. the correction bits of a whole band).
    fn skip_many(&mut self, mut n: u32) -> Result<(), Stop> {
        while n > 0 {
            let step = n.min(32);
            self.skip(step)?;
            n -= step;
        }
        Ok(())
    }

    /// Reads `n` bits as a number (n <= 16).
    fn read(&mut self, n: u32) -> Result<u32, Stop> {
        if n == 0 {
            return Ok(0);
        }
        if self.count < n {
            self.refill();
        }
        let value = (self.acc >> (64 - n)) as u32;
        self.skip(n)?;
        Ok(value)
    }

    fn decode(&mut self, table: &Huffman) -> Result<u8, Stop> {
        if self.count < 16 {
            self.refill();
        }
        let (len, symbol) = table.lut[(self.acc >> (64 - LUT_BITS)) as usize];
        if len > 0 {
            self.skip(u32::from(len))?;
            return Ok(symbol);
        }
        let bits16 = (self.acc >> 48) as i32;
        for len in (LUT_BITS as usize + 1)..=16 {
            let code = bits16 >> (16 - len);
            if code <= table.max_code[len] {
                self.skip(len as u32)?;
                let index = (table.offset[len] + code) as usize;
                return table.values.get(index).copied().ok_or(Stop::BadCode);
            }
        }
        // No code matches. If the 16 bits looked at reach into the padding, the data ran out.
        if self.count.saturating_sub(self.padding) < 16 {
            Err(Stop::OutOfData)
        } else {
            Err(Stop::BadCode)
        }
    }

    /// At a restart boundary: the encoder padded to a whole byte and wrote RSTn. Returns false
    /// when some other marker (or the end of the file) comes instead: the interval was cut.
    fn restart(&mut self) -> bool {
        self.acc = 0;
        self.count = 0;
        self.padding = 0;
        self.skip_to_marker();
        self.ended = false;
        while self.bytes.get(self.pos) == Some(&0xFF) {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(0xD0..=0xD7) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Moves `pos` to the FF of the next marker (or the end of the file). Bytes a scan holds
    /// beyond what its MCUs need are skipped, as decoders skip them.
    fn skip_to_marker(&mut self) {
        if self.ended {
            return;
        }
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == 0xFF && self.bytes.get(self.pos + 1) != Some(&0x00) {
                return;
            }
            self.pos += if b == 0xFF { 2 } else { 1 };
        }
        self.pos = self.pos.min(self.bytes.len());
    }
}

/// One scan header (SOS) resolved against the frame and the tables.
struct Scan<'t> {
    /// (component index in the frame, DC table, AC table) in scan order.
    components: Vec<(usize, Option<&'t Huffman>, Option<&'t Huffman>)>,
    ss: usize,
    se: usize,
    ah: u8,
}

fn parse_sos<'t>(
    body: &[u8],
    frame: &Frame,
    dc: &'t [Option<Huffman>; 4],
    ac: &'t [Option<Huffman>; 4],
    defaults: &'t (Vec<Option<Huffman>>, Vec<Option<Huffman>>),
) -> Result<Scan<'t>, DecodeError> {
    let Some((&count, rest)) = body.split_first() else {
        return Err(corrupt("an empty scan header"));
    };
    let n = usize::from(count);
    if n == 0 || n > frame.components.len() {
        return Err(corrupt(format!("a scan over {n} components")));
    }
    let (Some(specs), Some(&[ss, se, ahal])) = (rest.get(..2 * n), rest.get(2 * n..2 * n + 3))
    else {
        return Err(corrupt("a scan header shorter than its component list"));
    };
    let (ss, se, ah) = (usize::from(ss), usize::from(se), ahal >> 4);
    let mut components = Vec::with_capacity(n);
    for spec in specs.chunks_exact(2) {
        let (id, td, ta) = (
            spec[0],
            usize::from(spec[1] >> 4),
            usize::from(spec[1] & 15),
        );
        let Some(index) = frame.components.iter().position(|c| c.id == id) else {
            return Err(corrupt(format!(
                "a scan names component {id}, not in the frame"
            )));
        };
        if components.iter().any(|&(i, _, _)| i == index) {
            return Err(corrupt(format!("a scan names component {id} twice")));
        }
        if td > 3 || ta > 3 {
            return Err(corrupt("a scan names a Huffman table id above 3"));
        }
        let dc_table = dc[td]
            .as_ref()
            .or_else(|| defaults.0.get(td).and_then(Option::as_ref));
        let ac_table = ac[ta]
            .as_ref()
            .or_else(|| defaults.1.get(ta).and_then(Option::as_ref));
        components.push((index, dc_table, ac_table));
    }
    let scan = Scan {
        components,
        ss,
        se,
        ah,
    };
    // Which tables the scan really uses: refuse a missing one now, by name.
    let needs_dc = !frame.progressive || (scan.ss == 0 && scan.ah == 0);
    let needs_ac = !frame.progressive || scan.ss > 0;
    for &(index, dc_table, ac_table) in &scan.components {
        let id = frame.components[index].id;
        if (needs_dc && dc_table.is_none()) || (needs_ac && ac_table.is_none()) {
            return Err(corrupt(format!(
                "the scan of component {id} uses a Huffman table the file never defines"
            )));
        }
    }
    if frame.progressive {
        // G.1.1.1: a DC scan holds only coefficient 0; an AC scan holds one band of one component.
        let valid = if scan.ss == 0 {
            scan.se == 0
        } else {
            scan.se >= scan.ss && scan.se <= 63 && scan.components.len() == 1
        };
        if !valid {
            return Err(corrupt(format!(
                "invalid progressive scan (spectral selection {}..{}, {} components)",
                scan.ss,
                scan.se,
                scan.components.len()
            )));
        }
    }
    Ok(scan)
}

fn sequential_block(bits: &mut Bits, dc: &Huffman, ac: &Huffman) -> Result<(), Stop> {
    let size = bits.decode(dc)?;
    // A DC difference category above 16 cannot occur (F.1.2.1); refuse rather than skip 255 bits.
    if size > 16 {
        return Err(Stop::BadCode);
    }
    bits.skip(u32::from(size))?;
    let mut k = 1;
    while k < 64 {
        let rs = bits.decode(ac)?;
        let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
        if size == 0 {
            if run != 15 {
                break; // end of block
            }
            k += 16; // sixteen zeros
            continue;
        }
        k += run + 1;
        bits.skip(size)?;
    }
    Ok(())
}

/// First pass over a band of AC coefficients (G.1.2.2).
fn ac_first_block(
    bits: &mut Bits,
    ac: &Huffman,
    ss: usize,
    se: usize,
    eob_run: &mut u32,
    nonzero: &mut u64,
) -> Result<(), Stop> {
    if *eob_run > 0 {
        *eob_run -= 1;
        return Ok(());
    }
    let mut k = ss;
    while k <= se {
        let rs = bits.decode(ac)?;
        let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
        if size == 0 {
            if run < 15 {
                // EOBn: this block and the next 2^run - 1 + (run extra bits) blocks end here.
                *eob_run = (1 << run) - 1 + bits.read(run)?;
                return Ok(());
            }
            k += 16;
            continue;
        }
        k += run as usize;
        bits.skip(size)?;
        if k < 64 {
            *nonzero |= 1 << k;
        }
        k += 1;
    }
    Ok(())
}

/// Refinement of a band of AC coefficients (G.1.2.3): one correction bit for every coefficient
/// already nonzero that the band passes over, and newly nonzero ones placed among the zeros.
fn ac_refine_block(
    bits: &mut Bits,
    ac: &Huffman,
    ss: usize,
    se: usize,
    eob_run: &mut u32,
    nonzero: &mut u64,
) -> Result<(), Stop> {
    let mut k = ss;
    if *eob_run == 0 {
        while k <= se {
            let rs = bits.decode(ac)?;
            let (mut run, size) = (u32::from(rs >> 4), rs & 15);
            let new = size != 0;
            if new {
                bits.skip(1)?; // sign of the new coefficient (its size is always 1)
            } else if run != 15 {
                *eob_run = (1 << run) + bits.read(run)?;
                break;
            }
            // Pass `run` zero-history coefficients, reading the correction bit of every nonzero
            // one on the way; stop on the zero that becomes the new coefficient.
            while k <= se {
                if *nonzero & (1 << k) != 0 {
                    bits.skip(1)?;
                } else {
                    if run == 0 {
                        break;
                    }
                    run -= 1;
                }
                k += 1;
            }
            if new && k <= se {
                *nonzero |= 1 << k;
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        // The rest of the band is in an end-of-band run: only correction bits remain.
        if k <= se {
            let band = (u64::MAX >> (63 - se)) & (u64::MAX << k);
            bits.skip_many((*nonzero & band).count_ones())?;
        }
        *eob_run -= 1;
    }
    Ok(())
}

/// Walks one scan's entropy-coded data from `start`; returns the position of the marker that
/// follows it.
fn walk_scan(
    bytes: &[u8],
    start: usize,
    frame: &mut Frame,
    scan: &Scan,
    restart_interval: usize,
    number: usize,
) -> Result<usize, DecodeError> {
    let interleaved = scan.components.len() > 1;
    let units = if interleaved {
        frame.mcus_x * frame.mcus_y
    } else {
        let c = &frame.components[scan.components[0].0];
        c.blocks_w * c.blocks_h
    };
    let ac_scan = frame.progressive && scan.ss > 0;
    if ac_scan {
        let c = &mut frame.components[scan.components[0].0];
        if c.nonzero.is_empty() {
            // One u64 a block, at most max_pixels / 64 * (4x oversampling) entries: the size was
            // checked against the limits before this walk.
            c.nonzero = vec![0; c.blocks_w * c.blocks_h];
        }
    }
    let mut bits = Bits::new(bytes, start);
    let mut eob_run = 0u32;
    let cut = |done: usize| {
        truncated(format!(
            "scan {number} holds {done} of its {units} MCUs before its data ends"
        ))
    };
    for unit in 0..units {
        if restart_interval > 0 && unit > 0 && unit % restart_interval == 0 {
            if !bits.restart() {
                return Err(cut(unit));
            }
            eob_run = 0;
        }
        let result = if interleaved {
            interleaved_mcu(&mut bits, frame, scan)
        } else {
            let (index, dc, ac) = scan.components[0];
            single_block(&mut bits, frame, scan, index, unit, dc, ac, &mut eob_run)
        };
        match result {
            Ok(()) => {}
            Err(Stop::OutOfData) => return Err(cut(unit)),
            Err(Stop::BadCode) => {
                return Err(corrupt(format!(
                    "scan {number} holds an invalid Huffman code in MCU {unit} of {units}"
                )))
            }
        }
    }
    if !frame.progressive || (scan.ss == 0 && scan.ah == 0) {
        for &(index, _, _) in &scan.components {
            frame.components[index].dc_done = true;
        }
    }
    bits.skip_to_marker();
    Ok(bits.pos)
}

fn interleaved_mcu(bits: &mut Bits, frame: &Frame, scan: &Scan) -> Result<(), Stop> {
    for &(index, dc, ac) in &scan.components {
        let c = &frame.components[index];
        for _ in 0..c.h * c.v {
            if !frame.progressive {
                let (Some(dc), Some(ac)) = (dc, ac) else {
                    return Err(Stop::BadCode);
                };
                sequential_block(bits, dc, ac)?;
            } else if scan.ah == 0 {
                // DC first pass: a difference category and that many bits.
                let dc = dc.ok_or(Stop::BadCode)?;
                let size = bits.decode(dc)?;
                if size > 16 {
                    return Err(Stop::BadCode);
                }
                bits.skip(u32::from(size))?;
            } else {
                bits.skip(1)?; // DC refinement: one bit a block
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn single_block(
    bits: &mut Bits,
    frame: &mut Frame,
    scan: &Scan,
    index: usize,
    unit: usize,
    dc: Option<&Huffman>,
    ac: Option<&Huffman>,
    eob_run: &mut u32,
) -> Result<(), Stop> {
    if !frame.progressive {
        let (Some(dc), Some(ac)) = (dc, ac) else {
            return Err(Stop::BadCode);
        };
        return sequential_block(bits, dc, ac);
    }
    if scan.ss == 0 {
        if scan.ah == 0 {
            let size = bits.decode(dc.ok_or(Stop::BadCode)?)?;
            if size > 16 {
                return Err(Stop::BadCode);
            }
            return bits.skip(u32::from(size));
        }
        return bits.skip(1);
    }
    let ac = ac.ok_or(Stop::BadCode)?;
    let Some(nonzero) = frame.components[index].nonzero.get_mut(unit) else {
        return Err(Stop::BadCode);
    };
    if scan.ah == 0 {
        ac_first_block(bits, ac, scan.ss, scan.se, eob_run, nonzero)
    } else {
        ac_refine_block(bits, ac, scan.ss, scan.se, eob_run, nonzero)
    }
}

/// Walks the whole file: every segment, every scan's data. Refuses a file whose scans hold fewer
/// MCUs than the frame needs (cut, whatever marker follows), that ends before its end-of-image
/// marker, that has no scan, or that never sends some component's DC coefficients.
///
/// A progressive file cut exactly between two scans, after every component's DC scan, passes:
/// what it holds is a complete image at a coarser quality, not one padded with grey, and
/// requiring every spectral band and refinement would refuse encoders that legitimately stop
/// early.
pub(super) fn check_scans(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut seg = Segments::new(bytes)?;
    let mut frame: Option<Frame> = None;
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let defaults = (
        (0..2)
            .map(|id| default_table(false, id))
            .collect::<Vec<_>>(),
        (0..2).map(|id| default_table(true, id)).collect::<Vec<_>>(),
    );
    let mut restart_interval = 0usize;
    let mut scans = 0usize;
    loop {
        let marker = seg.next_marker()?;
        match marker {
            0xD9 => break,
            0xD8 => return Err(corrupt("a second start-of-image marker")),
            m if standalone(m) => continue,
            _ => {}
        }
        let body = seg.segment(marker)?;
        match marker {
            m if supported_sof(m) => {
                if frame.is_some() {
                    return Err(corrupt("the file holds two frame headers"));
                }
                frame = Some(Frame::parse(body, m == 0xC2)?);
            }
            m if unsupported_sof(m).is_some() => {
                return Err(unsupported(unsupported_sof(m).unwrap_or("this coding")));
            }
            0xC4 => parse_dht(body, &mut dc, &mut ac)?,
            0xDD => {
                let Some(&[hi, lo]) = body.get(..2) else {
                    return Err(corrupt("a restart-interval segment is too short"));
                };
                restart_interval = usize::from(u16::from_be_bytes([hi, lo]));
            }
            0xDA => {
                let Some(frame) = frame.as_mut() else {
                    return Err(corrupt("a scan comes before the frame header"));
                };
                scans += 1;
                if scans > MAX_SCANS {
                    return Err(corrupt(format!("more than {MAX_SCANS} scans")));
                }
                let scan = parse_sos(body, frame, &dc, &ac, &defaults)?;
                seg.pos = walk_scan(bytes, seg.pos, frame, &scan, restart_interval, scans)?;
            }
            _ => {} // APPn, COM, DQT, DNL, ...: nothing to check here
        }
    }
    let Some(frame) = frame else {
        return Err(corrupt("no frame header before the end-of-image marker"));
    };
    if scans == 0 {
        return Err(truncated(
            "the end-of-image marker follows the headers: no scan data",
        ));
    }
    if let Some(c) = frame.components.iter().find(|c| !c.dc_done) {
        return Err(truncated(format!(
            "component {} never gets its scan before the end-of-image marker",
            c.id
        )));
    }
    Ok(())
}
