//! ONNX Runtime: finding the shared library, the one process-wide
//! environment, and building sessions for a device.

use crate::error::SetupError;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use std::path::PathBuf;
use std::sync::OnceLock;

/// File name of the library the build places beside the binaries.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Device {
    #[default]
    Cpu,
    /// CUDA execution provider; falls back to CPU with a warning when it
    /// cannot be registered (CPU-only library, no GPU, missing CUDA libs).
    Cuda,
}

/// Candidate library paths, in the order they are tried.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for var in ["DERMASCORE_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(p) = std::env::var_os(var) {
            // An explicit choice is the only candidate: never silently use another library.
            return vec![PathBuf::from(p)];
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/dermascore and target/<profile>/deps/<test binary>.
        for dir in exe.ancestors().skip(1).take(2) {
            out.push(dir.join(ORT_LIB_NAME));
        }
    }
    if let Some(p) = option_env!("DERMASCORE_ORT_BUILD_LIB") {
        out.push(PathBuf::from(p));
    }
    out
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();
static LIBRARY_PATH: OnceLock<PathBuf> = OnceLock::new();

/// Loads ONNX Runtime once per process (a second environment cannot be made)
/// and returns the shared environment sessions are built in.
pub fn init() -> Result<&'static Environment, SetupError> {
    let searched = candidates();
    let Some(path) = searched.iter().find(|p| p.is_file()).cloned() else {
        let list = searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SetupError::RuntimeNotFound { searched: list });
    };
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let result = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
        // Telemetry off: nothing about a clinic's run leaves the machine.
        let env = builder
            .with_name("dermascore")
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())?;
        let _ = LIBRARY_PATH.set(path.clone());
        Ok(env)
    });
    result.as_ref().map_err(|reason| SetupError::RuntimeLoad {
        path,
        reason: reason.clone(),
    })
}

/// The library actually loaded, once [`init`] succeeded.
pub fn library_path() -> Option<&'static PathBuf> {
    LIBRARY_PATH.get()
}

/// Builds a session on `threads` threads (at least 1). Batches run one
/// single-threaded session per worker, which measured fastest on small CPU
/// counts; a batch with fewer photos than workers gives each session the
/// spare cores instead. Fixed thread counts keep ONNX Runtime from reading
/// host cores through container limits. Graph optimisation is set to its
/// highest level on purpose: its blocked-channel layout is what makes the
/// stacked segmentation graphs fast (docs/performance.md).
pub fn session_from_bytes(
    env: &Environment,
    bytes: &[u8],
    device: Device,
    threads: usize,
) -> ort::Result<(Session, Device)> {
    let mut builder = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)?
        .with_intra_threads(threads.max(1))?
        .with_inter_threads(1)?;
    let mut used = Device::Cpu;
    if device == Device::Cuda {
        builder = match cuda_builder(builder) {
            Ok(b) => {
                used = Device::Cuda;
                b
            }
            Err((b, reason)) => {
                warn_cuda_once(&reason);
                b
            }
        };
    }
    let session = builder.commit_from_memory(bytes)?;
    Ok((session, used))
}

type Builder = ort::session::builder::SessionBuilder;

#[allow(clippy::result_large_err)] // the builder must come back to fall back to CPU
fn cuda_builder(builder: Builder) -> Result<Builder, (Builder, String)> {
    let ep = ort::ep::CUDA::default().build().error_on_failure();
    builder.with_execution_providers([ep]).map_err(|e| {
        let reason = e.to_string();
        (e.recover(), reason)
    })
}

fn warn_cuda_once(reason: &str) {
    static WARNED: OnceLock<()> = OnceLock::new();
    WARNED.get_or_init(|| {
        eprintln!("warning: CUDA execution provider unavailable ({reason}); running on CPU");
    });
}
