//! Strict decoding: a photo is what its file claims, or an error.
//!
//! The image crate's decoders are lenient by design: a JPEG with a broken
//! scan is filled with grey, a PNG's zlib checksum is not verified. A
//! measurement on such pixels reads as a real change between visits, so
//! JPEG and PNG are decoded here with every check on, and a header that
//! claims more pixels than the file's bytes could encode is refused before
//! anything is allocated.

use super::{Photo, Rgb16Image};
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageBuffer, RgbImage};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

/// What a strict decoder gives back: the photo as stored (before its
/// orientation is applied) and its colour layout as stored.
pub struct Decoded {
    pub photo: Photo,
    pub colour: ColorType,
    pub orientation: Orientation,
}

impl Decoded {
    fn of(image: DynamicImage, orientation: Orientation) -> Self {
        Self {
            colour: image.color(),
            photo: Photo::from_decoded(image),
            orientation,
        }
    }
}

/// Why a file was not decoded.
#[derive(Debug)]
pub enum Refusal {
    /// The header declares `w`×`h`, which the caller checks against its
    /// pixel limit first.
    Header(String),
    /// The declared size cannot be encoded in so few bytes.
    Implausible(String),
    /// Decoding found the data broken.
    Corrupt(String),
}

/// Fewest bytes a JPEG of `pixels` can have: every 8×8 block of the first
/// component codes at least a 1-bit DC difference (progressive AC scans can
/// skip blocks with end-of-band runs, DC scans cannot). Half of that bound,
/// for safety.
fn jpeg_min_bytes(pixels: u64) -> u64 {
    pixels / 64 / 8 / 2
}

/// Fewest bytes a PNG with `raw` bytes of filtered scanlines can have:
/// deflate expands at most 1032:1; rounded down to 1100:1 for headers.
fn png_min_bytes(raw: u64) -> u64 {
    raw / 1100
}

/// Dimensions from the JPEG's frame header, without decoding it.
pub fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32), Refusal> {
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options());
    d.decode_headers()
        .map_err(|e| Refusal::Header(format!("cannot decode header: {e}")))?;
    let (w, h) = d
        .dimensions()
        .ok_or_else(|| Refusal::Header("no frame header".into()))?;
    Ok((w as u32, h as u32))
}

fn options() -> DecoderOptions {
    DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
}

/// Decodes a JPEG, refusing any error the decoder would otherwise paper
/// over (bad Huffman data, unexpected or missing markers, scan data shorter
/// than the frame).
pub fn jpeg(bytes: &[u8]) -> Result<Decoded, Refusal> {
    let (w, h) = jpeg_dimensions(bytes)?;
    let pixels = u64::from(w) * u64::from(h);
    if (bytes.len() as u64) < jpeg_min_bytes(pixels) {
        return Err(Refusal::Implausible(format!(
            "the header claims {w}x{h}, which a JPEG cannot encode in {} bytes (at least {})",
            bytes.len(),
            jpeg_min_bytes(pixels)
        )));
    }
    if let Some(p) = super::jpeg_scan::problem(bytes) {
        return Err(Refusal::Corrupt(p));
    }
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options());
    d.decode_headers()
        .map_err(|e| Refusal::Header(format!("cannot decode header: {e}")))?;
    let grey = matches!(
        d.input_colorspace(),
        Some(ColorSpace::Luma | ColorSpace::LumaA)
    );
    let out = if grey {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    d.set_options(options().jpeg_set_out_colorspace(out));
    let orientation = d
        .exif()
        .and_then(|e| Orientation::from_exif_chunk(e))
        .unwrap_or(Orientation::NoTransforms);
    let data = d
        .decode()
        .map_err(|e| Refusal::Corrupt(format!("JPEG data is corrupt: {e}")))?;
    let image = if grey {
        ImageBuffer::from_raw(w, h, data).map(DynamicImage::ImageLuma8)
    } else {
        ImageBuffer::from_raw(w, h, data).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| Refusal::Corrupt("JPEG decoded to fewer pixels than its header".into()))?;
    Ok(Decoded::of(image, orientation))
}

/// Decodes a PNG with its CRCs and zlib checksums verified, reading to its
/// end chunk.
pub fn png(bytes: &[u8]) -> Result<Decoded, Refusal> {
    png_from(std::io::Cursor::new(bytes), bytes.len() as u64)
}

/// When a file was last changed, as far as can be told: its size and
/// modification time.
pub type FileStamp = (u64, Option<std::time::SystemTime>);

pub fn file_stamp(file: &std::fs::File) -> std::io::Result<FileStamp> {
    file.metadata().map(|m| (m.len(), m.modified().ok()))
}

/// `png` read from an open file in pieces. `stamp`: the file's when it was
/// hashed; a file changed since is refused, since its hash would not
/// describe the pixels.
pub fn png_file(mut file: std::fs::File, stamp: FileStamp) -> Result<Decoded, Refusal> {
    let unreadable = |e: std::io::Error| Refusal::Corrupt(format!("cannot read file: {e}"));
    std::io::Seek::rewind(&mut file).map_err(unreadable)?;
    let decoded = png_from(std::io::BufReader::new(&file), stamp.0)?;
    if file_stamp(&file).map_err(unreadable)? != stamp {
        return Err(Refusal::Corrupt(
            "the file changed while it was read".into(),
        ));
    }
    Ok(decoded)
}

/// The PNG decoder's message, written for people: it prints a chunk's
/// type as a Rust structure (`ChunkType { type: bage, critical: false, ...
/// }`), shown here as the chunk's name (`chunk bage`).
fn png_message(e: &png::DecodingError) -> String {
    chunk_names(&e.to_string())
}

fn chunk_names(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("ChunkType {") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after.find('}').map_or(after.len(), |i| i + 1);
        let name = after
            .split("type: ")
            .nth(1)
            .and_then(|t| t.split([',', ' ', '}']).next())
            .unwrap_or("?");
        out.push_str(&format!("chunk {name}"));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn png_from<R: std::io::BufRead + std::io::Seek>(source: R, len: u64) -> Result<Decoded, Refusal> {
    let mut decoder = png::Decoder::new(source);
    decoder.ignore_checksums(false);
    decoder.set_transformations(png::Transformations::EXPAND);
    let corrupt = |e: png::DecodingError| {
        Refusal::Corrupt(format!("PNG data is corrupt: {}", png_message(&e)))
    };
    let mut reader = decoder
        .read_info()
        .map_err(|e| Refusal::Header(format!("cannot decode header: {}", png_message(&e))))?;
    let info = reader.info();
    let (w, h) = (info.width, info.height);
    let raw = info.raw_row_length() as u64 * u64::from(h);
    if len < png_min_bytes(raw) {
        return Err(Refusal::Implausible(format!(
            "the header claims {w}x{h}, which a PNG cannot encode in {} bytes (at least {})",
            len,
            png_min_bytes(raw)
        )));
    }
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    if !reader.info().interlaced {
        return png_rows(reader, orientation);
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Refusal::Implausible(format!("{w}x{h} does not fit in memory")))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(corrupt)?;
    reader.finish().map_err(corrupt)?;
    buf.truncate(frame.buffer_size());
    let (colour, depth) = (frame.color_type, frame.bit_depth);
    let wide = || -> Vec<u16> {
        buf.chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    };
    use png::{BitDepth::Sixteen, ColorType::*};
    let image = match (colour, depth == Sixteen) {
        (Grayscale, false) => ImageBuffer::from_raw(w, h, buf).map(DynamicImage::ImageLuma8),
        (GrayscaleAlpha, false) => ImageBuffer::from_raw(w, h, buf).map(DynamicImage::ImageLumaA8),
        (Rgb, false) => ImageBuffer::from_raw(w, h, buf).map(DynamicImage::ImageRgb8),
        (Rgba, false) => ImageBuffer::from_raw(w, h, buf).map(DynamicImage::ImageRgba8),
        (Grayscale, true) => ImageBuffer::from_raw(w, h, wide()).map(DynamicImage::ImageLuma16),
        (GrayscaleAlpha, true) => {
            ImageBuffer::from_raw(w, h, wide()).map(DynamicImage::ImageLumaA16)
        }
        (Rgb, true) => ImageBuffer::from_raw(w, h, wide()).map(DynamicImage::ImageRgb16),
        (Rgba, true) => ImageBuffer::from_raw(w, h, wide()).map(DynamicImage::ImageRgba16),
        // EXPAND turns palettes and sub-byte greys into the above.
        (Indexed, _) => None,
    }
    .ok_or_else(|| Refusal::Corrupt("PNG decoded to an unexpected colour layout".into()))?;
    Ok(Decoded::of(image, orientation))
}

/// A progressive (non-interlaced) PNG read row by row straight into the
/// photo's own buffers: the file's whole raw image (8 bytes a pixel for
/// 16-bit RGBA: 800 MB at 100 MP) and its conversions are never held at
/// once. Same values as `Photo::from_decoded` on the whole image (alpha
/// read into `transparent`, grey copied to RGB, 16-bit rounded to 8 as the
/// image crate does).
fn png_rows<R: std::io::BufRead + std::io::Seek>(
    mut reader: png::Reader<R>,
    orientation: Orientation,
) -> Result<Decoded, Refusal> {
    use png::ColorType as P;
    let corrupt = |e: png::DecodingError| {
        Refusal::Corrupt(format!("PNG data is corrupt: {}", png_message(&e)))
    };
    let (w, h) = (reader.info().width, reader.info().height);
    let (kind, depth) = reader.output_color_type();
    let deep = depth == png::BitDepth::Sixteen;
    let (samples, colour) = match (kind, deep) {
        (P::Grayscale, false) => (1, ColorType::L8),
        (P::GrayscaleAlpha, false) => (2, ColorType::La8),
        (P::Rgb, false) => (3, ColorType::Rgb8),
        (P::Rgba, false) => (4, ColorType::Rgba8),
        (P::Grayscale, true) => (1, ColorType::L16),
        (P::GrayscaleAlpha, true) => (2, ColorType::La16),
        (P::Rgb, true) => (3, ColorType::Rgb16),
        (P::Rgba, true) => (4, ColorType::Rgba16),
        (P::Indexed, _) => {
            return Err(Refusal::Corrupt(
                "PNG decoded to an unexpected layout Indexed".into(),
            ))
        }
    };
    // Which stored sample each of R, G, B is.
    let pick: [usize; 3] = if samples < 3 { [0, 0, 0] } else { [0, 1, 2] };
    let bytes = if deep { 2 } else { 1 };
    let row_len = w as usize * 3;
    let mut rgb = vec![0u8; row_len * h as usize];
    let mut wide = if deep {
        vec![0u16; row_len * h as usize]
    } else {
        Vec::new()
    };
    // The alpha sample, when there is one: below full, the pixel is
    // transparent (`Photo::transparent`).
    let alpha = (samples == 2 || samples == 4).then_some(samples - 1);
    // Allocated at the first transparent pixel: an opaque 100 MP photo's
    // alpha costs no mask.
    let mut clear: Option<Vec<u8>> = None;
    let mut y = 0usize;
    while let Some(row) = reader.next_row().map_err(corrupt)? {
        let data = row.data();
        if y >= h as usize || data.len() < w as usize * samples * bytes {
            return Err(Refusal::Corrupt("PNG rows do not match its header".into()));
        }
        let out8 = &mut rgb[y * row_len..(y + 1) * row_len];
        if let Some(a) = alpha {
            for (x, px) in data
                .chunks_exact(samples * bytes)
                .take(w as usize)
                .enumerate()
            {
                if px[a * bytes..(a + 1) * bytes].iter().any(|&b| b != u8::MAX) {
                    let mask = clear.get_or_insert_with(|| vec![0u8; w as usize * h as usize]);
                    mask[y * w as usize + x] = 255;
                }
            }
        }
        if deep {
            let out16 = &mut wide[y * row_len..(y + 1) * row_len];
            for (x, px) in data.chunks_exact(samples * 2).take(w as usize).enumerate() {
                for (c, &k) in pick.iter().enumerate() {
                    let v = u16::from_be_bytes([px[2 * k], px[2 * k + 1]]);
                    out16[x * 3 + c] = v;
                    out8[x * 3 + c] = ((u32::from(v) + 128) / 257) as u8;
                }
            }
        } else {
            for (x, px) in data.chunks_exact(samples).take(w as usize).enumerate() {
                for (c, &k) in pick.iter().enumerate() {
                    out8[x * 3 + c] = px[k];
                }
            }
        }
        y += 1;
    }
    reader.finish().map_err(corrupt)?;
    if y != h as usize {
        return Err(Refusal::Corrupt(format!("PNG has {y} of its {h} rows")));
    }
    let short = || Refusal::Corrupt("PNG decoded to fewer pixels than its header".into());
    let mut photo = Photo {
        rgb: RgbImage::from_raw(w, h, rgb).ok_or_else(short)?,
        deep: if deep {
            Some(Rgb16Image::from_raw(w, h, wide).ok_or_else(short)?)
        } else {
            None
        },
        transparent: None,
    };
    if let Some(clear) = clear {
        photo = photo.with_transparent(image::GrayImage::from_raw(w, h, clear).ok_or_else(short)?);
    }
    Ok(Decoded {
        photo,
        colour,
        orientation,
    })
}

/// A small JPEG with texture in every channel, for the decoding tests.
#[cfg(test)]
pub(crate) fn test_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x * y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .unwrap_or_else(|e| panic!("encoding a test JPEG: {e}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_chunk_types_are_named_not_printed_as_structures() {
        assert_eq!(
            chunk_names("ChunkType { type: bage, critical: false, private: true, reserved: true, safecopy: true } chunk appeared before IHDR chunk"),
            "chunk bage chunk appeared before IHDR chunk"
        );
        assert_eq!(chunk_names("no chunk here"), "no chunk here");
    }

    /// Row by row, a PNG of every layout gives what decoding it whole and
    /// converting gives.
    #[test]
    fn png_rows_match_the_whole_image_conversion() {
        let (w, h) = (37u32, 11u32);
        let value = |x: u32, y: u32, c: u32| ((x * 1777 + y * 911 + c * 20_011) % 65_536) as u16;
        let deep = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(w, h, |x, y| {
            image::Rgba([0, 1, 2, 3].map(|c| value(x, y, c)))
        });
        let whole = DynamicImage::ImageRgba16(deep);
        for layout in [
            whole.clone(),
            DynamicImage::ImageRgb16(whole.to_rgb16()),
            DynamicImage::ImageLumaA16(whole.to_luma_alpha16()),
            DynamicImage::ImageLuma16(whole.to_luma16()),
            DynamicImage::ImageRgba8(whole.to_rgba8()),
            DynamicImage::ImageRgb8(whole.to_rgb8()),
            DynamicImage::ImageLuma8(whole.to_luma8()),
            DynamicImage::ImageLumaA8(whole.to_luma_alpha8()),
        ] {
            let mut bytes = Vec::new();
            layout
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .unwrap();
            let d = png(&bytes).unwrap();
            let want = Photo::from_decoded(image::load_from_memory(&bytes).unwrap());
            assert_eq!(d.colour, layout.color());
            assert_eq!(d.photo.rgb, want.rgb, "{:?}", layout.color());
            assert_eq!(d.photo.deep, want.deep, "{:?}", layout.color());
            assert_eq!(
                d.photo.transparent,
                want.transparent,
                "{:?}",
                layout.color()
            );
        }
    }

    #[test]
    fn an_intact_jpeg_decodes_and_a_cut_one_is_refused() {
        let bytes = test_jpeg(96, 80);
        let d = jpeg(&bytes).unwrap();
        assert_eq!(d.photo.rgb.dimensions(), (96, 80));
        // Cut half the scan and close the file again with an end marker.
        let mut cut = bytes[..bytes.len() / 2].to_vec();
        cut.extend_from_slice(&[0xff, 0xd9]);
        assert!(matches!(jpeg(&cut), Err(Refusal::Corrupt(_))));
    }

    #[test]
    fn a_header_larger_than_its_bytes_is_refused_before_decoding() {
        let mut bytes = test_jpeg(64, 64);
        // Rewrite the baseline frame header (FF C0 len P H W) to 10000x10000.
        let sof = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&10000u16.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&10000u16.to_be_bytes());
        assert!(matches!(jpeg(&bytes), Err(Refusal::Implausible(_))));
    }

    #[test]
    fn a_png_with_a_bad_checksum_is_refused() {
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
        assert!(png(&bytes).is_ok());
        // Flip one bit inside the compressed image data.
        let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap();
        let mut flipped = bytes.clone();
        flipped[idat + 10] ^= 0x10;
        assert!(matches!(png(&flipped), Err(Refusal::Corrupt(_))));
    }
}
