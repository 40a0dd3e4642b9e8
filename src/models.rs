//! The model files: where they live, their pinned checksums (from the
//! committed `models/manifest.json`, compiled into the binary), and loading
//! them into ONNX Runtime sessions.

use crate::error::SetupError;
use crate::report::ModelRef;
use crate::runtime::{self, Device};
use ort::session::Session;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MANIFEST_JSON: &str = include_str!("../models/manifest.json");

#[derive(Debug, Deserialize)]
struct Manifest {
    models: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    file: String,
    sha256: String,
}

/// The models a face analysis needs, by manifest name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelName {
    FaceDetectionShortRange,
    FaceDetectionFullRange,
    FaceLandmark,
    IrisLandmark,
    PoreSegmentation,
    PigmentSegmentation,
    ScarRelief,
}

impl ModelName {
    pub const FACE: [ModelName; 4] = [
        Self::FaceDetectionShortRange,
        Self::FaceDetectionFullRange,
        Self::FaceLandmark,
        Self::IrisLandmark,
    ];
    pub const ALL: [ModelName; 7] = [
        Self::FaceDetectionShortRange,
        Self::FaceDetectionFullRange,
        Self::FaceLandmark,
        Self::IrisLandmark,
        Self::PoreSegmentation,
        Self::PigmentSegmentation,
        Self::ScarRelief,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FaceDetectionShortRange => "face_detection_short_range",
            Self::FaceDetectionFullRange => "face_detection_full_range",
            Self::FaceLandmark => "face_landmark",
            Self::IrisLandmark => "iris_landmark",
            Self::PoreSegmentation => "pore_segmentation",
            Self::PigmentSegmentation => "pigment_segmentation",
            Self::ScarRelief => "scar_relief",
        }
    }
}

/// Finds the models directory: explicit choice, then `DERMASCORE_MODELS`,
/// then beside the binary, then the source tree it was built from.
pub fn locate_dir(explicit: Option<&Path>) -> Result<PathBuf, SetupError> {
    if let Some(dir) = explicit {
        return dir
            .is_dir()
            .then(|| dir.to_path_buf())
            .ok_or_else(|| SetupError::ModelDirMissing(dir.to_path_buf()));
    }
    if let Some(dir) = std::env::var_os("DERMASCORE_MODELS") {
        let dir = PathBuf::from(dir);
        return dir
            .is_dir()
            .then(|| dir.clone())
            .ok_or(SetupError::ModelDirMissing(dir));
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin_dir) = exe.parent() {
            candidates.push(bin_dir.join("models"));
            candidates.push(bin_dir.join("../share/dermascore/models"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    candidates
        .iter()
        .find(|d| d.join("manifest.json").is_file())
        .cloned()
        .ok_or_else(|| SetupError::ModelDirMissing(candidates.last().cloned().unwrap_or_default()))
}

/// Model bytes read from disk and verified against the pinned sha256.
pub struct VerifiedModels {
    entries: Vec<(ModelName, Vec<u8>, String)>,
}

impl VerifiedModels {
    pub fn load(dir: &Path, names: &[ModelName]) -> Result<Self, SetupError> {
        let manifest: Manifest =
            serde_json::from_str(MANIFEST_JSON).map_err(|e| SetupError::ModelUnreadable {
                name: "manifest".into(),
                path: dir.join("manifest.json"),
                reason: e.to_string(),
            })?;
        let mut entries = Vec::with_capacity(names.len());
        for &name in names {
            let entry =
                manifest
                    .models
                    .get(name.as_str())
                    .ok_or_else(|| SetupError::ModelUnreadable {
                        name: name.as_str().into(),
                        path: dir.join("manifest.json"),
                        reason: "no manifest entry".into(),
                    })?;
            let path = dir.join(&entry.file);
            let bytes = std::fs::read(&path).map_err(|e| SetupError::ModelUnreadable {
                name: name.as_str().into(),
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let actual = hex_sha256(&bytes);
            if actual != entry.sha256 {
                return Err(SetupError::ModelChecksum {
                    name: name.as_str().into(),
                    path,
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
            entries.push((name, bytes, actual));
        }
        Ok(Self { entries })
    }

    pub fn refs(&self) -> Vec<ModelRef> {
        self.entries
            .iter()
            .map(|(n, _, sha)| ModelRef {
                name: n.as_str().to_string(),
                sha256: sha.clone(),
            })
            .collect()
    }

    fn bytes(&self, name: ModelName) -> &[u8] {
        self.entries
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, b, _)| b.as_slice())
            .unwrap_or(&[])
    }

    /// One single-threaded ONNX Runtime session for `name`, built from the
    /// verified bytes (never re-read from disk, so the checked file is the
    /// one that runs).
    pub fn session(
        &self,
        name: ModelName,
        device: Device,
    ) -> Result<(Session, Device), SetupError> {
        self.session_on_threads(name, device, 1)
    }

    /// [`Self::session`] running each model call on `threads` threads.
    pub fn session_on_threads(
        &self,
        name: ModelName,
        device: Device,
        threads: usize,
    ) -> Result<(Session, Device), SetupError> {
        let env = runtime::init()?;
        runtime::session_from_bytes(env, self.bytes(name), device, threads).map_err(|e| {
            SetupError::ModelLoad {
                name: name.as_str().into(),
                reason: e.to_string(),
            }
        })
    }
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The sha256 of everything `source` yields, read in pieces (a photo is
/// hashed without holding the whole file).
pub fn hex_sha256_of(mut source: impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut source, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_every_face_model() {
        let m: Manifest = serde_json::from_str(MANIFEST_JSON).unwrap();
        for n in ModelName::ALL {
            let e = m.models.get(n.as_str()).unwrap();
            assert_eq!(e.sha256.len(), 64);
        }
    }

    /// Every ONNX file shipped has an entry naming it, with its checksum
    /// (the pore model's teacher too, which the binary never runs).
    #[test]
    fn every_onnx_file_has_a_manifest_entry_with_its_checksum() {
        let m: Manifest = serde_json::from_str(MANIFEST_JSON).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut files = 0;
        for f in std::fs::read_dir(&dir).unwrap() {
            let path = f.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("onnx") {
                continue;
            }
            files += 1;
            let name = path.file_name().unwrap().to_str().unwrap();
            let entry = m.models.values().find(|e| e.file == name);
            let entry = entry.unwrap_or_else(|| panic!("{name} has no manifest entry"));
            let sha = hex_sha256_of(std::fs::File::open(&path).unwrap()).unwrap();
            assert_eq!(entry.sha256, sha, "{name}");
        }
        assert_eq!(files, m.models.len(), "an entry without its file");
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            hex_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
