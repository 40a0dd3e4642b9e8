//! Scale: pixels per millimetre on the skin, from the iris (the visible iris
//! is 11.7 ± 0.5 mm across in adults), from the interpupillary distance as a
//! weaker fallback, or from the user. Every scale carries its source and a
//! relative standard uncertainty; where no honest scale exists it says why.

use crate::face::{topology as topo, FaceGeometry};
use crate::units::{Millimetres, Pixels, PxPerMm};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Adult horizontal visible iris diameter and its population SD (DOMAIN.md).
pub const IRIS_DIAMETER: Millimetres = Millimetres(11.7);
const IRIS_REL_SD: f64 = 0.5 / 11.7;
/// Adult mean interpupillary distance; population SD ≈ 3.6 mm (5.7 %), plus
/// ≈ 3 % for taking pupil centres as eye-corner midpoints.
pub const INTERPUPILLARY: Millimetres = Millimetres(63.0);
const IPD_REL_SD: f64 = 0.065;
/// Measurement noise of a landmark-based length, in pixels (1 SD).
const LANDMARK_SD_PX: f64 = 0.5;
/// Lid gap / eye width below which an eye is taken as closed (measured on
/// the shared photos: open 0.30–0.40, closed 0.12–0.16).
pub const EYE_OPEN_MIN: f32 = 0.20;
/// Disagreement between an iris's two diameters above which the iris is
/// taken as hidden by the lids (visible irises: ≤ 10 %).
pub const MAX_IRIS_ASYMMETRY: f32 = 0.2;
/// Iris diameter over the eye's corner-to-corner width: 11.7 mm over about
/// 29 mm. On the open eyes of the real photos in ../shared it reads
/// 0.36–0.48 (median 0.40); an iris fitted under half-closed or closed lids
/// reads less (0.28–0.32 on the bioskin close-ups, whose eyes are closed
/// but whose specular images pass the lid-gap test). Outside these bounds
/// the iris is not a ruler.
pub const IRIS_EYE_RATIO: (f32, f32) = (0.33, 0.50);
/// The eye's opening outside the iris (the sclera) over the iris, mean luma
/// (`Iris::sclera_over_iris`), below which no iris is seen: on the open eyes
/// of the real photos in ../shared it reads 1.37–3.1 (1.26 and 0.78 on a
/// face at 0.9 px/mm), on dark glasses drawn over a face 1.00, where the
/// iris model still placed irises and read the scale 15 % small.
pub const MIN_SCLERA_OVER_IRIS: f32 = 1.2;
/// Irises narrower than this (pixels) are not judged by `MIN_SCLERA_OVER_IRIS`:
/// a few pixels of sclera blur into the iris (the 0.9 px/mm face's 10-pixel
/// irises read 0.78–1.26 and flickered between iris and eye-distance scales
/// across re-encodings); dark glasses on such a photo go unnoticed.
pub const MIN_IRIS_PX_FOR_VISIBILITY: f32 = 14.0;
/// Yaw up to which both eyes are seen frontally; beyond it only the nearer
/// eye, and beyond the last limit no face-based scale at all.
pub const FRONTAL_YAW_DEG: f64 = 10.0;
pub const MAX_IRIS_YAW_DEG: f64 = 30.0;
/// Relative error of the mesh's depth between the eyes, 1 SD: it enters the
/// 3-D eye distance in proportion to sin(yaw) (an allowance, not measured:
/// no face here has a known eye distance).
const MESH_DEPTH_REL_SD: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleSource {
    /// Mean of both irises (frontal, eyes open).
    Iris,
    /// The nearer eye's iris only (head turned).
    IrisNearerEye,
    /// Distance between the eye centres against the adult mean.
    Interpupillary,
    /// Given on the command line (`--px-per-mm`), e.g. a booth's calibration.
    User,
    /// A capture device's calibration, from its capture-set sidecar or its
    /// device profile.
    Device,
    /// The photos of one sitting (a device profile's session): their own
    /// estimates, weighted by their uncertainty.
    Session,
    /// No scale could be established; see `reason`.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scale {
    /// Image pixels per millimetre on the skin; null when no scale could be set
    /// (see `reason`).
    pub px_per_mm: Option<PxPerMm>,
    /// Where the scale came from.
    pub source: ScaleSource,
    /// Relative standard uncertainty (1 SD) of `px_per_mm`: 0.05 means ±5 %.
    /// Null when the user gave the scale.
    pub uncertainty: Option<f64>,
    /// Why the iris was not used (or why there is no scale); null when it was.
    pub reason: Option<String>,
    /// Iris diameters measured, in pixels (subject's right, left).
    pub iris_diameter_px: Option<[Pixels; 2]>,
}

/// With the head turned by `yaw_deg`, whether the subject's right eye is
/// the one nearer the camera.
fn nearer_eye_is_right(yaw_deg: f64) -> bool {
    yaw_deg > 0.0
}

impl Scale {
    /// Which irises (the subject's right, left) this scale was read from,
    /// for drawing only the rulers actually used.
    pub fn irises_used(&self, yaw_deg: f64) -> [bool; 2] {
        match self.source {
            ScaleSource::Iris => [true, true],
            ScaleSource::IrisNearerEye => {
                let right = nearer_eye_is_right(yaw_deg);
                [right, !right]
            }
            _ => [false, false],
        }
    }

    pub fn user(px_per_mm: PxPerMm) -> Self {
        Self {
            px_per_mm: Some(px_per_mm),
            source: ScaleSource::User,
            uncertainty: None,
            reason: None,
            iris_diameter_px: None,
        }
    }

    pub fn device(px_per_mm: PxPerMm) -> Self {
        Self {
            source: ScaleSource::Device,
            ..Self::user(px_per_mm)
        }
    }

    pub fn none(reason: impl Into<String>) -> Self {
        Self {
            px_per_mm: None,
            source: ScaleSource::None,
            uncertainty: None,
            reason: Some(reason.into()),
            iris_diameter_px: None,
        }
    }
}

/// Chooses the best scale the face supports.
pub fn from_face(face: &FaceGeometry, user: Option<PxPerMm>) -> Scale {
    let irises = [
        Pixels(f64::from(face.right_iris.diameter_px)),
        Pixels(f64::from(face.left_iris.diameter_px)),
    ];
    let mut scale = match user {
        Some(s) => Scale::user(s),
        None => estimate(face, irises),
    };
    scale.iris_diameter_px = Some(irises);
    scale
}

/// Whether an iris is seen at all: its eye's opening is brighter than it
/// (too small an iris to judge counts as seen).
fn seen(iris: &crate::face::Iris) -> bool {
    iris.diameter_px < MIN_IRIS_PX_FOR_VISIBILITY || iris.sclera_over_iris >= MIN_SCLERA_OVER_IRIS
}

fn estimate(face: &FaceGeometry, irises: [Pixels; 2]) -> Scale {
    let yaw = face.pose.yaw_deg.get();
    let ratio = |iris: &crate::face::Iris, corners: (usize, usize)| {
        let (a, b) = (face.point(corners.0), face.point(corners.1));
        iris.diameter_px / ((a.0 - b.0).hypot(a.1 - b.1)).max(1e-3)
    };
    let right_ratio = ratio(&face.right_iris, topo::RIGHT_EYE_CORNERS);
    let left_ratio = ratio(&face.left_iris, topo::LEFT_EYE_CORNERS);
    // Small irises measure the ratio coarsely: widen the bounds by two SDs
    // of the iris's landmark noise.
    let plausible = |r: f32, iris: &crate::face::Iris| {
        let slack = r * 2.0 * LANDMARK_SD_PX as f32 / iris.diameter_px.max(1.0);
        (IRIS_EYE_RATIO.0 - slack..=IRIS_EYE_RATIO.1 + slack).contains(&r)
    };
    let right_open = face.right_eye_openness >= EYE_OPEN_MIN
        && face.right_iris.asymmetry() <= MAX_IRIS_ASYMMETRY
        && seen(&face.right_iris)
        && plausible(right_ratio, &face.right_iris);
    let left_open = face.left_eye_openness >= EYE_OPEN_MIN
        && face.left_iris.asymmetry() <= MAX_IRIS_ASYMMETRY
        && seen(&face.left_iris)
        && plausible(left_ratio, &face.left_iris);
    let iris_scale = |d: Pixels, extra_rel: f64| {
        let rel = (IRIS_REL_SD.powi(2) + (LANDMARK_SD_PX / d.0).powi(2) + extra_rel.powi(2)).sqrt();
        (PxPerMm::from_known_length(d, IRIS_DIAMETER), rel)
    };

    let reason = if yaw.abs() > MAX_IRIS_YAW_DEG {
        return Scale::none(format!(
            "head turned {yaw:.0}° (limit {MAX_IRIS_YAW_DEG}°): neither iris nor eye distance gives a reliable scale"
        ));
    } else if yaw.abs() <= FRONTAL_YAW_DEG {
        if right_open && left_open {
            let mean = Pixels((irises[0].0 + irises[1].0) / 2.0);
            // Disagreement between the eyes is evidence of error: fold it in.
            let spread = (irises[0].0 - irises[1].0).abs() / 2.0 / mean.0.max(1e-6);
            let (px, rel) = iris_scale(mean, spread);
            return Scale {
                px_per_mm: px,
                source: ScaleSource::Iris,
                uncertainty: Some(rel),
                reason: None,
                iris_diameter_px: None,
            };
        }
        closed_eyes_reason(face, right_open, left_open, [right_ratio, left_ratio])
    } else {
        // Turned head: the far eye is foreshortened, so only the nearer one counts.
        let (nearer, open, name) = if nearer_eye_is_right(yaw) {
            (irises[0], right_open, "right")
        } else {
            (irises[1], left_open, "left")
        };
        if open {
            let foreshortening = 1.0 - yaw.to_radians().cos();
            let (px, rel) = iris_scale(nearer, foreshortening);
            return Scale {
                px_per_mm: px,
                source: ScaleSource::IrisNearerEye,
                uncertainty: Some(rel),
                reason: Some(format!(
                    "head turned {yaw:.0}°: only the nearer ({name}) eye's iris is used"
                )),
                iris_diameter_px: None,
            };
        }
        let why = if yaw > 0.0 {
            iris_refusal(face.right_eye_openness, &face.right_iris, right_ratio)
        } else {
            iris_refusal(face.left_eye_openness, &face.left_iris, left_ratio)
        };
        format!("head turned {yaw:.0}° and the nearer ({name}) eye's iris is not visible: {why}")
    };

    // The eye distance in 3-D, from the mesh (its depth is on the image's
    // pixel scale): turning the head shortens the distance in the image,
    // not on the face.
    let [r, l] = eye_centres(face);
    let ipd =
        Pixels(((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2) + (r[2] - l[2]).powi(2)).sqrt());
    // The mesh's depth is a learned estimate: the further the head turns,
    // the more of the distance rests on it.
    let depth_rel = MESH_DEPTH_REL_SD * yaw.to_radians().sin().abs();
    let rel = (IPD_REL_SD.powi(2) + (LANDMARK_SD_PX / ipd.0).powi(2) + depth_rel.powi(2)).sqrt();
    Scale {
        px_per_mm: PxPerMm::from_known_length(ipd, INTERPUPILLARY),
        source: ScaleSource::Interpupillary,
        uncertainty: Some(rel),
        reason: Some(format!(
            "{reason}; scale from eye distance against the adult mean of {} mm",
            INTERPUPILLARY.0
        )),
        iris_diameter_px: None,
    }
}

/// The right and the left eye's centre (the mean of its corners) in the
/// mesh's 3-D coordinates (depth on the image's pixel scale).
fn eye_centres(face: &FaceGeometry) -> [[f64; 3]; 2] {
    [topo::RIGHT_EYE_CORNERS, topo::LEFT_EYE_CORNERS].map(|c| {
        let (a, b) = (face.landmarks[c.0], face.landmarks[c.1]);
        [0, 1, 2].map(|k| f64::from((a[k] + b[k]) / 2.0))
    })
}

/// The eye distance in the image against the adult mean: a rough scale
/// (a turned head reads it smaller) for sizing margins, never for a
/// measurement.
pub fn rough_px_per_mm(face: &FaceGeometry) -> f64 {
    let [r, l] = eye_centres(face);
    // In single precision, as the landmarks are.
    f64::from(((r[0] - l[0]) as f32).hypot((r[1] - l[1]) as f32)) / INTERPUPILLARY.0
}

/// Why one eye's iris is not taken as a ruler.
fn iris_refusal(openness: f32, iris: &crate::face::Iris, ratio: f32) -> String {
    if openness < EYE_OPEN_MIN {
        format!("lids closed (lid gap / eye width {openness:.2} < {EYE_OPEN_MIN})")
    } else if !seen(iris) {
        format!(
            "the eye's opening is no brighter than its iris (luma ratio {:.2} < {MIN_SCLERA_OVER_IRIS}): no iris is seen (dark glasses, a shadow, or lids the lid-gap test passed)",
            iris.sclera_over_iris
        )
    } else if iris.asymmetry() > MAX_IRIS_ASYMMETRY {
        format!(
            "its two diameters disagree by {:.0} % (over {:.0} %: lids cover it)",
            100.0 * iris.asymmetry(),
            100.0 * MAX_IRIS_ASYMMETRY
        )
    } else {
        format!(
            "iris / eye width {ratio:.2} is outside the {}–{} of visible irises",
            IRIS_EYE_RATIO.0, IRIS_EYE_RATIO.1
        )
    }
}

fn closed_eyes_reason(
    face: &FaceGeometry,
    right_open: bool,
    left_open: bool,
    iris_eye_ratio: [f32; 2],
) -> String {
    // Lids apart but no iris seen (dark glasses): hidden, not closed.
    let hidden = |open: f32, iris: &crate::face::Iris| open >= EYE_OPEN_MIN && !seen(iris);
    let (right_hidden, left_hidden) = (
        hidden(face.right_eye_openness, &face.right_iris),
        hidden(face.left_eye_openness, &face.left_iris),
    );
    let which = match (right_open, left_open) {
        (false, false) if right_hidden && left_hidden => "both eyes hidden",
        (false, false) => "both eyes closed",
        (false, true) if right_hidden => "right eye hidden",
        (false, true) => "right eye closed",
        _ if left_hidden => "left eye hidden",
        _ => "left eye closed",
    };
    format!(
        "{which} (lid gap / eye width {:.2} right, {:.2} left, open needs >= {EYE_OPEN_MIN}; iris diameters disagree by {:.0} % and {:.0} %; iris / eye width {:.2} and {:.2}, visible irises read {}–{}; opening / iris luma {:.2} and {:.2}, visible irises >= {MIN_SCLERA_OVER_IRIS}): the iris is not visible",
        face.right_eye_openness, face.left_eye_openness, 100.0 * face.right_iris.asymmetry(), 100.0 * face.left_iris.asymmetry(),
        iris_eye_ratio[0], iris_eye_ratio[1], IRIS_EYE_RATIO.0, IRIS_EYE_RATIO.1,
        face.right_iris.sclera_over_iris, face.left_iris.sclera_over_iris
    )
}
