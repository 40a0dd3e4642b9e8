//! Multi-light capture sets: several photos of one pose, each under a known
//! light direction, as 3-D skin cameras take them. The manifest names them
//! (`capture_set` and `light_dir` columns); ingest groups them so that the
//! batch analyses one set as one visit photo (`measure::align` aligns its
//! photos before the relief is measured). This module is what the user
//! declared, nothing measured: it depends on nothing else in the crate.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The light a photo was taken under. Skin-analyser booths take several in
/// a minute: cross-polarised light removes surface reflection (colour,
/// pigment, redness), parallel-polarised keeps it (texture, pores),
/// standard mixes both; UV and Wood's-lamp photos show fluorescence and
/// sub-surface pigment, not skin colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Standard,
    CrossPolarised,
    ParallelPolarised,
    Uv,
    Woods,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Standard => "standard",
            Modality::CrossPolarised => "cross_polarised",
            Modality::ParallelPolarised => "parallel_polarised",
            Modality::Uv => "uv",
            Modality::Woods => "woods",
        }
    }

    /// Whether the photo shows skin colour under visible light.
    pub fn shows_colour(self) -> bool {
        !matches!(self, Modality::Uv | Modality::Woods)
    }
}

impl std::str::FromStr for Modality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "standard" | "daylight" | "white" => Ok(Modality::Standard),
            "cross_polarised" | "cross_polarized" | "cross" | "xpol" => {
                Ok(Modality::CrossPolarised)
            }
            "parallel_polarised" | "parallel_polarized" | "parallel" | "ppol" => {
                Ok(Modality::ParallelPolarised)
            }
            "uv" | "ultraviolet" => Ok(Modality::Uv),
            "woods" | "wood" | "woods_lamp" | "wood's" | "wood's_lamp" => Ok(Modality::Woods),
            other => Err(format!(
                "`{other}` is not a modality (standard, cross_polarised, parallel_polarised, uv, woods)"
            )),
        }
    }
}

/// A unit direction towards a distant light: x right, y down (image axes),
/// z towards the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightDir([f32; 3]);

impl LightDir {
    /// Normalises `v`; refuses a zero, non-finite or backward direction.
    pub fn new(v: [f32; 3]) -> Result<Self, String> {
        let [x, y, z] = v;
        let n = (x * x + y * y + z * z).sqrt();
        if !n.is_finite() || n == 0.0 || z / n < 0.05 {
            return Err(format!(
                "light_dir {x} {y} {z} must point towards the camera side (z > 0)"
            ));
        }
        Ok(LightDir([x / n, y / n, z / n]))
    }

    pub fn get(self) -> [f32; 3] {
        self.0
    }
}

impl std::str::FromStr for LightDir {
    type Err = String;
    /// Three numbers separated by spaces, commas or semicolons; normalised.
    fn from_str(s: &str) -> Result<Self, String> {
        let v: Vec<f32> = s
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<f32>()
                    .map_err(|_| format!("`{t}` is not a number"))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("light_dir `{s}`: {e}"))?;
        let [x, y, z] = v[..] else {
            return Err(format!(
                "light_dir `{s}` must be three numbers, x y z (x right, y down, z towards the camera)"
            ));
        };
        LightDir::new([x, y, z])
    }
}

/// One photo of a capture set.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturePhoto {
    pub path: PathBuf,
    pub light: LightDir,
}

/// A capture set: its name and its photos, the first being the one the
/// rest of the analysis (face, pores, pigmentation) uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSet {
    pub name: String,
    pub photos: Vec<CapturePhoto>,
    /// The light every photo of the set was taken under, when the sidecar
    /// says (`modality`); `None` reads as standard.
    pub modality: Option<Modality>,
    /// A close-up of skin (no face) at the device's calibrated scale, from
    /// a sidecar; analysed as with `--patch`.
    pub close_up: Option<crate::units::PxPerMm>,
}

/// The sidecar a folder may hold (`capture.json`) naming a capture set of
/// photos in it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub capture_set: String,
    /// True for a close-up of skin without a face (a 3-D skin camera).
    #[serde(default)]
    pub close_up: bool,
    /// The device's calibrated scale; required for close-ups.
    #[serde(default)]
    pub px_per_mm: Option<f64>,
    /// The light the photos were taken under: `standard` (default),
    /// `cross_polarised`, `parallel_polarised`, `uv`, `woods`, as in a
    /// manifest's `modality` column.
    #[serde(default)]
    pub modality: Option<String>,
    pub photos: Vec<SidecarPhoto>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarPhoto {
    pub file: String,
    /// x right, y down, z towards the camera.
    pub light_dir: [f32; 3],
}

/// The sidecar's file name.
pub const SIDECAR: &str = "capture.json";

/// Reads a sidecar: the capture set of photos in `dir`.
pub fn read_sidecar(path: &std::path::Path) -> Result<CaptureSet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let sc: Sidecar = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    if sc.photos.len() < MIN_LIGHTS {
        return Err(format!(
            "capture set `{}` has {} photo(s); photometric stereo needs at least {MIN_LIGHTS} lights",
            sc.capture_set,
            sc.photos.len()
        ));
    }
    let close_up = match (sc.close_up, sc.px_per_mm) {
        (false, _) => None,
        (true, Some(v)) => {
            Some(crate::units::PxPerMm::new(v).ok_or(format!("px_per_mm {v} must be positive"))?)
        }
        (true, None) => return Err("a close-up needs the device's px_per_mm".into()),
    };
    let photos = sc
        .photos
        .iter()
        .map(|p| {
            Ok(CapturePhoto {
                path: dir.join(&p.file),
                light: LightDir::new(p.light_dir)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let modality = match &sc.modality {
        Some(m) => Some(m.parse::<Modality>()?),
        None => None,
    };
    Ok(CaptureSet {
        name: sc.capture_set,
        photos,
        close_up,
        modality,
    })
}

/// Photometric stereo needs three independent lights.
pub const MIN_LIGHTS: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_directions_parse_and_normalise() {
        let l: LightDir = "1 0 1".parse().unwrap();
        let v = l.get();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((v[0] - h).abs() < 1e-3 && v[1] == 0.0 && (v[2] - h).abs() < 1e-3);
        assert!("0.5,0.5;0.7".parse::<LightDir>().is_ok());
        assert!("1 0 -1".parse::<LightDir>().is_err(), "behind the skin");
        assert!("1 0".parse::<LightDir>().is_err());
        assert!("a b c".parse::<LightDir>().is_err());
    }

    #[test]
    fn modalities_parse_in_either_spelling() {
        assert_eq!("Cross-Polarized".parse(), Ok(Modality::CrossPolarised));
        assert_eq!(
            "parallel_polarised".parse(),
            Ok(Modality::ParallelPolarised)
        );
        assert_eq!("Wood's lamp".parse(), Ok(Modality::Woods));
        assert!("infrared".parse::<Modality>().is_err());
        assert!(!Modality::Uv.shows_colour() && Modality::CrossPolarised.shows_colour());
    }
}
