//! Report: the output contract (JSON Lines records, generated JSON Schema),
//! exporters, and overlay images.

pub mod csv_export;
pub mod fhir;
pub mod overlay;
pub mod patient;
pub mod pseudonym;
pub mod sink;

use crate::error::ErrorCode;
use crate::face::detect::DetectorKind;
use crate::face::Pose;
use crate::ingest::{InputInfo, Shard, Subject};
use crate::measure::{PigmentReport, PoreReport, ScarReport};
use crate::quality::{QualityReport, Thresholds};
use crate::scale::Scale;
use crate::zones::ZoneSummary;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the record layout. Bump the major part on any change that can
/// break a consumer (renamed or removed field, changed meaning or unit).
pub const SCHEMA_VERSION: &str = "3.6.0";

/// One line of the results file.
#[allow(clippy::large_enum_variant)] // one summary per run; boxing it buys nothing
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Image(Box<ImageRecord>),
    Summary(SummaryRecord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    /// What went wrong (stable, for programs).
    pub code: ErrorCode,
    /// What went wrong with this input, for people.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelRef {
    /// The model file's name in `models/`.
    pub name: String,
    /// SHA-256 of the model file as loaded (hex), checked against the manifest.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    /// `dermascore`.
    pub name: String,
    /// The tool's version (Cargo package version).
    pub version: String,
    /// The git commit the binary was built from (40 hex digits, with
    /// `-dirty` when tracked files differed from it); null when it was
    /// built outside a git checkout. Two builds of one version can measure
    /// differently; this tells them apart.
    #[serde(default)]
    pub commit: Option<String>,
}

impl ToolInfo {
    pub fn current() -> Self {
        let commit = env!("DERMASCORE_GIT_COMMIT");
        Self {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: (!commit.is_empty()).then(|| commit.to_string()),
        }
    }

    /// `0.1.0 (commit 1a2b3c4d5e6f)`, or the version alone: for people.
    pub fn written(&self) -> String {
        match &self.commit {
            Some(c) => {
                let dirty = if c.ends_with("-dirty") {
                    ", modified"
                } else {
                    ""
                };
                format!("{} (commit {}{dirty})", self.version, &c[..c.len().min(12)])
            }
            None => self.version.clone(),
        }
    }
}

/// Face box in image pixels (top-left corner and size).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BoxPx {
    /// Left edge, image pixels.
    pub x: f64,
    /// Top edge, image pixels.
    pub y: f64,
    /// Width, image pixels.
    pub width: f64,
    /// Height, image pixels.
    pub height: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EyeState {
    /// Lid gap over eye width; the eye counts as open at ≥ 0.20 (iris-model eyelid contour).
    pub right_openness: f64,
    /// As `right_openness`, for the subject's left eye.
    pub left_openness: f64,
    /// Both eyes open: an iris scale needs open eyes.
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaceReport {
    /// Faces found; the largest is analysed.
    pub count: usize,
    /// Which face detector found the face (short range first, then full range).
    pub detector: DetectorKind,
    /// The detector's confidence for the analysed face (0–1).
    pub detection_score: f64,
    /// The detector's face box.
    pub box_px: BoxPx,
    /// Face-mesh presence probability.
    pub mesh_presence: f64,
    /// Head orientation from the face mesh (its depth stretched by
    /// `MESH_DEPTH_SCALE`).
    pub pose: Pose,
    /// Whether the eyes are open, from the iris model's eyelid contour.
    pub eyes: EyeState,
    /// The 468 mesh landmarks as [x, y] image pixels; only with `--landmarks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks_px: Option<Vec<[f64; 2]>>,
    /// Each landmark's depth from the mesh, in image pixels, growing away
    /// from the camera (relative: 0 is the mesh's centre); only with
    /// `--landmarks`. The zones' surface areas and the pose come from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks_depth_px: Option<Vec<f64>>,
}

/// Wall-clock time spent per stage, in milliseconds. Varies run to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Timing {
    /// Reading, checking and decoding the file, ms.
    pub decode_ms: f64,
    /// Face detection, mesh, irises and scale, ms.
    pub face_ms: f64,
    /// All measurements; the three parts below, plus loading a capture
    /// set's other photos.
    pub measure_ms: f64,
    /// Pore measurement (zone patches at 16 px/mm and the pore model), ms.
    #[serde(default)]
    pub pores_ms: f64,
    /// Includes resampling the zones to 4 px/mm, which the scar model reuses.
    #[serde(default)]
    pub pigmentation_ms: f64,
    /// Acne-scar measurement (one-photo model or photometric stereo), ms.
    #[serde(default)]
    pub acne_scars_ms: f64,
    /// The whole photo, ms.
    pub total_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverlayKind {
    /// Mesh, zones, irises, scale bar, pores and spots.
    Geometry,
    /// Melanin-index map of the measured skin.
    Melanin,
    /// Haemoglobin-index map of the measured skin.
    Haemoglobin,
    /// Depth below the local skin surface (mm) measured from a multi-light
    /// capture, with the scars found, a colour bar and a scale bar.
    Relief,
}

impl OverlayKind {
    /// What the picture shows, for people (FHIR Media titles).
    pub fn label(self) -> &'static str {
        match self {
            Self::Geometry => "zones, pores, spots and scars",
            Self::Melanin => "melanin map",
            Self::Haemoglobin => "haemoglobin map",
            Self::Relief => "relief (depth) map",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OverlayFile {
    /// What the image shows.
    pub kind: OverlayKind,
    /// Relative to the output directory.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceProfileRef {
    /// The device profile's `name`.
    pub name: String,
    /// SHA-256 of the profile file as read (hex).
    pub sha256: String,
}

/// A sitting's photos: which light each was taken under, what it gave,
/// and the one scale they share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionReport {
    /// The name the device profile's patterns give the sitting; in a
    /// pseudonymised run a keyed hash of it (`sitting_…`), since file names
    /// can carry a patient's name.
    pub name: String,
    /// Every photo of the sitting, in the order read.
    pub photos: Vec<SessionPhoto>,
    /// Whether the device profile's colour correction was applied to every
    /// photo before measuring.
    pub colour_corrected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionPhoto {
    /// The photo's path as given (or its pseudonym).
    pub path: String,
    /// The light it was taken under (from the device profile, a sidecar or its
    /// pixels).
    pub modality: crate::capture::Modality,
    /// This photo's own scale estimate, px/mm, before the session's were
    /// combined; null when it gave none.
    pub own_px_per_mm: Option<f64>,
    /// The concerns read from this photo.
    pub read_for: Vec<crate::quality::Concern>,
    /// Why this photo could not be used, when it could not.
    pub error: Option<String>,
}

/// Everything measured on one photo.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImageRecord {
    /// Version of this schema the record follows (semver).
    pub schema_version: String,
    /// `ok` when the photo was analysed (some concerns may still be
    /// unmeasured, each saying why), `error` when it could not be.
    pub status: Status,
    /// Present when `status` is `error`.
    pub error: Option<ErrorInfo>,
    /// The file: path (pseudonymised in such runs), index, sha256, size,
    /// dimensions and colour layout.
    pub input: InputInfo,
    /// Patient, visit date and view, from the folder layout or the manifest;
    /// null when neither gives them.
    pub subject: Option<Subject>,
    /// Exposure, sharpness, pose, light and per-zone checks, and which
    /// concerns the photo can be measured for.
    pub quality: Option<QualityReport>,
    /// Pixels per millimetre, its uncertainty and where it came from (irises,
    /// eye distance, the command line, a device, a sitting); null when the
    /// photo failed before it.
    pub scale: Option<Scale>,
    /// The face found: detector, box, pose, eye state; null for close-ups and failed photos.
    pub face: Option<FaceReport>,
    /// The zones: name, pixels, area (cm², when there is a scale) and share
    /// outside the frame.
    pub zones: Vec<ZoneSummary>,
    /// Pores per zone and face; null when the photo failed before measuring.
    pub pores: Option<PoreReport>,
    /// Colour, pigmented spots and the mMASI-style estimate.
    pub pigmentation: Option<PigmentReport>,
    /// Atrophic acne scars: measured from a multi-light capture set, or
    /// estimated from one photo; null when the photo failed before measuring.
    pub acne_scars: Option<ScarReport>,
    /// The photos of a sitting under different lights that this record
    /// was measured from (with a device profile); null for one photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionReport>,
    /// Overlay PNGs written with `--overlays`.
    pub overlays: Vec<OverlayFile>,
    /// Microneedling plan, with `--plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::plan::Plan>,
    /// Every model used, by name and sha256.
    pub models: Vec<ModelRef>,
    /// This tool's name and version.
    pub tool: ToolInfo,
    /// Time per stage, ms (varies run to run).
    pub timing: Timing,
}

/// How this run executed: threads, device, command line, wall time and
/// memory. Differs between otherwise identical runs, so reproducibility
/// comparisons leave it out (as they leave out each image's `timing`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunInfo {
    /// Worker threads.
    pub threads: usize,
    /// Where inference ran: `cpu` or `cuda`.
    pub device: String,
    /// The command line (option names only in pseudonymised runs).
    pub command_line: Vec<String>,
    /// Records taken over from an earlier, interrupted run (`--resume`).
    pub resumed: u64,
    /// Wall time of the whole run, ms.
    pub wall_ms: f64,
    /// Wall time divided by images analysed now: throughput, all workers together.
    pub wall_ms_per_image: f64,
    /// Mean of the per-image totals (one worker's latency).
    pub mean_image_ms: f64,
    /// Peak resident memory of the process (Linux VmHWM); null elsewhere.
    pub peak_memory_mb: Option<f64>,
    /// The folder the run started in, against which the records' relative
    /// input paths resolve (so that `report` and `verify` find the photos
    /// from anywhere); absent from pseudonymised runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
}

/// Where a record's input path points: relative paths resolve against the
/// run's working directory, when it recorded one.
pub fn resolve_input(path: &str, working_directory: Option<&str>) -> std::path::PathBuf {
    let p = std::path::Path::new(path);
    match working_directory {
        Some(wd) if p.is_relative() => std::path::Path::new(wd).join(p),
        _ => p.to_path_buf(),
    }
}

/// The last line of a run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SummaryRecord {
    /// Version of this schema the run follows (semver).
    pub schema_version: String,
    /// This tool's name and version.
    pub tool: ToolInfo,
    /// Every model used, by name and sha256.
    pub models: Vec<ModelRef>,
    /// sha256 of the treatment protocol in force (with `--plan`).
    pub protocol_sha256: Option<String>,
    /// The device profile in force (`--device-profile`): its name and the
    /// sha256 of its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_profile: Option<DeviceProfileRef>,
    /// Inputs in this run (this shard's share, when sharded).
    pub images: u64,
    /// Inputs analysed (`status: ok`).
    pub ok: u64,
    /// Inputs with an error record.
    pub failed: u64,
    /// Failed inputs per error code.
    pub errors_by_code: BTreeMap<ErrorCode, u64>,
    /// Photos with more than one face.
    pub multiple_faces: u64,
    /// Photos usable for each concern.
    pub usable_for_pores: u64,
    /// Photos whose quality and resolution allow acne-scar measurement.
    pub usable_for_acne_scars: u64,
    /// Photos whose quality, light and resolution allow pigmentation measurement.
    pub usable_for_pigmentation: u64,
    /// The quality and resolution limits in force.
    pub thresholds: Thresholds,
    /// This process's share of the inputs, when sharded.
    pub shard: Option<Shard>,
    /// Inputs before sharding, and a sha256 over their paths in sorted order,
    /// so that `merge` can tell whether shards came from the same list.
    pub inputs_total: u64,
    /// sha256 over the input paths in sorted order (before sharding), so
    /// `merge` can tell shards of one list.
    pub input_list_sha256: String,
    /// How the run executed (threads, device, times, memory).
    pub run: RunInfo,
}

/// `text` made safe as part of a file name: ASCII letters, digits, `-` and
/// `_` kept, anything else replaced by `_`.
pub fn safe_file_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A file stem for each of `ids`, in order: [`safe_file_name`], with a short
/// hash of the id added where two ids would share a name (José and Josè),
/// so that no file overwrites another.
pub fn unique_file_stems(ids: &[&str]) -> Vec<String> {
    let mut uses: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for id in ids {
        *uses.entry(safe_file_name(id)).or_default() += 1;
    }
    ids.iter()
        .map(|id| {
            let name = safe_file_name(id);
            if uses.get(&name).copied().unwrap_or(0) > 1 {
                let hash = crate::models::hex_sha256(id.as_bytes());
                format!("{name}-{}", &hash[..8])
            } else {
                name
            }
        })
        .collect()
}

/// The JSON Schema of one results line, generated from these types.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Record)).unwrap_or_default()
}

/// Significant digits of every number written: more than any measurement
/// here resolves, fewer than the 17 of a binary float's last bits, which
/// read as precision the tool does not have (37.33077562102896 pores/cm²).
pub const SIGNIFICANT_DIGITS: i32 = 6;

/// `value` as JSON with each non-integer number rounded to
/// [`SIGNIFICANT_DIGITS`] (integers untouched; never `-0`). Every JSON
/// output goes through this.
pub fn rounded_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(value)?;
    round_numbers(&mut v);
    Ok(v)
}

fn round_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(r) = n
                .as_f64()
                .map(round_significant)
                .and_then(serde_json::Number::from_f64)
            {
                *n = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_numbers),
        Value::Object(map) => map.values_mut().for_each(round_numbers),
        _ => {}
    }
}

/// `value` as indented JSON text, numbers rounded as [`rounded_json`]: how
/// every JSON document (compare, cohort, MDC table) is written.
pub fn pretty_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&rounded_json(value)?)
}

/// `x` written for a CSV cell, to [`SIGNIFICANT_DIGITS`].
pub fn number_text(x: f64) -> String {
    round_significant(x).to_string()
}

/// `x` to [`SIGNIFICANT_DIGITS`]: an integer count of the last kept digit
/// divided (or multiplied) by an exact power of ten, which prints as the
/// short decimal; zero is always +0.
pub fn round_significant(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0; // +0 for -0 too
    }
    if !x.is_finite() {
        return x;
    }
    // A non-zero number keeps its leading digit: the result is never 0.
    let decimals = SIGNIFICANT_DIGITS - 1 - x.abs().log10().floor() as i32;
    if decimals >= 0 {
        let p = 10f64.powi(decimals);
        (x * p).round() / p
    } else {
        let p = 10f64.powi(-decimals);
        (x / p).round() * p
    }
}

#[cfg(test)]
mod rounding_tests {
    use super::*;

    #[test]
    fn numbers_keep_six_significant_digits_and_print_short() {
        let v = rounded_json(&serde_json::json!({
            "density": 37.330775621028955, "small": 0.00012345678, "big": 1234567.89,
            "count": 4255, "tiny_negative": -1e-12, "score": 79.0, "list": [0.1 + 0.2]
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"density":37.3308,"small":0.000123457,"big":1234570.0,"count":4255,"tiny_negative":-1e-12,"score":79.0,"list":[0.3]}"#
        );
        assert_eq!(round_significant(-0.0), 0.0);
        assert!(round_significant(-0.0).is_sign_positive());
    }
}
