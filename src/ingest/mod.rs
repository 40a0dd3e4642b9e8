//! Ingest: which photos to analyse, who and when they belong to, and decoding
//! them safely (format sniffed from the bytes, EXIF orientation applied,
//! pixel limits enforced before any large allocation, JPEG and PNG decoded
//! strictly: `decode`). EXIF is read only for orientation and never copied
//! anywhere.

pub mod decode;
mod jpeg_scan;
pub mod jpeg_tables;
pub mod table;

use crate::capture::{
    read_sidecar, CapturePhoto, CaptureSet, Light, LightDir, LightPos, Modality, MIN_LIGHTS,
    SIDECAR,
};
use crate::error::{ErrorCode, InputError, SetupError};
use crate::models::hex_sha256;
use image::{DynamicImage, GrayImage, ImageBuffer, ImageDecoder, ImageReader, Luma, Rgb, RgbImage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// What directories are searched for (case-insensitive).
/// (`jfif`, `jpe` and `jif` are JPEGs as Windows and browsers save them.)
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "jpe", "jfif", "jif", "png", "tif", "tiff"];

/// Which way the head faces the camera, as the capture protocol names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Front,
    Left,
    Right,
}

impl std::str::FromStr for View {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "front" => Ok(View::Front),
            "left" => Ok(View::Left),
            "right" => Ok(View::Right),
            other => Err(format!("view must be front, left or right, got `{other}`")),
        }
    }
}

/// Who a photo belongs to and when it was taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subject {
    /// Patient id (a keyed pseudonym in pseudonymised runs); null when unknown.
    pub patient_id: Option<String>,
    /// ISO date, YYYY-MM-DD.
    pub visit_date: Option<String>,
    /// `front`, `left` or `right`, when given.
    pub view: Option<View>,
}

/// The photos of one sitting under different lights: one face at one
/// distance, so one scale; each concern is read from the member whose light
/// suits it (`session::member_for`).
#[derive(Debug, Clone)]
pub struct Session {
    /// The name the device profile's patterns give it (`1` for `1.jpg` and
    /// `1_spec.jpg`).
    pub name: String,
    pub members: Vec<InputItem>,
    /// The device's calibrated scale, when its profile has one.
    pub device_px_per_mm: Option<crate::units::PxPerMm>,
    /// The device's colour correction (3×3, linear RGB, from a colour
    /// chart), applied to every photo before measuring.
    pub device_colour_matrix: Option<[[f64; 3]; 3]>,
}

/// One photo to analyse, or, for a multi-light capture set, the set (its
/// first photo is `path`).
#[derive(Debug, Clone)]
pub struct InputItem {
    pub path: PathBuf,
    pub subject: Option<Subject>,
    /// The light it was taken under, as declared (manifest `modality`
    /// column, a device profile's file names); `None` reads as standard.
    pub modality: Option<Modality>,
    /// The photos of one sitting under different lights (`session`), when
    /// this item stands for them; `path` is then the member colour is read
    /// from.
    pub session: Option<Box<Session>>,
    pub capture: Option<CaptureSet>,
}

/// True for `YYYY-MM-DD` naming a day of the calendar (not `2026-04-31`).
pub fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    days_in_month(i64::from(y), i64::from(m)).is_some_and(|last| (1..=last).contains(&i64::from(d)))
}

/// Days in month `m` (1–12) of year `y` (proleptic Gregorian); `None` for
/// a month that does not exist.
pub fn days_in_month(y: i64, m: i64) -> Option<i64> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// Days since 1970-01-01 of an ISO date (proleptic Gregorian).
pub fn days(date: &str) -> Option<i64> {
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: i64 = date.get(5..7)?.parse().ok()?;
    let d: i64 = date.get(8..10)?.parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `…/PATIENT/YYYY-MM-DD/photo.jpg` → patient and visit date.
fn subject_from_layout(path: &Path) -> Option<Subject> {
    let date_dir = path.parent()?;
    let date = date_dir.file_name()?.to_str()?;
    if !is_iso_date(date) {
        return None;
    }
    let patient = date_dir.parent()?.file_name()?.to_str()?.to_string();
    Some(Subject {
        patient_id: Some(patient),
        visit_date: Some(date.to_string()),
        view: None,
    })
}

/// Photo formats found in clinic folders that this tool does not read
/// (HEIC from phones, WebP, raw camera files, ...).
const OTHER_IMAGE_EXTENSIONS: [&str; 16] = [
    "heic", "heif", "webp", "avif", "jxl", "bmp", "gif", "jp2", "dng", "cr2", "cr3", "nef", "arw",
    "raf", "orf", "rw2",
];

fn is_other_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| OTHER_IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Expands files and directories into a sorted list of photos. Directories
/// are walked recursively following symlinks, with loops detected and
/// skipped; within a directory only image extensions count, and a
/// `capture.json` sidecar makes the photos it lists one multi-light item. Files named
/// explicitly are always included (a bad one becomes an error record).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InputItem>, SetupError> {
    let mut items = Vec::new();
    for root in paths {
        // A path that cannot be read stays in the batch as a file: its
        // record carries the error and the other inputs go on (as ripgrep
        // does with a missing path).
        if std::fs::metadata(root).is_ok_and(|m| m.is_dir()) {
            let mut found = Vec::new();
            let mut sidecars = Vec::new();
            let mut not_read = Vec::new();
            for entry in walkdir::WalkDir::new(root)
                .follow_links(true)
                .sort_by_file_name()
            {
                match entry {
                    Ok(e) if e.file_type().is_file() && has_image_extension(e.path()) => {
                        found.push(e.into_path())
                    }
                    Ok(e) if e.file_type().is_file() && e.file_name() == SIDECAR => {
                        sidecars.push(e.into_path())
                    }
                    // Photos in a format this tool cannot read are named in
                    // the batch (an error record each), not skipped.
                    Ok(e) if e.file_type().is_file() && is_other_image(e.path()) => {
                        found.push(e.into_path())
                    }
                    Ok(e) if e.file_type().is_file() => not_read.push(e.into_path()),
                    Ok(_) => {}
                    // A symlink back to an ancestor: its photos are walked
                    // once already.
                    Err(e) if e.loop_ancestor().is_some() => eprintln!(
                        "note: not following {}: it loops back to a folder already walked",
                        e.path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                    // An unreadable folder or a dangling link: an error
                    // record, so that a visit cannot silently disappear.
                    Err(e) => match e.path() {
                        Some(p) => found.push(p.to_path_buf()),
                        None => {
                            return Err(SetupError::Input {
                                path: root.clone(),
                                reason: e.to_string(),
                            })
                        }
                    },
                }
            }
            // Nothing is skipped silently: files not taken as photos (by
            // their names) are counted, with a few named.
            if !not_read.is_empty() {
                let names: Vec<String> = not_read
                    .iter()
                    .take(3)
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect();
                eprintln!(
                    "note: {} file(s) in {} not read as photos (their names do not end in .{}): {}{}",
                    not_read.len(),
                    root.display(),
                    IMAGE_EXTENSIONS.join(", ."),
                    names.join(", "),
                    if not_read.len() > names.len() { ", …" } else { "" }
                );
            }
            // A sidecar's photos are one item, in the place of its first.
            let mut sets = Vec::new();
            for path in sidecars {
                let set = read_sidecar(&path).map_err(|reason| SetupError::Input {
                    path: path.clone(),
                    reason,
                })?;
                sets.push(set);
            }
            // Each photo of a set → (its set, whether it is the set's first).
            let mut member: std::collections::HashMap<PathBuf, (usize, bool)> =
                std::collections::HashMap::new();
            for (k, s) in sets.iter().enumerate() {
                for (j, ph) in s.photos.iter().enumerate() {
                    member.entry(ph.path.clone()).or_insert((k, j == 0));
                }
            }
            let on_disk: std::collections::HashSet<&PathBuf> = found.iter().collect();
            if let Some(s) = sets.iter().find(|s| !on_disk.contains(&s.photos[0].path)) {
                return Err(SetupError::Input {
                    path: s.photos[0].path.clone(),
                    reason: format!("the first photo of capture set `{}` is missing", s.name),
                });
            }
            for p in found {
                match member.get(&p) {
                    Some(&(k, true)) => items.push(InputItem {
                        modality: sets[k].modality,
                        session: None,
                        subject: subject_from_layout(&p),
                        path: p,
                        capture: Some(sets[k].clone()),
                    }),
                    Some(_) => {} // another photo of a set: analysed with its first
                    None => items.push(InputItem {
                        modality: None,
                        session: None,
                        subject: subject_from_layout(&p),
                        path: p,
                        capture: None,
                    }),
                }
            }
        } else {
            items.push(InputItem {
                modality: None,
                session: None,
                subject: subject_from_layout(root),
                path: root.clone(),
                capture: None,
            });
        }
    }
    Ok(items)
}

/// Which share of a batch this process analyses (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shard {
    /// This process's shard, 1-based.
    pub index: u32,
    /// How many shards the batch is split into.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard must look like I/N, got `{s}`"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index `{i}`"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count `{n}`"))?;
        if count == 0 || index >= count {
            return Err(format!("shard index must be in 0..{count}, got {index}"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// From a Slurm job array or a Kubernetes Indexed Job.
    pub fn from_env() -> Result<Self, String> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let (index, count) = if let (Some(i), Some(n)) =
            (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        {
            // Slurm ids start at SLURM_ARRAY_TASK_MIN (usually 0 or 1).
            (i - var("SLURM_ARRAY_TASK_MIN").unwrap_or(0).min(i), n)
        } else if let (Some(i), Some(n)) = (
            var("JOB_COMPLETION_INDEX"),
            var("JOB_COMPLETIONS").or_else(|| var("DERMASCORE_SHARD_COUNT")),
        ) {
            (i, n)
        } else {
            return Err("--shard auto needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX and JOB_COMPLETIONS (set it from the Job's completions)".into());
        };
        format!("{index}/{count}").parse()
    }

    /// Whether `item` belongs to this shard. Decided by a hash of the path as
    /// given, so the split does not depend on the order of the input list.
    pub fn contains(&self, item: &InputItem) -> bool {
        let digest = sha2::Sha256::digest(item.path.to_string_lossy().as_bytes());
        let h = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        h % u64::from(self.count) == u64::from(self.index)
    }
}

#[derive(Debug, Deserialize)]
struct ManifestRow {
    path: String,
    #[serde(default)]
    patient_id: Option<String>,
    #[serde(default)]
    visit_date: Option<String>,
    #[serde(default)]
    view: Option<String>,
    #[serde(default)]
    capture_set: Option<String>,
    #[serde(default)]
    light_dir: Option<String>,
    #[serde(default)]
    light_pos_mm: Option<String>,
    #[serde(default)]
    light_intensity: Option<String>,
    #[serde(default)]
    modality: Option<String>,
}

/// A capture set in a manifest: its name, patient and visit date.
type SetKey = (String, Option<String>, Option<String>);

/// Reads `path,patient_id,visit_date,view[,capture_set,light_dir,light_pos_mm,light_intensity,modality]` rows;
/// relative paths resolve against the manifest's folder. Any malformed row
/// rejects the manifest, naming the line, because a silently skipped visit
/// corrupts a cohort. Rows sharing a `capture_set` (with the same patient
/// and date) become one item: a multi-light capture, analysed as one photo
/// whose relief comes from all of them; `light_dir` is each photo's light
/// (x y z, x right, y down, z towards the camera), or `light_pos_mm` a near
/// light's position (mm from where the optical axis meets the skin), and
/// `light_intensity` its brightness relative to the set's others.
pub fn read_manifest(manifest: &Path) -> Result<Vec<InputItem>, SetupError> {
    let table = table::Table {
        what: "manifest",
        path: manifest,
    };
    let err = |line: u64, reason: String| table.error(Some(line), reason);
    let base = manifest.parent().unwrap_or(Path::new("."));
    let (mut reader, headers) = table.open(None)?;
    if !headers.iter().any(|h| h == "path") {
        return Err(err(
            1,
            "missing the `path` column (expected path,patient_id,visit_date,view)".into(),
        ));
    }
    let mut items: Vec<InputItem> = Vec::new();
    // Capture set (name, patient, date) → its item's position and first line.
    let mut sets: std::collections::HashMap<SetKey, (usize, u64)> =
        std::collections::HashMap::new();
    // Each photo's line: a photo listed twice would count as two captures
    // (repeatability then reads it as perfect agreement).
    let mut seen: std::collections::HashMap<PathBuf, u64> = std::collections::HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| table.csv_error(&e))?;
        let line = record.position().map_or(0, |p| p.line());
        let row: ManifestRow = record
            .deserialize(Some(&headers))
            .map_err(|e| table.csv_error(&e))?;
        if row.path.is_empty() {
            return Err(err(line, "empty path".into()));
        }
        let non_empty = |s: Option<String>| s.filter(|v| !v.is_empty());
        let visit_date = non_empty(row.visit_date);
        if let Some(d) = &visit_date {
            if !is_iso_date(d) {
                return Err(err(line, format!("visit_date `{d}` is not YYYY-MM-DD")));
            }
        }
        let view = match non_empty(row.view) {
            Some(v) => Some(v.parse::<View>().map_err(|e| err(line, e))?),
            None => None,
        };
        let path = PathBuf::from(&row.path);
        let path = if path.is_absolute() {
            path
        } else {
            base.join(path)
        };
        if let Some(first) = seen.insert(path.clone(), line) {
            return Err(err(
                line,
                format!(
                    "{} is listed twice (lines {first} and {line}): one photo is one capture",
                    row.path
                ),
            ));
        }
        let modality = match non_empty(row.modality) {
            Some(m) => Some(m.parse::<Modality>().map_err(|e| err(line, e))?),
            None => None,
        };
        let subject = Subject {
            patient_id: non_empty(row.patient_id),
            visit_date,
            view,
        };
        let (dir, pos) = (non_empty(row.light_dir), non_empty(row.light_pos_mm));
        let intensity = non_empty(row.light_intensity);
        let Some(set) = non_empty(row.capture_set) else {
            if dir.is_some() || pos.is_some() || intensity.is_some() {
                return Err(err(
                    line,
                    "a light (light_dir, light_pos_mm, light_intensity) given without a capture_set"
                        .into(),
                ));
            }
            items.push(InputItem {
                modality,
                session: None,
                path,
                subject: Some(subject),
                capture: None,
            });
            continue;
        };
        let light = match (dir, pos) {
            (Some(d), None) => Light::distant(d.parse::<LightDir>().map_err(|e| err(line, e))?),
            (None, Some(p)) => Light::near(p.parse::<LightPos>().map_err(|e| err(line, e))?),
            (Some(_), Some(_)) => {
                return Err(err(
                    line,
                    "give light_dir (a distant light) or light_pos_mm (a near one), not both"
                        .into(),
                ))
            }
            (None, None) => {
                return Err(err(
                    line,
                    format!("capture set `{set}` needs a light_dir or a light_pos_mm"),
                ))
            }
        };
        let light = match intensity {
            Some(v) => {
                let v: f32 = v
                    .parse()
                    .map_err(|_| err(line, format!("light_intensity `{v}` is not a number")))?;
                light.with_intensity(v).map_err(|e| err(line, e))?
            }
            None => light,
        };
        let photo = CapturePhoto {
            path: path.clone(),
            light,
        };
        let key = (
            set.clone(),
            subject.patient_id.clone(),
            subject.visit_date.clone(),
        );
        match sets.get(&key) {
            Some(&(at, _)) => {
                if let Some(c) = items[at].capture.as_mut() {
                    c.photos.push(photo);
                }
            }
            None => {
                sets.insert(key, (items.len(), line));
                items.push(InputItem {
                    modality,
                    session: None,
                    path,
                    subject: Some(subject),
                    capture: Some(CaptureSet {
                        name: set,
                        photos: vec![photo],
                        close_up: None,
                        device_px_per_mm: None,
                        modality,
                        optical_centre_px: None,
                    }),
                });
            }
        }
    }
    let mut firsts: Vec<&(usize, u64)> = sets.values().collect();
    firsts.sort();
    for (at, line) in firsts {
        if let Some(c) = &items[*at].capture {
            if c.photos.len() < MIN_LIGHTS {
                return Err(err(
                    *line,
                    format!(
                        "capture set `{}` has {} photo(s); photometric stereo needs at least {MIN_LIGHTS} lights",
                        c.name,
                        c.photos.len()
                    ),
                ));
            }
        }
    }
    // Each set is read from its most frontal photo (`most_frontal_first`).
    for item in items.iter_mut() {
        if let Some(c) = item.capture.take() {
            let c = c.most_frontal_first();
            item.path = c.photos[0].path.clone();
            item.capture = Some(c);
        }
    }
    Ok(items)
}

/// Decoding guards. The defaults accept any camera or clinic booth capture
/// (up to 100 MP, 256 MiB files) and refuse decompression bombs.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_pixels: u64,
    pub max_file_bytes: u64,
    /// Smallest side that can still hold an analysable face.
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 100_000_000,
            max_file_bytes: 256 << 20,
            min_side: 64,
        }
    }
}

/// What was read, for the record's `input` field.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InputInfo {
    /// The input path as given (a keyed pseudonym in pseudonymised runs).
    pub path: String,
    /// Position in the run's input list (before sharding); orders merged shards.
    pub index: u64,
    /// sha256 of the file's bytes; null when the file could not be read.
    pub sha256: Option<String>,
    /// File size in bytes; null when it could not be read.
    pub bytes: Option<u64>,
    /// Width and height after EXIF orientation.
    pub width: Option<u32>,
    /// Height after EXIF orientation, pixels.
    pub height: Option<u32>,
    /// `jpeg`, `png` or `tiff`, sniffed from the content.
    pub format: Option<String>,
    /// Colour layout as stored, e.g. `rgb8`, `rgba8`, `l16`.
    pub color: Option<String>,
    /// EXIF orientation tag that was applied (1 = none).
    pub exif_orientation: Option<u8>,
    /// For a JPEG: the IJG quality (1–100) its luminance quantisation table
    /// corresponds to; below `min_jpeg_quality` the photo is too compressed
    /// to measure (quality finding `heavily_compressed`). Null for other
    /// formats or a JPEG without such a table.
    #[serde(default)]
    pub jpeg_quality: Option<u8>,
    /// Share of the frame (%) that the file's alpha channel makes
    /// transparent or partly so, as a cut-out's background: not part of the
    /// photo as taken. Those pixels are shown over mid-grey, no zone
    /// measures them, and a zone over them counts as outside the photo.
    /// Null when no pixel is transparent (or the file has no alpha).
    #[serde(default)]
    pub transparent_pct: Option<f64>,
}

impl InputInfo {
    pub fn unread(path: &Path) -> Self {
        Self {
            path: path.display().to_string(),
            index: 0,
            sha256: None,
            bytes: None,
            width: None,
            height: None,
            format: None,
            color: None,
            exif_orientation: None,
            jpeg_quality: None,
            transparent_pct: None,
        }
    }
}

/// RGB with 16 bits per channel, as 16-bit PNG and TIFF decode.
pub type Rgb16Image = ImageBuffer<Rgb<u16>, Vec<u16>>;

/// How finely a photo's samples resolve a channel: what the file carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Eight,
    Sixteen,
}

impl Depth {
    /// Linear light of a sample on the 8-bit scale (0–255). An 8-bit photo's
    /// go through the quarter-step table, as every figure in the README was
    /// measured; a 16-bit photo's exactly, since quarter-level steps would
    /// undo the precision it brought.
    pub fn linear(self, v: f32) -> f32 {
        match self {
            Depth::Eight => crate::srgb::linear_of_sample(v),
            Depth::Sixteen => crate::srgb::to_linear(f64::from(v) / 255.0) as f32,
        }
    }
}

/// A decoded photo, upright, greyscale as RGB. An alpha channel is not
/// kept as colour: its transparent pixels are recorded in `transparent`.
#[derive(Clone)]
pub struct Photo {
    /// 8 bits per channel: what the quality checks, capture alignment and
    /// pictures read (the models sample `deep` when there is one).
    pub rgb: RgbImage,
    /// A file with more than 8 bits per channel keeps them here, for the
    /// measurements: rounding to 8 bits moves a smooth region's colour by up
    /// to half a level, as much as a faint spot's contrast in dark skin's
    /// blue channel.
    pub deep: Option<Rgb16Image>,
    /// 255 where the file's alpha channel makes a pixel transparent or
    /// partly so: a cut-out's background, not part of the photo as taken.
    /// Those pixels are shown over mid-grey in `rgb` and `deep` (whatever
    /// colour the file kept under them) and no zone measures them. `None`
    /// when every pixel is opaque.
    pub transparent: Option<GrayImage>,
}

/// Where transparent pixels are shown: mid-grey, a plain background that
/// neither the face detector nor the skin checks take for skin.
const BACKGROUND_8: u8 = 128;

impl Photo {
    /// Keeps a 16-bit (or float) image's extra bits in `deep`; an alpha
    /// channel's transparent pixels go to `transparent`.
    pub fn from_decoded(image: DynamicImage) -> Self {
        let bits = image.color().bits_per_pixel() / u16::from(image.color().channel_count());
        let transparent = transparent_pixels(&image);
        let mut photo = if bits > 8 {
            Photo {
                rgb: image.to_rgb8(),
                deep: Some(image.into_rgb16()),
                transparent: None,
            }
        } else {
            Photo::from(image.into_rgb8())
        };
        if let Some(mask) = transparent {
            photo = photo.with_transparent(mask);
        }
        photo
    }

    /// `mask` (255 = transparent) recorded, its pixels shown as mid-grey;
    /// a mask with no transparent pixel is dropped.
    pub fn with_transparent(mut self, mask: GrayImage) -> Self {
        if !mask.as_raw().iter().any(|&v| v > 0) {
            self.transparent = None;
            return self;
        }
        for (p, m) in self.rgb.pixels_mut().zip(mask.pixels()) {
            if m.0[0] > 0 {
                *p = Rgb([BACKGROUND_8; 3]);
            }
        }
        if let Some(deep) = &mut self.deep {
            for (p, m) in deep.pixels_mut().zip(mask.pixels()) {
                if m.0[0] > 0 {
                    *p = Rgb([u16::from(BACKGROUND_8) * 257; 3]);
                }
            }
        }
        self.transparent = Some(mask);
        self
    }

    /// Share of the frame that is transparent (0–1); 0 for an opaque photo.
    fn transparent_share(&self) -> f64 {
        self.transparent.as_ref().map_or(0.0, |m| {
            let n = m.as_raw().iter().filter(|&&v| v > 0).count();
            n as f64 / m.as_raw().len().max(1) as f64
        })
    }

    /// `InputInfo::transparent_pct`: the transparent share in %, to 0.01;
    /// `None` for an opaque photo.
    pub fn transparent_pct(&self) -> Option<f64> {
        self.transparent
            .is_some()
            .then(|| (self.transparent_share() * 1e4).round() / 100.0)
    }

    /// Whether every pixel is transparent.
    fn wholly_transparent(&self) -> bool {
        self.transparent
            .as_ref()
            .is_some_and(|m| m.as_raw().iter().all(|&v| v > 0))
    }

    /// Upright: the EXIF orientation applied to both depths (and to the
    /// transparent pixels).
    pub fn oriented(self, orientation: image::metadata::Orientation) -> Self {
        let mut rgb = DynamicImage::ImageRgb8(self.rgb);
        rgb.apply_orientation(orientation);
        let deep = self.deep.map(|d| {
            let mut d = DynamicImage::ImageRgb16(d);
            d.apply_orientation(orientation);
            d.into_rgb16()
        });
        let transparent = self.transparent.map(|m| {
            let mut m = DynamicImage::ImageLuma8(m);
            m.apply_orientation(orientation);
            m.into_luma8()
        });
        Self {
            rgb: rgb.into_rgb8(),
            deep,
            transparent,
        }
    }

    /// Turned clockwise by `quarters` quarter turns (0–3; more wrap).
    pub fn turned_clockwise(self, quarters: u8) -> Self {
        use image::metadata::Orientation;
        match quarters % 4 {
            0 => self,
            1 => self.oriented(Orientation::Rotate90),
            2 => self.oriented(Orientation::Rotate180),
            _ => self.oriented(Orientation::Rotate270),
        }
    }
}

/// 255 where `image`'s alpha is below full; `None` when every pixel is
/// opaque (or there is no alpha channel).
fn transparent_pixels(image: &DynamicImage) -> Option<GrayImage> {
    fn mask<P: image::Pixel>(
        i: &ImageBuffer<P, Vec<P::Subpixel>>,
        clear: impl Fn(&P) -> bool,
    ) -> Option<GrayImage> {
        i.pixels().any(&clear).then(|| {
            GrayImage::from_fn(i.width(), i.height(), |x, y| {
                Luma([if clear(i.get_pixel(x, y)) { 255 } else { 0 }])
            })
        })
    }
    match image {
        DynamicImage::ImageLumaA8(i) => mask(i, |p| p.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(i) => mask(i, |p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(i) => mask(i, |p| p.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(i) => mask(i, |p| p.0[3] < u16::MAX),
        DynamicImage::ImageRgba32F(i) => mask(i, |p| p.0[3] < 1.0),
        _ => None,
    }
}

impl From<RgbImage> for Photo {
    fn from(rgb: RgbImage) -> Self {
        Self {
            rgb,
            deep: None,
            transparent: None,
        }
    }
}

/// Reads and decodes one photo. `info` is filled as far as reading got, so
/// an error record still carries the file's sha256 and size.
pub fn load(path: &Path, limits: &DecodeLimits, info: &mut InputInfo) -> Result<Photo, InputError> {
    *info = InputInfo {
        index: info.index,
        ..InputInfo::unread(path)
    };
    let fail = |code, msg: String| Err(InputError::new(code, msg));
    // Records name their photo as text: a name that is not UTF-8 would be
    // written with replacement characters, two such files under one name,
    // and neither found again by `verify` or `--resume`.
    if path.to_str().is_none() {
        return fail(
            ErrorCode::Unreadable,
            "the file's path is not valid UTF-8 text, so records cannot name it faithfully: rename it (or its folder)".into(),
        );
    }
    // Declared size against the pixel limit, before anything is decoded.
    let over_limit = |w: u32, h: u32| {
        (u64::from(w) * u64::from(h) > limits.max_pixels).then(|| {
            InputError::new(
                ErrorCode::TooLarge,
                format!(
                    "{w}x{h} is over the {} megapixel limit (raise it with --max-megapixels)",
                    limits.max_pixels / 1_000_000
                ),
            )
        })
    };

    let (size, regular) = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            let why = std::fs::read_dir(path)
                .err()
                .map_or("it is a folder, not a photo".into(), |e| e.to_string());
            return fail(ErrorCode::Unreadable, format!("cannot read folder: {why}"));
        }
        Ok(m) => (m.len(), m.is_file()),
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) => {
            let target = std::fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return fail(
                ErrorCode::Unreadable,
                format!("dangling symbolic link: its target {target} does not exist"),
            );
        }
        Err(e) => return fail(ErrorCode::Unreadable, format!("cannot read file: {e}")),
    };
    info.bytes = Some(size);
    // Files refused before they are read whole are still hashed (streamed),
    // so that `verify` and `--resume` can tell an unchanged refused file
    // from a changed one. Regular files only: opening a named pipe again
    // would wait for a writer that is gone.
    let hash_refused = |info: &mut InputInfo| {
        if regular {
            info.sha256 = std::fs::File::open(path)
                .and_then(|f| crate::models::hex_sha256_of(&f))
                .ok();
        }
    };
    if size == 0 {
        hash_refused(info);
        return fail(ErrorCode::EmptyFile, "file is empty (0 bytes)".into());
    }
    if size > limits.max_file_bytes {
        hash_refused(info);
        return fail(
            ErrorCode::TooLarge,
            format!(
                "file is {size} bytes, over the {} byte limit",
                limits.max_file_bytes
            ),
        );
    }
    // The format from the file's first bytes. A PNG is then hashed and
    // decoded from the file in pieces (a 100 MP 16-bit PNG can be 200 MB,
    // held beside its 900 MB of pixels otherwise); other formats are read
    // whole, as their decoders and the JPEG scan check want.
    let mut head = Vec::new();
    let opened = std::fs::File::open(path).and_then(|f| {
        std::io::Read::read_to_end(&mut std::io::Read::take(f, 64 * 1024), &mut head)
    });
    if let Err(e) = opened {
        return fail(ErrorCode::Unreadable, format!("cannot read file: {e}"));
    }
    let format = match image::guess_format(&head) {
        Ok(f @ (image::ImageFormat::Jpeg | image::ImageFormat::Png | image::ImageFormat::Tiff)) => {
            f
        }
        Ok(f) => {
            hash_refused(info);
            let name = f.extensions_str().first().copied().unwrap_or("this format");
            return fail(
                ErrorCode::UnsupportedFormat,
                format!(
                    "{} images are not supported (JPEG, PNG, TIFF are): convert it first",
                    name.to_ascii_uppercase()
                ),
            );
        }
        Err(_) if is_other_image(path) => {
            hash_refused(info);
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            return fail(
                ErrorCode::UnsupportedFormat,
                format!(
                    "{} photos are not supported (JPEG, PNG, TIFF are): convert it first",
                    ext.to_ascii_uppercase()
                ),
            );
        }
        Err(_) => {
            hash_refused(info);
            return fail(
                ErrorCode::NotAnImage,
                "not an image: content is not JPEG, PNG or TIFF".into(),
            );
        }
    };
    let mut png_file = None;
    let bytes = if format == image::ImageFormat::Png {
        let hashed = std::fs::File::open(path).and_then(|file| {
            let stamp = decode::file_stamp(&file)?;
            let hash = crate::models::hex_sha256_of(&file)?;
            Ok((file, stamp, hash))
        });
        match hashed {
            Ok((file, stamp, hash)) => {
                info.sha256 = Some(hash);
                png_file = Some((file, stamp));
            }
            Err(e) => return fail(ErrorCode::Unreadable, format!("cannot read file: {e}")),
        }
        Vec::new()
    } else {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return fail(ErrorCode::Unreadable, format!("cannot read file: {e}")),
        };
        info.sha256 = Some(hex_sha256(&bytes));
        bytes
    };
    info.format = Some(
        format
            .extensions_str()
            .first()
            .copied()
            .unwrap_or("unknown")
            .replace("jpg", "jpeg"),
    );
    if let Some((w, h)) = png_declared_size(&head) {
        // Checked before decoding: a bomb may carry no more than its header.
        if let Some(e) = over_limit(w, h) {
            return Err(e);
        }
    }
    if format == image::ImageFormat::Jpeg {
        match decode::jpeg_dimensions(&bytes) {
            Ok((w, h)) => {
                if let Some(e) = over_limit(w, h) {
                    return Err(e);
                }
            }
            Err(decode::Refusal::Header(m)) => return fail(ErrorCode::CorruptImage, m),
            Err(_) => {}
        }
        info.jpeg_quality = jpeg_tables::quality(&bytes);
        if !jpeg_scan::reaches_end_of_image(&bytes) {
            return fail(
                ErrorCode::CorruptImage,
                "JPEG is truncated or damaged: no end-of-image marker after the last scan".into(),
            );
        }
    }
    let strict = match format {
        image::ImageFormat::Jpeg => Some(decode::jpeg(&bytes)),
        image::ImageFormat::Png => png_file.map(|(file, stamp)| decode::png_file(file, stamp)),
        _ => None,
    };
    let (photo, colour, orientation) = match strict {
        Some(Ok(d)) => (d.photo, d.colour, d.orientation),
        Some(Err(decode::Refusal::Implausible(m))) => return fail(ErrorCode::TooLarge, m),
        Some(Err(decode::Refusal::Header(m) | decode::Refusal::Corrupt(m))) => {
            return fail(ErrorCode::CorruptImage, m)
        }
        None => {
            let reader = ImageReader::with_format(Cursor::new(&bytes), format);
            let mut decoder = match reader.into_decoder() {
                Ok(d) => d,
                Err(e) => {
                    let (code, message) = decode_failure("cannot decode header", e);
                    return fail(code, message);
                }
            };
            let (w, h) = decoder.dimensions();
            if let Some(e) = over_limit(w, h) {
                return Err(e);
            }
            let orientation = decoder
                .orientation()
                .unwrap_or(image::metadata::Orientation::NoTransforms);
            match DynamicImage::from_decoder(decoder) {
                Ok(i) => {
                    let colour = i.color();
                    (Photo::from_decoded(i), colour, orientation)
                }
                Err(e) => {
                    let (code, message) = decode_failure("image data is corrupt or truncated", e);
                    return fail(code, message);
                }
            }
        }
    };
    info.color = Some(format!("{colour:?}").to_ascii_lowercase());
    let (w, h) = photo.rgb.dimensions();
    if w.min(h) < limits.min_side {
        return fail(
            ErrorCode::TooSmall,
            format!(
                "{w}x{h} is too small; the shorter side must be at least {} px",
                limits.min_side
            ),
        );
    }
    if photo.wholly_transparent() {
        return fail(
            ErrorCode::Transparent,
            "every pixel is transparent: the file's alpha channel hides the whole photo; export it without transparency".into(),
        );
    }
    let photo = photo.oriented(orientation);
    info.exif_orientation = Some(orientation.to_exif());
    info.width = Some(photo.rgb.width());
    info.height = Some(photo.rgb.height());
    info.transparent_pct = photo.transparent_pct();
    Ok(photo)
}

/// A decoder's refusal: a variant the decoder does not handle (a 32-bit
/// float TIFF, an unusual sample layout) is an unsupported format the user
/// can convert, not a damaged file.
fn decode_failure(context: &str, e: image::ImageError) -> (ErrorCode, String) {
    match e {
        image::ImageError::Unsupported(u) => (
            ErrorCode::UnsupportedFormat,
            format!("this variant of the format is not supported ({u}): convert it to 8- or 16-bit RGB first"),
        ),
        other => (ErrorCode::CorruptImage, format!("{context}: {other}")),
    }
}

/// Width and height from a PNG's IHDR, which the format requires first.
fn png_declared_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |r: std::ops::Range<usize>| {
        bytes
            .get(r)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    Some((be(16..20)?, be(20..24)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_pixels_are_recorded_and_shown_over_grey_whatever_they_hide() {
        let dir = tempfile::tempdir().unwrap();
        // Left half transparent, one pixel of the right half half-transparent.
        let rgba = image::RgbaImage::from_fn(64, 80, |x, y| match (x < 32, (x, y) == (40, 5)) {
            (true, _) => image::Rgba([250, 10, 10, 0]),
            (false, true) => image::Rgba([90, 60, 50, 128]),
            (false, false) => image::Rgba([90, 60, 50, 255]),
        });
        let deep = DynamicImage::ImageRgba8(rgba.clone()).into_rgba16();
        let opaque = image::RgbaImage::from_pixel(64, 80, image::Rgba([90, 60, 50, 255]));
        let save = |name: &str, img: DynamicImage| {
            let path = dir.path().join(name);
            img.save(&path).unwrap();
            path
        };
        // Read row by row (a PNG), and whole (a TIFF, and what an interlaced
        // PNG goes through: `from_decoded`).
        let whole = Photo::from_decoded(DynamicImage::ImageRgba8(rgba.clone()));
        for (path, read) in [
            (save("cut.png", DynamicImage::ImageRgba8(rgba)), None),
            (
                save("cut16.png", DynamicImage::ImageRgba16(deep.clone())),
                None,
            ),
            (save("cut16.tif", DynamicImage::ImageRgba16(deep)), None),
            (dir.path().join("whole"), Some(whole)),
        ] {
            let mut info = InputInfo::unread(&path);
            let photo = match read {
                Some(photo) => {
                    info.transparent_pct = photo.transparent_pct();
                    photo
                }
                None => load(&path, &DecodeLimits::default(), &mut info).unwrap(),
            };
            let mask = photo.transparent.as_ref().unwrap();
            assert_eq!(mask.get_pixel(3, 3).0[0], 255);
            assert_eq!(mask.get_pixel(40, 5).0[0], 255);
            assert_eq!(mask.get_pixel(41, 5).0[0], 0);
            assert_eq!(photo.rgb.get_pixel(3, 3).0, [BACKGROUND_8; 3]);
            assert_eq!(photo.rgb.get_pixel(41, 5).0, [90, 60, 50]);
            if let Some(deep) = &photo.deep {
                assert_eq!(deep.get_pixel(3, 3).0, [u16::from(BACKGROUND_8) * 257; 3]);
            }
            let want = 100.0 * (32.0 * 80.0 + 1.0) / (64.0 * 80.0);
            let pct = info.transparent_pct.unwrap();
            assert!((pct - want).abs() < 0.01, "{}: {pct}", path.display());
            // Turned with the photo.
            let turned = photo.turned_clockwise(1);
            assert_eq!(turned.transparent.as_ref().unwrap().dimensions(), (80, 64));
        }
        // Every pixel transparent: refused, saying why.
        let clear = image::RgbaImage::from_pixel(64, 80, image::Rgba([90, 60, 50, 0]));
        let path = save("clear.png", DynamicImage::ImageRgba8(clear));
        let err = load(
            &path,
            &DecodeLimits::default(),
            &mut InputInfo::unread(&path),
        );
        assert!(matches!(err, Err(e) if e.code == ErrorCode::Transparent));
        // An alpha channel with every pixel opaque records nothing.
        let path = save("opaque.png", DynamicImage::ImageRgba8(opaque));
        let mut info = InputInfo::unread(&path);
        let photo = load(&path, &DecodeLimits::default(), &mut info).unwrap();
        assert!(photo.transparent.is_none());
        assert_eq!(info.transparent_pct, None);
    }

    #[test]
    fn a_16_bit_png_keeps_its_extra_bits_and_an_8_bit_one_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let load_back = |name: &str, img: DynamicImage| {
            let path = dir.path().join(name);
            img.save(&path).unwrap();
            let mut info = InputInfo::unread(&path);
            let photo = load(&path, &DecodeLimits::default(), &mut info).unwrap();
            (photo, info.color)
        };
        // 100.5 levels on the 8-bit scale: between two 8-bit levels.
        let deep = Rgb16Image::from_pixel(64, 64, Rgb([25_829, 12_850, 257]));
        let (photo, color) = load_back("deep.png", DynamicImage::ImageRgb16(deep));
        assert_eq!(color.as_deref(), Some("rgb16"));
        assert_eq!(
            photo.deep.map(|d| d.get_pixel(5, 5).0),
            Some([25_829, 12_850, 257])
        );
        assert_eq!(photo.rgb.get_pixel(5, 5).0[1], 50);
        let flat = RgbImage::from_pixel(64, 64, Rgb([100, 50, 1]));
        let (photo, _) = load_back("flat.png", DynamicImage::ImageRgb8(flat));
        assert!(photo.deep.is_none());
    }

    #[test]
    fn shards_partition_the_inputs_whatever_their_order() {
        let items: Vec<InputItem> = (0..200)
            .map(|i| InputItem {
                path: PathBuf::from(format!("p{i}/2026-01-01/front.jpg")),
                subject: None,
                modality: None,
                session: None,
                capture: None,
            })
            .collect();
        let n = 3;
        let shards: Vec<Shard> = (0..n).map(|i| Shard { index: i, count: n }).collect();
        for item in &items {
            assert_eq!(shards.iter().filter(|s| s.contains(item)).count(), 1);
        }
        let sizes: Vec<usize> = shards
            .iter()
            .map(|s| items.iter().filter(|i| s.contains(i)).count())
            .collect();
        assert!(sizes.iter().all(|&k| k > 40), "{sizes:?}");
        assert!(
            "3/3".parse::<Shard>().is_err()
                && "1/0".parse::<Shard>().is_err()
                && "x".parse::<Shard>().is_err()
        );
    }

    #[test]
    fn recognises_iso_dates() {
        assert!(is_iso_date("2026-01-31"));
        assert!(!is_iso_date("2026-13-01"));
        assert!(!is_iso_date("2026-1-01"));
        assert!(!is_iso_date("visit-one"));
        assert!(!is_iso_date("2026-04-31"));
        assert!(!is_iso_date("2026-02-29"));
        assert!(is_iso_date("2028-02-29"));
        assert!(!is_iso_date("2100-02-29"));
        assert!(is_iso_date("2000-02-29"));
    }

    #[test]
    fn patient_and_date_come_from_layout() {
        let s = subject_from_layout(Path::new("cohort/P001/2026-03-04/front.jpg")).unwrap();
        assert_eq!(s.patient_id.as_deref(), Some("P001"));
        assert_eq!(s.visit_date.as_deref(), Some("2026-03-04"));
        assert!(subject_from_layout(Path::new("photos/front.jpg")).is_none());
    }
}
