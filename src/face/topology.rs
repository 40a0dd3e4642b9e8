//! Landmark indices of MediaPipe's 468-point face mesh (Apache-2.0; from
//! `mediapipe/python/solutions/face_mesh_connections.py`, ordered into closed
//! loops). "Right" and "left" are the subject's sides.

pub const LANDMARK_COUNT: usize = 468;

pub const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];
pub const RIGHT_EYE: [usize; 16] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
];
pub const LEFT_EYE: [usize; 16] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
];
/// Brow loops: upper edge lateral→medial, then lower edge medial→lateral.
pub const RIGHT_BROW: [usize; 10] = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46];
pub const LEFT_BROW: [usize; 10] = [300, 293, 334, 296, 336, 285, 295, 282, 283, 276];
pub const LIPS_OUTER: [usize; 20] = [
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
];
/// Loops around each nostril opening and the columella base below it.
pub const RIGHT_NOSTRIL: [usize; 11] = [64, 219, 218, 237, 44, 125, 141, 94, 2, 97, 98];
pub const LEFT_NOSTRIL: [usize; 11] = [294, 439, 438, 457, 274, 354, 370, 94, 2, 326, 327];

/// Eye corners (outer, inner) used for the iris crop and eye width.
pub const RIGHT_EYE_CORNERS: (usize, usize) = (33, 133);
pub const LEFT_EYE_CORNERS: (usize, usize) = (263, 362);
/// Face extremes used for pose: right cheek edge, left cheek edge,
/// forehead top, chin.
pub const RIGHT_FACE_EDGE: usize = 234;
pub const LEFT_FACE_EDGE: usize = 454;
pub const FOREHEAD_TOP: usize = 10;
pub const CHIN: usize = 152;
