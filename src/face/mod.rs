//! Face geometry: detection, 468-point mesh, irises and head pose, from
//! MediaPipe's models run through ONNX Runtime.

pub mod detect;
pub mod lighting;
pub mod spectacles;
pub mod surface;
pub mod topology;
pub mod warp;

use crate::error::{ErrorCode, InputError};
use crate::units::Degrees;
use detect::{Detection, DetectorKind};
use lighting::Gains;
use ort::session::Session;
use ort::value::TensorRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use topology as topo;
use warp::{Affine, Pyramid};

/// A 2-D point in continuous image coordinates (pixel `i` spans `[i, i+1)`).
pub type Point = (f32, f32);

const MESH_SIZE: u32 = 192;
const IRIS_SIZE: u32 = 64;
/// MediaPipe's crop margins: face crop 1.5× the face box, eye crop 2.3× the
/// eye-corner distance.
const FACE_CROP_SCALE: f32 = 1.5;
const EYE_CROP_SCALE: f32 = 2.3;
const MIN_FACE_PRESENCE: f32 = 0.5;
/// Below this presence (on the mesh's own crop) the crop's other quarter
/// turns are tried: every upright face photo here, and every capture variant
/// of them that is not upside down, reads at least 0.99999; upside-down faces
/// meshed as if upright read 0.58 to 0.99996 (`datasets/capture_variants.py`,
/// `rot180`).
const CONFIDENT_PRESENCE: f32 = 0.99999;
/// The mesh model's depth is shallower than its x and y. Stretched by this
/// factor, mirror-image triangles of the 43 near-frontal `tones/` faces have
/// the same 3-D area on both sides of the face (bilateral symmetry: 2.2 %
/// rms asymmetry unstretched, 0.8 % stretched), and on 13 held-out faces,
/// some turned 15–26°, the two sides' surface areas agree within 4 % where
/// their image areas differ by up to 41 %. `datasets/mesh_depth_scale.py`
/// refits it.
pub const MESH_DEPTH_SCALE: f32 = 1.35;

/// The four face-geometry sessions of one worker.
pub struct FaceModels {
    pub short_range: Session,
    pub full_range: Session,
    pub mesh: Session,
    pub iris: Session,
}

/// Head orientation. Yaw > 0: the subject turned to their own left; pitch >
/// 0: chin up; roll > 0: head tilted clockwise in the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pose {
    /// Turn about the vertical axis, degrees (> 0: to the subject's own left).
    pub yaw_deg: Degrees,
    /// Tilt up or down, degrees (> 0: chin up).
    pub pitch_deg: Degrees,
    /// Tilt sideways in the image, degrees (> 0: clockwise).
    pub roll_deg: Degrees,
}

/// A roll within this of a quarter or half turn is a photo stored turned,
/// not a head tilted that far: the mesh's roll on a face lying sideways is
/// rough (56° and −79° on portraits turned a quarter turn), and a head
/// rolled beyond 45° is refused by the pose check whichever way it is
/// turned.
pub const STORED_TURNED_TOLERANCE_DEG: f64 = 45.0;

/// Clockwise quarter turns (1–3) that bring a face whose roll is within
/// `tolerance_deg` of a quarter or half turn upright: a photo stored turned
/// (no EXIF orientation). `None` for a face within the tolerance of upright
/// or between quarter turns (a tilted head, which the pose check judges).
pub fn quarter_turns_to_upright(roll_deg: f64, tolerance_deg: f64) -> Option<u8> {
    // Roll > 0 is clockwise: a face rolled by -90° needs one clockwise turn.
    (1u8..4).find(|&k| {
        let off = (roll_deg + 90.0 * f64::from(k)).rem_euclid(360.0);
        off.min(360.0 - off) <= tolerance_deg
    })
}

/// One iris, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Iris {
    pub centre: Point,
    pub diameter_px: f32,
    /// Each iris's two edge-to-edge diameters (first pair, second pair).
    pub diameters_px: (f32, f32),
    /// Lid gap over eye width from the iris model's eyelid contour.
    pub openness: f32,
    /// Mean luma of the eye's opening outside the iris over the iris's own
    /// (`iris_visibility`); 1 when either is empty.
    pub sclera_over_iris: f32,
}

/// Everything the later stages need to know about the analysed face.
#[derive(Debug, Clone)]
pub struct FaceGeometry {
    pub detector: DetectorKind,
    pub detection: Detection,
    /// Faces found in the photo (the largest is analysed).
    pub face_count: usize,
    /// 468 landmarks: x, y in image pixels, z (depth, growing away from the
    /// camera) on the same scale (`MESH_DEPTH_SCALE` applied).
    pub landmarks: Vec<[f32; 3]>,
    pub presence: f32,
    pub right_iris: Iris,
    pub left_iris: Iris,
    pub pose: Pose,
    /// Lid gap over eye width, per eye, from the iris model's eyelid contour
    /// (≈0.3 open, ≈0.15 closed).
    pub right_eye_openness: f32,
    pub left_eye_openness: f32,
    /// Spectacle rims found around the eyes (none, one or two); their bands
    /// are left out of every zone.
    pub spectacle_rims: Vec<spectacles::Rim>,
}

impl Iris {
    /// How far the two edge-to-edge diameters disagree, relative to their
    /// mean: ~5 % on a visible iris, 30 % and more when lids cover it.
    pub fn asymmetry(&self) -> f32 {
        (self.diameters_px.0 - self.diameters_px.1).abs() / self.diameter_px.max(1e-3)
    }
}

impl FaceGeometry {
    pub fn point(&self, i: usize) -> Point {
        let p = self.landmarks[i];
        (p[0], p[1])
    }

    pub fn polygon(&self, indices: &[usize]) -> Vec<Point> {
        indices.iter().map(|&i| self.point(i)).collect()
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-80.0, 80.0)).exp())
}

fn inference_error(stage: &str) -> impl Fn(ort::Error) -> InputError + '_ {
    move |e| InputError::new(ErrorCode::InferenceFailed, format!("{stage}: {e}"))
}

/// The detector score above which a turn of a photo is worth measuring in
/// [`detector_sees_face_turned`]: below `detect::MIN_SCORE`, so that the
/// look through a turned sampling map (whose pyramid levels meet the
/// turned photo's half a pixel apart at most) misses no face that the
/// turned photo itself would show the detector.
const TURNED_LOOK_MIN_SCORE: f32 = 0.3;

/// Whether either detector sees a face in the photo turned clockwise by
/// `quarters` quarter turns, looked at through the sampling map: a turned
/// copy of the whole photo (twice its memory for a moment) is made only
/// where there is a face to find.
pub fn detector_sees_face_turned(
    models: &mut FaceModels,
    pyramid: &Pyramid,
    quarters: u8,
) -> Result<bool, InputError> {
    for (session, kind) in [
        (&mut models.short_range, DetectorKind::ShortRange),
        (&mut models.full_range, DetectorKind::FullRange),
    ] {
        let seen = detect::detect_turned(session, kind, pyramid, quarters, TURNED_LOOK_MIN_SCORE)
            .map_err(inference_error("face detection"))?;
        if !seen.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Finds the largest face and measures its geometry.
pub fn analyse(models: &mut FaceModels, pyramid: &Pyramid) -> Result<FaceGeometry, InputError> {
    let mut detector = DetectorKind::ShortRange;
    let mut faces = detect::detect(&mut models.short_range, detector, pyramid)
        .map_err(inference_error("face detection"))?;
    if faces.is_empty() {
        detector = DetectorKind::FullRange;
        faces = detect::detect(&mut models.full_range, detector, pyramid)
            .map_err(inference_error("face detection"))?;
    }
    let Some(largest) = faces
        .iter()
        .max_by(|a, b| a.area().total_cmp(&b.area()))
        .cloned()
    else {
        return Err(InputError::new(
            ErrorCode::NoFace,
            "no face found (short- and full-range detectors, upright and turned): a face small in a large frame, mostly outside it or turned away is not found; a photo cropped to the head may be",
        ));
    };

    // First mesh from the detection, then a second from the first mesh's own
    // box: the detector's box is coarse and the mesh is most accurate when
    // its crop is centred and upright the way MediaPipe tracks faces.
    let (rx, ry) = largest.keypoints[0];
    let (lx, ly) = largest.keypoints[1];
    let angle = (ly - ry).atan2(lx - rx);
    let side = FACE_CROP_SCALE * largest.w.max(largest.h);
    let mesh_at = |models: &mut FaceModels, angle: f32| {
        let first = Affine::rotated_square(largest.cx, largest.cy, side, angle, MESH_SIZE);
        let (landmarks, _, _) = run_mesh(&mut models.mesh, pyramid, &first)?;
        run_mesh(&mut models.mesh, pyramid, &crop_from_landmarks(&landmarks))
    };
    let (mut landmarks, mut presence, mut gains) = mesh_at(models, angle)?;
    // A photo stored turned by a quarter or a half turn (no EXIF
    // orientation) can fool the detector's eye points: an upside-down face
    // was meshed as if upright (presence 0.998 on the detector's crop, 0.58
    // on the mesh's own, every zone on the wrong features; others read 0.90
    // and 0.9995, and the detector's eye and mouth points were laid out as
    // an upright face's, so they cannot tell). When the mesh is less sure
    // than on any upright face here, the other quarter turns of the
    // detector's crop are tried and the most confident kept; the pose then
    // reads the turn.
    if presence < CONFIDENT_PRESENCE {
        for quarter in 1..4 {
            let (l, p, g) = mesh_at(models, angle + quarter as f32 * std::f32::consts::FRAC_PI_2)?;
            if p > presence {
                (landmarks, presence, gains) = (l, p, g);
            }
        }
    }
    if presence < MIN_FACE_PRESENCE {
        return Err(InputError::new(
            ErrorCode::NoFace,
            format!("the face mesh does not confirm a face (presence {presence:.2} < {MIN_FACE_PRESENCE})"),
        ));
    }

    let point = |i: usize| (landmarks[i][0], landmarks[i][1]);
    let right_iris = run_iris(
        &mut models.iris,
        pyramid,
        point(topo::RIGHT_EYE_CORNERS.0),
        point(topo::RIGHT_EYE_CORNERS.1),
        true,
        gains,
    )?;
    let left_iris = run_iris(
        &mut models.iris,
        pyramid,
        point(topo::LEFT_EYE_CORNERS.0),
        point(topo::LEFT_EYE_CORNERS.1),
        false,
        gains,
    )?;
    let spectacle_rims = spectacles::find(pyramid.base(), &landmarks);
    Ok(FaceGeometry {
        spectacle_rims,
        detector,
        face_count: faces.len(),
        detection: largest,
        pose: pose(&landmarks),
        // The iris model's eyelid contour closes on closed eyes; the mesh's
        // lids stay apart (0.19 closed vs 0.23 open on the shared photos).
        right_eye_openness: right_iris.openness,
        left_eye_openness: left_iris.openness,
        landmarks,
        presence,
        right_iris,
        left_iris,
    })
}

fn run_mesh(
    session: &mut Session,
    pyramid: &Pyramid,
    map: &Affine,
) -> Result<(Vec<[f32; 3]>, f32, Gains), InputError> {
    let n = MESH_SIZE as usize;
    let mut input = vec![0.0f32; n * n * 3];
    pyramid.sample(map, MESH_SIZE, MESH_SIZE, &mut input);
    let gains = Gains::from_crop(&input, n);
    gains.apply(&mut input, 1.0, 0.0);
    let err = inference_error("face mesh");
    let tensor = TensorRef::from_array_view(([1usize, n, n, 3], &*input)).map_err(&err)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(&err)?;
    let (_, coords) = outputs[0].try_extract_tensor::<f32>().map_err(&err)?;
    let (_, logit) = outputs[1].try_extract_tensor::<f32>().map_err(&err)?;
    if coords.len() < topo::LANDMARK_COUNT * 3 {
        return Err(InputError::new(
            ErrorCode::InferenceFailed,
            "face mesh returned too few values",
        ));
    }
    let scale = map.scale();
    let landmarks = coords
        .chunks_exact(3)
        .take(topo::LANDMARK_COUNT)
        .map(|c| {
            let (x, y) = map.apply_continuous(c[0], c[1]);
            [x, y, c[2] * scale * MESH_DEPTH_SCALE]
        })
        .collect();
    Ok((
        landmarks,
        sigmoid(logit.first().copied().unwrap_or(-80.0)),
        gains,
    ))
}

/// MediaPipe's landmarks-to-crop rule: upright along the outer eye corners,
/// centred on the landmarks' box in that frame, 1.5× its larger side.
fn crop_from_landmarks(landmarks: &[[f32; 3]]) -> Affine {
    let r = landmarks[topo::RIGHT_EYE_CORNERS.0];
    let l = landmarks[topo::LEFT_EYE_CORNERS.0];
    let angle = (l[1] - r[1]).atan2(l[0] - r[0]);
    let (sin, cos) = angle.sin_cos();
    let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in landmarks {
        // Coordinates in the face-upright frame.
        let u = p[0] * cos + p[1] * sin;
        let v = -p[0] * sin + p[1] * cos;
        u0 = u0.min(u);
        u1 = u1.max(u);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    let (cu, cv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
    let (cx, cy) = (cu * cos - cv * sin, cu * sin + cv * cos);
    Affine::rotated_square(
        cx,
        cy,
        FACE_CROP_SCALE * (u1 - u0).max(v1 - v0),
        angle,
        MESH_SIZE,
    )
}

/// Runs the iris model on one eye. The model was trained on the subject's
/// left eye; the right eye is mirrored in and out, as MediaPipe does.
fn run_iris(
    session: &mut Session,
    pyramid: &Pyramid,
    outer: Point,
    inner: Point,
    mirror: bool,
    gains: Gains,
) -> Result<Iris, InputError> {
    let centre = ((outer.0 + inner.0) / 2.0, (outer.1 + inner.1) / 2.0);
    // Angle of the eye line pointing from the subject's right to left.
    let (from, to) = if mirror {
        (outer, inner)
    } else {
        (inner, outer)
    };
    let angle = (to.1 - from.1).atan2(to.0 - from.0);
    let mut map = Affine::rotated_square(
        centre.0,
        centre.1,
        EYE_CROP_SCALE * dist(outer, inner),
        angle,
        IRIS_SIZE,
    );
    if mirror {
        map = map.mirrored(IRIS_SIZE);
    }
    let n = IRIS_SIZE as usize;
    let mut input = vec![0.0f32; n * n * 3];
    pyramid.sample(&map, IRIS_SIZE, IRIS_SIZE, &mut input);
    gains.apply(&mut input, 1.0, 0.0);
    let err = inference_error("iris");
    let tensor = TensorRef::from_array_view(([1usize, n, n, 3], &*input)).map_err(&err)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(&err)?;
    let (_, contour) = outputs[0].try_extract_tensor::<f32>().map_err(&err)?;
    let (_, iris) = outputs[1].try_extract_tensor::<f32>().map_err(&err)?;
    if iris.len() < 15 || contour.len() < 16 * 3 {
        return Err(InputError::new(
            ErrorCode::InferenceFailed,
            "iris model returned too few values",
        ));
    }
    let p: Vec<Point> = iris
        .chunks_exact(3)
        .take(5)
        .map(|c| map.apply_continuous(c[0], c[1]))
        .collect();
    let d1 = dist(p[1], p[3]);
    let d2 = dist(p[2], p[4]);
    // Eyelid contour: 0 and 8 are the corners, 4 the lower and 12 the upper lid's middle.
    let c = |i: usize| map.apply_continuous(contour[3 * i], contour[3 * i + 1]);
    let openness = dist(c(12), c(4)) / dist(c(0), c(8)).max(1e-3);
    let lids: Vec<Point> = (0..16)
        .map(|i| (contour[3 * i], contour[3 * i + 1]))
        .collect();
    let sclera_over_iris = iris_visibility(
        &input,
        n,
        &lids,
        (iris[0], iris[1]),
        (d1 + d2) / 4.0 / map.scale(),
    );
    Ok(Iris {
        centre: p[0],
        diameter_px: (d1 + d2) / 2.0,
        diameters_px: (d1, d2),
        openness,
        sclera_over_iris,
    })
}

/// Mean luma (interleaved RGB crop `n` wide) of the eye's opening (the lid
/// contour `lids`, crop pixels) outside the iris disc over that inside it:
/// the sclera is brighter than any iris, so a ratio near 1 means the iris
/// model was given no eye to see (dark glasses, a shadow, a closed lid).
fn iris_visibility(crop: &[f32], n: usize, lids: &[Point], centre: Point, radius: f32) -> f32 {
    let inside_lids = |x: f32, y: f32| {
        let mut inside = false;
        for (a, b) in lids.iter().zip(lids.iter().cycle().skip(1)) {
            if (a.1 > y) != (b.1 > y) && x < a.0 + (y - a.1) / (b.1 - a.1) * (b.0 - a.0) {
                inside = !inside;
            }
        }
        inside
    };
    let (mut iris, mut sclera) = ((0.0f64, 0usize), (0.0f64, 0usize));
    for y in 0..n {
        for x in 0..n {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            if !inside_lids(px, py) {
                continue;
            }
            let v = &crop[3 * (y * n + x)..][..3];
            let luma = f64::from(crate::srgb::luma_601_f32(v[0], v[1], v[2]));
            let r = ((px - centre.0).powi(2) + (py - centre.1).powi(2)).sqrt();
            let bin = if r <= radius { &mut iris } else { &mut sclera };
            bin.0 += luma;
            bin.1 += 1;
        }
    }
    if iris.1 == 0 || sclera.1 == 0 || iris.0 <= 0.0 {
        return 1.0;
    }
    ((sclera.0 / sclera.1 as f64) / (iris.0 / iris.1 as f64)) as f32
}

/// Head pose from the mesh's 3-D landmarks: the face's left-right axis
/// (cheek edge to cheek edge) and up axis (chin to forehead), made
/// orthonormal; the mesh's z has roughly the scale of x and y.
pub fn pose(landmarks: &[[f32; 3]]) -> Pose {
    let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let norm = |v: [f32; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-6);
        [v[0] / n, v[1] / n, v[2] / n]
    };
    // Image y grows downwards; "up" is towards the forehead.
    let right = norm(sub(
        landmarks[topo::LEFT_FACE_EDGE],
        landmarks[topo::RIGHT_FACE_EDGE],
    ));
    let up_raw = sub(landmarks[topo::FOREHEAD_TOP], landmarks[topo::CHIN]);
    let dot = up_raw[0] * right[0] + up_raw[1] * right[1] + up_raw[2] * right[2];
    let up = norm([
        up_raw[0] - dot * right[0],
        up_raw[1] - dot * right[1],
        up_raw[2] - dot * right[2],
    ]);
    let deg = |r: f32| Degrees(f64::from(r.to_degrees()));
    Pose {
        // The subject's left cheek moving away (z grows) means a turn to their left.
        yaw_deg: deg(right[2].clamp(-1.0, 1.0).asin()),
        // Forehead moving away from the camera (z grows) means chin up.
        pitch_deg: deg(up[2].clamp(-1.0, 1.0).asin()),
        roll_deg: deg(right[1].atan2(right[0])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_lying_sideways_is_turned_a_tilted_head_is_not() {
        let tol = STORED_TURNED_TOLERANCE_DEG;
        assert_eq!(quarter_turns_to_upright(-90.0, tol), Some(1));
        assert_eq!(quarter_turns_to_upright(-79.0, tol), Some(1));
        assert_eq!(quarter_turns_to_upright(56.0, tol), Some(3));
        assert_eq!(quarter_turns_to_upright(178.0, tol), Some(2));
        for tilted in [0.0, 12.0, -30.0, 44.0] {
            assert_eq!(quarter_turns_to_upright(tilted, tol), None, "{tilted}");
        }
    }
}
