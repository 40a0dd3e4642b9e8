//! How hard a JPEG was compressed, from its luminance quantisation table.
//!
//! Most encoders (libjpeg and its descendants, phones, the image crate)
//! scale the standard table of the JPEG specification (Annex K) by the
//! IJG quality factor; inverting that scaling gives the quality the file
//! was written at. Tables of other origin still give a comparable figure.
//! At low quality the 8×8 blocks and the detail they drop read as spots,
//! lesions and texture (`quality::Thresholds::min_jpeg_quality`).

use super::jpeg_scan::{be16, headers};

/// The standard luminance table (JPEG Annex K.1), in the zig-zag order a
/// DQT segment stores.
const STANDARD_LUMA_ZIGZAG: [u16; 64] = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37,
    29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81,
    87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
];

/// The luminance table (table 0), zig-zag order, from the segments before
/// the first scan.
fn luma_table(bytes: &[u8]) -> Option<[u16; 64]> {
    if bytes.get(..2)? != [0xff, 0xd8] {
        return None;
    }
    for seg in headers(bytes).filter(|s| s.marker == 0xdb) {
        let body = seg.body;
        let mut at = 0;
        while at < body.len() {
            let (precision, id) = (body[at] >> 4, body[at] & 15);
            let wide = precision == 1;
            let mut table = [0u16; 64];
            for (k, v) in table.iter_mut().enumerate() {
                *v = if wide {
                    u16::try_from(be16(body, at + 1 + 2 * k)?).ok()?
                } else {
                    u16::from(*body.get(at + 1 + k)?)
                };
            }
            if id == 0 {
                return Some(table);
            }
            at += 1 + if wide { 128 } else { 64 };
        }
    }
    None
}

/// The IJG quality (1–100) the file's luminance table corresponds to;
/// `None` when the bytes hold no such table before the first scan.
/// Entries clipped at the table's limits (1, 255) say nothing about the
/// scale and are left out; the median of the rest is used.
pub fn quality(bytes: &[u8]) -> Option<u8> {
    let table = luma_table(bytes)?;
    let mut scales: Vec<f64> = table
        .iter()
        .zip(STANDARD_LUMA_ZIGZAG)
        .filter(|(&q, _)| q > 1 && q < 255)
        .map(|(&q, s)| f64::from(q) * 100.0 / f64::from(s))
        .collect();
    let scale = if scales.is_empty() {
        // All at 1 (quality 100) or all clipped at 255 (quality 1 or so).
        if table.iter().all(|&q| q <= 1) {
            0.0
        } else {
            5000.0
        }
    } else {
        scales.sort_by(f64::total_cmp);
        scales[scales.len() / 2]
    };
    // IJG: scale = 5000 / q below 50, 200 − 2q from 50.
    let q = if scale <= 100.0 {
        (200.0 - scale) / 2.0
    } else {
        5000.0 / scale
    };
    Some(q.round().clamp(1.0, 100.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(quality: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&img)
            .expect("encode");
        out
    }

    #[test]
    fn the_quality_a_jpeg_was_written_at_is_read_back() {
        for q in [10u8, 25, 50, 75, 90, 97] {
            let got = quality(&encoded(q)).expect("a table");
            assert!(got.abs_diff(q) <= 2, "written at {q}, read {got}");
        }
    }

    #[test]
    fn no_table_no_quality() {
        assert_eq!(quality(b"not a jpeg"), None);
        assert_eq!(quality(&[0xff, 0xd8, 0xff, 0xda, 0, 2]), None);
        let mut cut = encoded(80);
        cut.truncate(20);
        assert_eq!(quality(&cut), None);
    }
}
