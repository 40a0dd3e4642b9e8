//! Does a baseline JPEG's scan hold exactly the frame it declares?
//!
//! Decoders (zune-jpeg, like libjpeg) meet a marker inside a scan by
//! feeding zeros for the rest of the frame and succeed: a file cut short
//! and closed with an end marker decodes to a plausible-looking photo whose
//! lower part is invented. This walks the entropy-coded data of a baseline,
//! interleaved scan (what cameras write) with the file's Huffman tables,
//! counting blocks, and reports a scan that ends before its last block,
//! runs on past it, uses a code its table lacks, or misplaces a restart
//! marker. It decodes no pixels. JPEG carries no checksum, so a bit flip
//! that happens to stay in step is not found by this or by any decoder.

/// Canonical Huffman table, with an 8-bit lookup for the short codes that
/// make up nearly all of a photo's data.
struct Huffman {
    /// Per code length 1–16: (end of this length's codes, offset into
    /// `symbols` of its first code, its first code).
    lengths: [(u32, usize, u32); 17],
    symbols: Vec<u8>,
    /// By the next 8 bits: (code length, symbol); length 0 when the code is
    /// longer than 8 bits or not in the table.
    fast: [(u8, u8); 256],
}

impl Huffman {
    fn new(counts: &[u8; 16], symbols: Vec<u8>) -> Self {
        let mut lengths = [(0u32, 0usize, 0u32); 17];
        let mut fast = [(0u8, 0u8); 256];
        let (mut code, mut k) = (0u32, 0usize);
        for len in 1..=16 {
            let n = u32::from(counts[len - 1]);
            lengths[len] = (code + n, k, code);
            if len <= 8 {
                for c in code..code + n {
                    let Some(&sym) = symbols.get(k + (c - code) as usize) else {
                        break;
                    };
                    let shift = 8 - len;
                    for low in 0..(1u32 << shift) {
                        if let Some(slot) = fast.get_mut(((c << shift) | low) as usize) {
                            *slot = (len as u8, sym);
                        }
                    }
                }
            }
            code = (code + n) << 1;
            k += n as usize;
        }
        Self {
            lengths,
            symbols,
            fast,
        }
    }
}

/// The entropy-coded bits, most significant first, with byte stuffing
/// removed; stops at the first marker.
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load; at a marker, its 0xFF.
    pos: usize,
    /// Loaded bits, left-aligned.
    acc: u64,
    n: u32,
    /// A marker (other than stuffing) reached inside the entropy data.
    marker: Option<u8>,
}

impl<'a> Bits<'a> {
    fn refill(&mut self) {
        while self.n <= 56 && self.marker.is_none() {
            let Some(&b) = self.data.get(self.pos) else {
                return;
            };
            if b == 0xff {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => self.pos += 2,
                    Some(&m) => {
                        self.marker = Some(m);
                        return;
                    }
                    None => return,
                }
            } else {
                self.pos += 1;
            }
            self.acc |= u64::from(b) << (56 - self.n);
            self.n += 8;
        }
    }

    fn consume(&mut self, k: u32) -> Result<(), ScanError> {
        if self.n < k {
            self.refill();
            if self.n < k {
                return Err(ScanError::Short);
            }
        }
        self.acc = if k == 64 { 0 } else { self.acc << k };
        self.n -= k;
        Ok(())
    }

    fn symbol(&mut self, h: &Huffman) -> Result<u8, ScanError> {
        if self.n < 16 {
            self.refill();
        }
        let (len, sym) = h.fast[(self.acc >> 56) as usize];
        if len > 0 {
            self.consume(u32::from(len))?;
            return Ok(sym);
        }
        for len in 9..=16u32 {
            let code = (self.acc >> (64 - len)) as u32;
            let (end, offset, first) = h.lengths[len as usize];
            if code < end && code >= first {
                self.consume(len)?;
                return h
                    .symbols
                    .get(offset + (code - first) as usize)
                    .copied()
                    .ok_or(ScanError::BadCode);
            }
        }
        // Out of data reads as zeros, which may not form a code.
        if self.n < 16 {
            return Err(ScanError::Short);
        }
        Err(ScanError::BadCode)
    }

    /// Drops the partial byte; the number of whole bytes loaded but not
    /// consumed (data before the next marker that should not be there).
    fn align(&mut self) -> u32 {
        let drop = self.n % 8;
        self.acc <<= drop;
        self.n -= drop;
        self.n / 8
    }

    /// Reads the restart marker expected next.
    fn restart(&mut self, expected: u8) -> Result<(), ScanError> {
        if self.align() > 0 {
            return Err(ScanError::Restart(expected, None));
        }
        self.refill();
        match self.marker.take() {
            Some(m) if m == expected => {
                self.pos += 2;
                Ok(())
            }
            Some(m) => Err(ScanError::Restart(expected, Some(m))),
            None if self.n > 0 => Err(ScanError::Restart(expected, None)),
            None => Err(ScanError::Short),
        }
    }
}

#[derive(Debug, PartialEq)]
enum ScanError {
    Short,
    BadCode,
    Restart(u8, Option<u8>),
}

/// `Some(reason)` when the scan does not hold its frame; `None` when it
/// does, or when the file is not a single-scan baseline JPEG this can walk
/// (progressive, arithmetic, non-interleaved: left to the decoder).
pub fn problem(bytes: &[u8]) -> Option<String> {
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    // (id, h, v) per component; frame size.
    let mut comps: Vec<(u8, u8, u8)> = Vec::new();
    let (mut width, mut height) = (0u32, 0u32);
    let mut restart_interval = 0u32;
    for Segment {
        marker,
        body: seg,
        end,
    } in headers(bytes)
    {
        match marker {
            0xc0 | 0xc1 => {
                height = u32::from(u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?]));
                width = u32::from(u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?]));
                let n = usize::from(*seg.get(5)?);
                for c in 0..n {
                    let at = 6 + 3 * c;
                    let hv = *seg.get(at + 1)?;
                    comps.push((*seg.get(at)?, hv >> 4, hv & 15));
                }
            }
            0xc2..=0xcf if marker != 0xc4 && marker != 0xc8 && marker != 0xcc => return None,
            0xc4 => {
                let mut at = 0;
                while at < seg.len() {
                    let class_id = seg[at];
                    let counts: [u8; 16] = seg.get(at + 1..at + 17)?.try_into().ok()?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = seg.get(at + 17..at + 17 + total)?.to_vec();
                    let table = Some(Huffman::new(&counts, symbols));
                    let id = usize::from(class_id & 3);
                    if class_id >> 4 == 0 {
                        dc[id] = table;
                    } else {
                        ac[id] = table;
                    }
                    at += 17 + total;
                }
            }
            0xdd => restart_interval = be16(seg, 0)? as u32,
            0xda => {
                let n = usize::from(*seg.first()?);
                if comps.is_empty() || n != comps.len() || width == 0 || height == 0 {
                    return None;
                }
                // (blocks per MCU, dc table, ac table) per scan component.
                let mut plan = Vec::new();
                for c in 0..n {
                    let id = *seg.get(1 + 2 * c)?;
                    let tables = *seg.get(2 + 2 * c)?;
                    let &(_, h, v) = comps.iter().find(|x| x.0 == id)?;
                    let d = dc.get(usize::from(tables >> 4) & 3)?.as_ref()?;
                    let a = ac.get(usize::from(tables & 3))?.as_ref()?;
                    plan.push((u32::from(h) * u32::from(v), d, a));
                }
                let hmax = u32::from(comps.iter().map(|c| c.1).max()?.max(1));
                let vmax = u32::from(comps.iter().map(|c| c.2).max()?.max(1));
                let (mcu_w, mcu_h) = (8 * hmax, 8 * vmax);
                let mcus = width.div_ceil(mcu_w) * height.div_ceil(mcu_h);
                let data = bytes.get(end..)?;
                return walk(data, &plan, mcus, restart_interval);
            }
            0xd9 => return None,
            _ => {}
        }
    }
    None
}

/// One marker segment of a JPEG's headers.
pub(super) struct Segment<'a> {
    pub marker: u8,
    /// What follows the segment's length field.
    pub body: &'a [u8],
    /// Where the next segment (or, after a start of scan, its data) begins.
    pub end: usize,
}

/// The marker segments from the start-of-image up to and including the
/// first start of scan (fill bytes skipped); ends early where the bytes do
/// not hold a whole segment.
pub(super) fn headers(bytes: &[u8]) -> impl Iterator<Item = Segment<'_>> {
    let mut i = 2; // after SOI
    let mut done = false;
    std::iter::from_fn(move || loop {
        if done || bytes.get(i)? != &0xff {
            return None;
        }
        let marker = *bytes.get(i + 1)?;
        if marker == 0xff {
            i += 1; // fill byte
            continue;
        }
        let len = be16(bytes, i + 2)?;
        let body = bytes.get(i + 4..i + 2 + len)?;
        i += 2 + len;
        done = marker == 0xda;
        return Some(Segment {
            marker,
            body,
            end: i,
        });
    })
}

/// The big-endian 16-bit number at `at` (a segment's length).
pub(super) fn be16(bytes: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *bytes.get(at)?,
        *bytes.get(at + 1)?,
    ])))
}

/// The JPEG decoder fills a truncated scan with grey and reports success;
/// a complete file reaches its end-of-image marker (FF D9). Walked segment
/// by segment from the start-of-image: headers by their lengths (an EXIF
/// thumbnail's own markers stay inside its APP1), entropy-coded data to the
/// next marker that is neither a stuffed FF 00 nor a restart. What follows
/// the image's end-of-image is not the image's (phones append a motion
/// photo's video there, which can hold any bytes, FF DA included).
pub fn reaches_end_of_image(bytes: &[u8]) -> bool {
    let mut i = 2;
    loop {
        let (Some(0xff), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else {
            return false;
        };
        match marker {
            0xff => i += 1,
            0xd9 => return true,
            0x01 | 0xd0..=0xd7 => i += 2,
            _ => {
                let Some(len) = be16(bytes, i + 2) else {
                    return false;
                };
                i += 2 + len;
                if marker == 0xda {
                    // Entropy-coded data up to the next real marker.
                    loop {
                        let Some(ff) = bytes
                            .get(i..)
                            .and_then(|b| b.iter().position(|&x| x == 0xff))
                        else {
                            return false;
                        };
                        i += ff;
                        match bytes.get(i + 1) {
                            Some(0x00 | 0xd0..=0xd7) => i += 2,
                            Some(0xff) => i += 1,
                            Some(_) => break,
                            None => return false,
                        }
                    }
                }
            }
        }
    }
}

fn walk(
    data: &[u8],
    plan: &[(u32, &Huffman, &Huffman)],
    mcus: u32,
    interval: u32,
) -> Option<String> {
    let mut bits = Bits {
        data,
        pos: 0,
        acc: 0,
        n: 0,
        marker: None,
    };
    let mut done = 0u32;
    let result = (|| -> Result<(), ScanError> {
        while done < mcus {
            if interval > 0 && done > 0 && done % interval == 0 {
                bits.restart(0xd0 + ((done / interval - 1) % 8) as u8)?;
            }
            for &(blocks, d, a) in plan {
                for _ in 0..blocks {
                    let s = bits.symbol(d)?;
                    bits.consume(u32::from(s))?;
                    let mut k = 1;
                    while k < 64 {
                        let rs = bits.symbol(a)?;
                        let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
                        if s == 0 {
                            if r != 15 {
                                break;
                            }
                            k += 16;
                        } else {
                            k += r + 1;
                            bits.consume(s)?;
                        }
                    }
                    if k > 64 {
                        return Err(ScanError::BadCode);
                    }
                }
            }
            done += 1;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            // Only the last byte's padding may follow the last block, then
            // a marker (or the file's end).
            let mut extra = bits.align() as usize;
            if bits.marker.is_none() {
                let rest = data.get(bits.pos..).unwrap_or_default();
                extra += rest
                    .windows(2)
                    .position(|w| w[0] == 0xff && w[1] != 0x00)
                    .unwrap_or(rest.len());
            }
            (extra > 0).then(|| {
                format!("JPEG scan data runs {extra} bytes past the frame's last block: corrupt")
            })
        }
        Err(ScanError::Short) => Some(format!(
            "JPEG scan data ends after {done} of {mcus} blocks rows×columns (MCUs): the file was cut short"
        )),
        Err(ScanError::BadCode) => Some(format!(
            "JPEG scan data is corrupt: an invalid Huffman code after {done} of {mcus} MCUs"
        )),
        Err(ScanError::Restart(want, got)) => Some(format!(
            "JPEG restart marker RST{} expected after {done} of {mcus} MCUs, found {}: corrupt scan data",
            want - 0xd0,
            got.map_or("data".into(), |m| format!("marker {m:#04x}"))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_jpeg_is_detected() {
        // SOI, an APP1 holding a thumbnail's SOI/SOS/EOI, SOS, data with a
        // stuffed FF and a restart, EOI.
        let complete = [
            0xff, 0xd8, 0xff, 0xe1, 0, 8, 0xff, 0xd8, 0xff, 0xda, 0xff, 0xd9, 0xff, 0xda, 0, 2, 1,
            2, 0xff, 0x00, 3, 0xff, 0xd0, 4, 0xff, 0xd9,
        ];
        assert!(reaches_end_of_image(&complete));
        assert!(!reaches_end_of_image(&complete[..20]));
        assert!(!reaches_end_of_image(&complete[..24]));
        assert!(!reaches_end_of_image(&[0xff, 0xd8]));
        // A motion photo's trailer after the end-of-image, FF DA and all.
        let mut motion = complete.to_vec();
        motion.extend_from_slice(&[0x11, 0xff, 0xda, 0x11, 0x11]);
        assert!(reaches_end_of_image(&motion));
        // Progressive: several scans with tables between them.
        let progressive = [
            0xff, 0xd8, 0xff, 0xda, 0, 2, 7, 0xff, 0xc4, 0, 3, 9, 0xff, 0xda, 0, 2, 8, 0xff, 0xd9,
        ];
        assert!(reaches_end_of_image(&progressive));
        assert!(!reaches_end_of_image(&progressive[..15]));
    }

    fn jpeg() -> Vec<u8> {
        crate::ingest::decode::test_jpeg(120, 88)
    }

    #[test]
    fn an_intact_scan_holds_its_frame() {
        assert_eq!(problem(&jpeg()), None);
    }

    #[test]
    fn a_scan_cut_short_and_closed_is_found() {
        let bytes = jpeg();
        for keep in [bytes.len() / 2, bytes.len() * 9 / 10, bytes.len() - 40] {
            let mut cut = bytes[..keep].to_vec();
            cut.extend_from_slice(&[0xff, 0xd9]);
            let p = problem(&cut).unwrap_or_default();
            assert!(
                p.contains("cut short") || p.contains("corrupt"),
                "{keep}: {p}"
            );
        }
    }
}

#[cfg(test)]
mod timing {
    #[test]
    #[ignore = "timing probe: cargo test --release --lib jpeg_scan_cost -- --ignored --nocapture"]
    fn jpeg_scan_cost() {
        // A 12 MP photo: the distance series' 30 cm photo enlarged, q90.
        let photo = image::open(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/photos/distance/30cm.jpg"),
        )
        .unwrap()
        .resize_exact(4000, 3000, image::imageops::FilterType::Triangle)
        .to_rgb8();
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&photo)
            .unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            assert!(super::problem(&bytes).is_none());
            let walk = t.elapsed();
            let t = std::time::Instant::now();
            let _ = image::load_from_memory(&bytes).unwrap();
            let lenient = t.elapsed();
            let t = std::time::Instant::now();
            let _ = crate::ingest::decode::jpeg(&bytes).ok().unwrap();
            let strict = t.elapsed();
            println!("walk {walk:?}  image crate {lenient:?}  strict incl. walk {strict:?}");
        }
    }
}
