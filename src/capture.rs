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

    /// As people write it: `cross-polarised`, `Wood's-lamp`.
    pub fn label(self) -> &'static str {
        match self {
            Modality::Standard => "standard",
            Modality::CrossPolarised => "cross-polarised",
            Modality::ParallelPolarised => "parallel-polarised",
            Modality::Uv => "UV",
            Modality::Woods => "Wood's-lamp",
        }
    }

    /// Whether pores are not to be read from a photo under this light: the
    /// cross polariser takes away the surface reflection that shows a
    /// pore's opening (`quality::CROSS_POLARISED_PORES`).
    pub fn hides_pores(self) -> bool {
        self == Modality::CrossPolarised
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
        LightDir::new(three_numbers("light_dir", s)?)
    }
}

/// Three numbers separated by spaces, commas or semicolons (x y z).
fn three_numbers(what: &str, s: &str) -> Result<[f32; 3], String> {
    let v: Vec<f32> = s
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f32>()
                .map_err(|_| format!("`{t}` is not a number"))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} `{s}`: {e}"))?;
    let [x, y, z] = v[..] else {
        return Err(format!(
            "{what} `{s}` must be three numbers, x y z (x right, y down, z towards the camera)"
        ));
    };
    Ok([x, y, z])
}

/// A near light's position (mm) in the capture frame: the origin is where
/// the camera's optical axis meets the skin, x right, y down (image axes),
/// z towards the camera. Real rigs hold their LEDs 0.5–1 m from the face,
/// so the direction to a light changes by 10–20° across a face and its
/// brightness falls off with distance; `LightDir` cannot say that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightPos([f32; 3]);

impl LightPos {
    /// Refuses a non-finite position or one not in front of the skin
    /// (z ≤ 0).
    pub fn new(v: [f32; 3]) -> Result<Self, String> {
        let [x, y, z] = v;
        if !(x.is_finite() && y.is_finite() && z.is_finite()) || z <= 0.0 {
            return Err(format!(
                "light_pos_mm {x} {y} {z} must be finite and in front of the skin (z > 0 mm)"
            ));
        }
        Ok(LightPos(v))
    }

    pub fn get(self) -> [f32; 3] {
        self.0
    }
}

impl std::str::FromStr for LightPos {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LightPos::new(three_numbers("light_pos_mm", s)?)
    }
}

/// Where a photo's light is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LightPlace {
    /// Far enough that one direction holds over the whole photo.
    Distant(LightDir),
    /// Near: the direction and the fall-off are worked out per pixel.
    Near(LightPos),
}

/// A photo's light: where it is and how bright, relative to the set's
/// other lights (a rig's calibration; 1 when all are equal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Light {
    pub place: LightPlace,
    intensity: f32,
}

impl Light {
    pub fn distant(dir: LightDir) -> Self {
        Light {
            place: LightPlace::Distant(dir),
            intensity: 1.0,
        }
    }

    pub fn near(pos: LightPos) -> Self {
        Light {
            place: LightPlace::Near(pos),
            intensity: 1.0,
        }
    }

    /// The same light with a relative intensity; refuses one that is not a
    /// positive finite number.
    pub fn with_intensity(self, intensity: f32) -> Result<Self, String> {
        if !(intensity.is_finite() && intensity > 0.0) {
            return Err(format!(
                "light intensity {intensity} must be a positive number (relative to the set's other lights)"
            ));
        }
        Ok(Light { intensity, ..self })
    }

    pub fn intensity(self) -> f32 {
        self.intensity
    }

    /// Unit direction towards the light from `at_mm` (a point in the
    /// capture frame), and the irradiance there relative to the light's
    /// intensity at the frame's origin (inverse-square fall-off).
    pub fn towards(self, at_mm: [f32; 3]) -> ([f32; 3], f32) {
        match self.place {
            LightPlace::Distant(d) => (d.get(), self.intensity),
            LightPlace::Near(p) => {
                let p = p.get();
                let v = [p[0] - at_mm[0], p[1] - at_mm[1], p[2] - at_mm[2]];
                let r2 = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).max(1e-6);
                let r0 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
                let r = r2.sqrt();
                ([v[0] / r, v[1] / r, v[2] / r], self.intensity * r0 / r2)
            }
        }
    }

    /// The direction towards the light from the frame's origin.
    pub fn central_direction(self) -> [f32; 3] {
        self.towards([0.0; 3]).0
    }

    /// The direction at the frame's origin scaled by the light's
    /// brightness: what aligning a set compares photos by (a Lambertian
    /// photo is then a fixed sum of three others).
    pub fn alignment_vector(self) -> [f32; 3] {
        self.central_direction().map(|v| v * self.intensity)
    }
}

/// One photo of a capture set.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturePhoto {
    pub path: PathBuf,
    pub light: Light,
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
    /// The device's calibrated scale for a set of a face (a sidecar's
    /// `px_per_mm` without `close_up`): used instead of the face's own
    /// estimate, as a device profile's is.
    pub device_px_per_mm: Option<crate::units::PxPerMm>,
    /// The pixel the camera's optical axis passes through, which places
    /// near lights relative to the photo; `None`: the image centre.
    pub optical_centre_px: Option<[f32; 2]>,
}

impl CaptureSet {
    /// Puts first the photo whose light is nearest the camera's axis (at the
    /// frame's origin), keeping the others' order: the first photo is the
    /// one the rest of the analysis reads, and a side-lit photo's shading
    /// gradient would read as pigment.
    pub fn most_frontal_first(mut self) -> Self {
        let frontal = (0..self.photos.len()).max_by(|&a, &b| {
            let z = |i: usize| self.photos[i].light.central_direction()[2];
            // Ties go to the earlier photo.
            z(a).total_cmp(&z(b)).then(b.cmp(&a))
        });
        if let Some(i) = frontal {
            let p = self.photos.remove(i);
            self.photos.insert(0, p);
        }
        self
    }
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
    /// The pixel the camera's optical axis passes through (x, y); default
    /// the image centre. Near lights are placed relative to it.
    #[serde(default)]
    pub optical_centre_px: Option<[f32; 2]>,
    pub photos: Vec<SidecarPhoto>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarPhoto {
    pub file: String,
    /// A distant light's direction: x right, y down, z towards the camera.
    #[serde(default)]
    pub light_dir: Option<[f32; 3]>,
    /// A near light's position, mm, from where the optical axis meets the
    /// skin (x right, y down, z towards the camera); instead of `light_dir`.
    #[serde(default)]
    pub light_pos_mm: Option<[f32; 3]>,
    /// The light's brightness relative to the set's others (calibrated);
    /// default 1.
    #[serde(default)]
    pub intensity: Option<f32>,
}

impl SidecarPhoto {
    fn light(&self) -> Result<Light, String> {
        let light = match (self.light_dir, self.light_pos_mm) {
            (Some(d), None) => Light::distant(LightDir::new(d)?),
            (None, Some(p)) => Light::near(LightPos::new(p)?),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{}: give light_dir (a distant light) or light_pos_mm (a near one), not both",
                    self.file
                ))
            }
            (None, None) => {
                return Err(format!(
                    "{}: needs light_dir (a distant light) or light_pos_mm (a near one)",
                    self.file
                ))
            }
        };
        light
            .with_intensity(self.intensity.unwrap_or(1.0))
            .map_err(|e| format!("{}: {e}", self.file))
    }
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
    let px_per_mm = sc
        .px_per_mm
        .map(|v| crate::units::PxPerMm::new(v).ok_or(format!("px_per_mm {v} must be positive")))
        .transpose()?;
    let (close_up, device_px_per_mm) = match (sc.close_up, px_per_mm) {
        (false, px) => (None, px),
        (true, Some(px)) => (Some(px), None),
        (true, None) => return Err("a close-up needs the device's px_per_mm".into()),
    };
    let photos = sc
        .photos
        .iter()
        .map(|p| {
            Ok(CapturePhoto {
                path: dir.join(&p.file),
                light: p.light()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let modality = match &sc.modality {
        Some(m) => Some(m.parse::<Modality>()?),
        None => None,
    };
    if let Some([x, y]) = sc.optical_centre_px {
        if !(x.is_finite() && y.is_finite()) {
            return Err(format!("optical_centre_px {x} {y} must be finite"));
        }
    }
    Ok(CaptureSet {
        name: sc.capture_set,
        photos,
        close_up,
        device_px_per_mm,
        modality,
        optical_centre_px: sc.optical_centre_px,
    }
    .most_frontal_first())
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
    fn a_near_light_changes_direction_and_brightness_across_the_frame() {
        // An LED 700 mm in front and 300 mm to the right of the axis.
        let l = Light::near("300 0 700".parse().unwrap())
            .with_intensity(2.0)
            .unwrap();
        let (d0, e0) = l.towards([0.0; 3]);
        assert!((e0 - 2.0).abs() < 1e-5, "the intensity holds at the origin");
        let (d1, e1) = l.towards([-100.0, 0.0, 0.0]);
        let angle = (d0[0] * d1[0] + d0[1] * d1[1] + d0[2] * d1[2])
            .acos()
            .to_degrees();
        assert!(
            angle > 5.0,
            "10 cm across a face turns the light by {angle}°"
        );
        assert!(e1 < e0, "farther from the light, dimmer");
        assert!(Light::near(LightPos::new([0.0, 0.0, 500.0]).unwrap())
            .with_intensity(0.0)
            .is_err());
        assert!("0 0 -5".parse::<LightPos>().is_err(), "behind the skin");
        // A distant light is the same everywhere.
        let far = Light::distant("1 0 1".parse().unwrap());
        assert_eq!(far.towards([0.0; 3]), far.towards([80.0, -40.0, 10.0]));
    }

    #[test]
    fn the_most_frontal_photo_goes_first() {
        let photo = |name: &str, d: [f32; 3]| CapturePhoto {
            path: name.into(),
            light: Light::distant(LightDir::new(d).unwrap()),
        };
        let set = CaptureSet {
            name: "s".into(),
            photos: vec![
                photo("a", [1.0, 0.0, 1.0]),
                photo("b", [0.0, 0.1, 1.0]),
                photo("c", [-1.0, 0.0, 1.0]),
            ],
            modality: None,
            close_up: None,
            device_px_per_mm: None,
            optical_centre_px: None,
        }
        .most_frontal_first();
        let order: Vec<_> = set
            .photos
            .iter()
            .map(|p| p.path.display().to_string())
            .collect();
        assert_eq!(order, ["b", "a", "c"]);
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
