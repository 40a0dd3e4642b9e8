//! The measurement's own noise: each photo re-analysed as if re-captured —
//! every repeat combines a scale change (±15 %), exposure (±10 %), a
//! white-balance cast (±5 % per channel), JPEG re-compression (quality
//! 70–95) and a rotation (±3°), drawn from a fixed seed — and, per metric,
//! the pooled within-photo SD (the standard error of measurement) and the
//! minimal detectable change MDC95 = 1.96 · √2 · SEM. A change between
//! visits smaller than the MDC is not a change.

use crate::cohort::{self, Metric};
use crate::error::InputError;
use crate::ingest::{self, InputInfo, InputItem, Photo};
use crate::measure::colour::relight;
use crate::pipeline::Analyzer;
use crate::report::Status;
use image::{imageops, GrayImage, Pixel, RgbImage};
use imageproc::definitions::Image;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The compiled-in table, made by `dermascore repeatability` (see README).
pub const DEFAULT_TABLE: &str = include_str!("../../models/mdc.json");

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Perturbation {
    Scale(f32),
    Exposure(f64),
    WhiteBalance([f64; 3]),
    JpegQuality(u8),
    RotateDeg(f32),
}

/// Repeat captures per photo.
pub const REPEATS: usize = 8;
/// A metric gets an MDC only from at least this many photos whose readings
/// vary: one face's flicker (a finding seen in one re-capture of one photo)
/// is not the noise of the measurement.
pub const MIN_PHOTOS: usize = 2;

/// The repeat captures: each a combination of all five changes, from a
/// fixed seed so the table is reproducible.
pub fn captures() -> Vec<Vec<Perturbation>> {
    let mut state = 0x5eed_1234_abcd_9876u64;
    let mut uniform = move |lo: f64, hi: f64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lo + (hi - lo) * (state % 1_000_000) as f64 / 1_000_000.0
    };
    (0..REPEATS)
        .map(|_| {
            vec![
                Perturbation::Scale(uniform(0.85, 1.15) as f32),
                Perturbation::Exposure(uniform(0.9, 1.1)),
                Perturbation::WhiteBalance([uniform(0.95, 1.05), 1.0, uniform(0.95, 1.05)]),
                Perturbation::RotateDeg(uniform(-3.0, 3.0) as f32),
                Perturbation::JpegQuality(uniform(70.0, 95.0).round() as u8),
            ]
        })
        .collect()
}

/// `img` saved as JPEG at `quality` and decoded again.
pub fn jpeg_round_trip(img: &RgbImage, quality: u8) -> Result<RgbImage, image::ImageError> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img)?;
    Ok(image::load_from_memory(&bytes)?.into_rgb8())
}

pub fn apply(img: &RgbImage, p: Perturbation) -> RgbImage {
    match p {
        Perturbation::Exposure(g) => relight(img, [g; 3]),
        Perturbation::WhiteBalance(g) => relight(img, g),
        Perturbation::JpegQuality(q) => jpeg_round_trip(img, q).unwrap_or_else(|_| img.clone()),
        Perturbation::Scale(_) | Perturbation::RotateDeg(_) => moved(img, p),
    }
}

/// A scale change or a rotation, of a photo or of its transparency mask
/// alike; a colour change leaves the image as it is.
fn moved<P>(img: &Image<P>, p: Perturbation) -> Image<P>
where
    P: Pixel + Send + Sync + 'static,
    P::Subpixel: Send + Sync + Into<f32> + imageproc::definitions::Clamp<f32>,
{
    match p {
        Perturbation::Scale(s) => {
            let (w, h) = (
                ((img.width() as f32) * s).round() as u32,
                ((img.height() as f32) * s).round() as u32,
            );
            imageops::resize(img, w.max(1), h.max(1), imageops::FilterType::Triangle)
        }
        Perturbation::RotateDeg(deg) => imageproc::geometric_transformations::rotate_about_center(
            img,
            deg.to_radians(),
            imageproc::geometric_transformations::Interpolation::Bilinear,
            // Edge pixels fill the corners, as a slightly rotated camera would see more of the scene.
            imageproc::geometric_transformations::Border::Replicate,
        ),
        Perturbation::Exposure(_)
        | Perturbation::WhiteBalance(_)
        | Perturbation::JpegQuality(_) => img.clone(),
    }
}

/// A transparency mask (255 = transparent) under the same change as its
/// photo: resized and turned alike, untouched by the colour changes. A
/// pixel that blends any transparent one is transparent, as `ingest`
/// counts a partly transparent pixel.
pub fn apply_to_mask(mask: &GrayImage, p: Perturbation) -> GrayImage {
    let mut moved = moved(mask, p);
    for v in moved.iter_mut() {
        *v = if *v > 0 { 255 } else { 0 };
    }
    moved
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MdcEntry {
    /// Standard error of measurement: pooled within-photo SD, metric units.
    pub sem: f64,
    /// Minimal detectable change at 95 %: 1.96 · √2 · SEM.
    pub mdc95: f64,
    /// Photos that contributed (those where the metric was measured in ≥ 3
    /// captures and was not zero in all of them).
    pub photos: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MdcTable {
    /// The dermascore version that measured the table, with the git commit
    /// it was built from when known (`0.1.0 (commit 1a2b3c4d5e6f)`).
    pub tool_version: String,
    /// The repeat captures, each a list of changes applied in order.
    pub perturbations: Vec<Vec<Perturbation>>,
    /// Photos by sha256 of their bytes.
    pub photos: Vec<String>,
    /// Per metric name (as `dermascore metrics` lists them): its SEM and MDC95.
    pub metrics: BTreeMap<String, MdcEntry>,
}

impl MdcTable {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A photo the table could not use, and why.
#[derive(Debug)]
pub struct Skipped {
    pub path: std::path::PathBuf,
    pub error: InputError,
}

/// Analyses every photo as captured and under each perturbation. Photos
/// are read as `analyze` reads them (size limits, EXIF orientation); one
/// that cannot be read is skipped and returned with its error, and the
/// table is made from the rest.
pub fn measure(analyzer: &Analyzer, photos: &[std::path::PathBuf]) -> (MdcTable, Vec<Skipped>) {
    let metrics: Vec<Metric> = cohort::metrics();
    // variances[metric] = (sum of squared deviations, degrees of freedom, photos)
    let mut acc: Vec<(f64, f64, usize)> = vec![(0.0, 0.0, 0); metrics.len()];
    let mut shas = Vec::new();
    let mut skipped = Vec::new();
    for path in photos {
        let mut info = InputInfo::unread(path);
        // The repeats are JPEG re-takes, so every capture is 8-bit, the
        // first one included.
        let (base, cut_out) = match ingest::load(path, analyzer.limits(), &mut info) {
            Ok(photo) => (photo.rgb, photo.transparent),
            Err(error) => {
                skipped.push(Skipped {
                    path: path.clone(),
                    error,
                });
                continue;
            }
        };
        shas.extend(info.sha256);
        let item = InputItem {
            modality: None,
            session: None,
            path: path.clone(),
            subject: None,
            capture: None,
        };
        // As captured (no change), then each re-capture, analysed in
        // parallel (the analyzer keeps a set of sessions per worker); results
        // come back in order, so the table does not depend on the thread
        // count.
        let changes: Vec<Vec<Perturbation>> =
            std::iter::once(Vec::new()).chain(captures()).collect();
        let values: Vec<Vec<f64>> = changes
            .par_iter()
            .map(|ps| {
                let v: RgbImage = ps.iter().fold(base.clone(), |img, &p| apply(&img, p));
                // A cut-out's transparent background moves with the photo,
                // so that each re-capture leaves out what `analyze` leaves out.
                let photo = match &cut_out {
                    Some(mask) => {
                        let mask = ps.iter().fold(mask.clone(), |m, &p| apply_to_mask(&m, p));
                        Photo::from(v).with_transparent(mask)
                    }
                    None => Photo::from(v),
                };
                let r = analyzer.analyze_image(photo, &item);
                metrics
                    .iter()
                    .map(|m| {
                        if r.status == Status::Ok {
                            m.value(&r).unwrap_or(f64::NAN)
                        } else {
                            f64::NAN
                        }
                    })
                    .collect()
            })
            .collect();
        for (mi, slot) in acc.iter_mut().enumerate() {
            let v: Vec<f64> = values
                .iter()
                .map(|row| row[mi])
                .filter(|x| x.is_finite())
                .collect();
            // A metric at zero in every capture (no scars found, say)
            // says nothing about how it varies: such a photo does not count,
            // and a metric no photo informs gets no MDC (no verdicts).
            if v.len() >= 3 && v.iter().any(|&x| x != 0.0) {
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                slot.0 += v.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
                slot.1 += (v.len() - 1) as f64;
                slot.2 += 1;
            }
        }
    }
    let mut table = BTreeMap::new();
    for (m, (ss, df, n)) in metrics.iter().zip(acc) {
        if df > 0.0 && n >= MIN_PHOTOS {
            let sem = (ss / df).sqrt();
            table.insert(
                m.name.clone(),
                MdcEntry {
                    sem,
                    mdc95: 1.96 * std::f64::consts::SQRT_2 * sem,
                    photos: n,
                },
            );
        }
    }
    let table = MdcTable {
        tool_version: crate::report::ToolInfo::current().written(),
        perturbations: captures(),
        photos: shas,
        metrics: table,
    };
    (table, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_outs_mask_moves_with_its_photo_and_ignores_colour_changes() {
        // The left quarter transparent, as a cut-out's background.
        let mask = GrayImage::from_fn(40, 40, |x, _| image::Luma([if x < 10 { 255 } else { 0 }]));
        for p in [
            Perturbation::Exposure(1.1),
            Perturbation::WhiteBalance([1.05, 1.0, 0.95]),
            Perturbation::JpegQuality(70),
        ] {
            assert_eq!(apply_to_mask(&mask, p), mask);
        }
        let bigger = apply_to_mask(&mask, Perturbation::Scale(1.5));
        assert_eq!(bigger.dimensions(), (60, 60));
        // Still the left quarter, and a pixel blending the edge counts as
        // transparent (never fewer transparent columns than 10 × 1.5).
        let transparent_cols = (0..60)
            .filter(|&x| bigger.get_pixel(x, 30).0[0] == 255)
            .count();
        assert!((15..=17).contains(&transparent_cols), "{transparent_cols}");
        assert!(bigger.iter().all(|&v| v == 0 || v == 255));
        let turned = apply_to_mask(&mask, Perturbation::RotateDeg(3.0));
        assert_eq!(turned.get_pixel(2, 20).0[0], 255);
        assert_eq!(turned.get_pixel(37, 20).0[0], 0);
    }
}
