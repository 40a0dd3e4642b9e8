//! Errors. [`InputError`] belongs to one photo: it becomes that photo's error
//! record and the batch goes on. [`SetupError`] stops the run (exit code 2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Stable, machine-readable codes for per-image failures (the `error.code`
/// field). Integrations branch on these; never rename one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The file could not be read (missing, permission, I/O error).
    Unreadable,
    /// The file has zero bytes.
    EmptyFile,
    /// An image in a format this tool does not read (HEIC, WebP, raw, ...):
    /// convert it to JPEG, PNG or TIFF.
    UnsupportedFormat,
    /// The bytes are not an image at all (a text file named .jpg, say).
    NotAnImage,
    /// The image header or data is damaged or truncated.
    CorruptImage,
    /// Larger than the configured pixel or byte limit (decompression-bomb guard).
    TooLarge,
    /// Too few pixels to hold a face.
    TooSmall,
    /// No face was found.
    NoFace,
    /// A model failed to run on this image.
    InferenceFailed,
    /// The `--patch` mask does not match the photo's size.
    MaskMismatch,
    /// Every pixel is transparent: the file's alpha channel hides the whole
    /// photo (an export that lost its alpha).
    Transparent,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub code: ErrorCode,
    pub message: String,
}

impl InputError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        // Decoders' own messages can end in (or hold) newlines; a record's
        // message is one line.
        let mut one_line = String::new();
        for line in message
            .into()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !one_line.is_empty() {
                one_line.push_str(if one_line.ends_with(':') { " " } else { "; " });
            }
            one_line.push_str(line);
        }
        Self {
            code,
            message: one_line,
        }
    }
}

/// Failures that make the whole run impossible.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("ONNX Runtime library not found (looked in: {searched}). Build with python3+pip available so the build fetches it, or set DERMASCORE_ORT_LIB to a libonnxruntime.so (>= 1.31)")]
    RuntimeNotFound { searched: String },
    #[error("ONNX Runtime at {path} could not be loaded: {reason}. Set DERMASCORE_ORT_LIB to a working libonnxruntime.so (>= 1.31)")]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("model directory {0} not found; pass --models DIR or set DERMASCORE_MODELS")]
    ModelDirMissing(PathBuf),
    #[error("model {name}: cannot read {path}: {reason}")]
    ModelUnreadable {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("model {name}: {path} has sha256 {actual}, but the manifest pins {expected}; the file was modified or replaced. Restore it (git checkout models/) or regenerate with models/convert.py")]
    ModelChecksum {
        name: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model {name}: ONNX Runtime rejected it: {reason}")]
    ModelLoad { name: String, reason: String },
    #[error("input {path}: {reason}")]
    Input { path: PathBuf, reason: String },
    /// A table the user wrote (the manifest, the intake, a cohort design):
    /// `line` 1 is its header; `None` for the file as a whole.
    #[error("{what} {path}{}: {reason}", .line.map_or(String::new(), |l| format!(", line {l}")))]
    Table {
        what: &'static str,
        path: PathBuf,
        line: Option<u64>,
        reason: String,
    },
    #[error("output {path}: {reason}")]
    Output { path: PathBuf, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_error_message_is_one_line() {
        let e = InputError::new(
            ErrorCode::CorruptImage,
            "cannot decode:\n  bad marker\nat 12\n",
        );
        assert_eq!(e.message, "cannot decode: bad marker; at 12");
        let plain = InputError::new(ErrorCode::EmptyFile, "file is empty (0 bytes)");
        assert_eq!(plain.message, "file is empty (0 bytes)");
    }
}
