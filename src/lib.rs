//! dermascore: offline measurement of facial skin from photographs.
//!
//! The modules follow the pipeline, and data flows forward through them:
//! [`ingest`] (with [`capture`] for multi-light sets) → [`face`] → [`scale`] → [`zones`] → [`quality`] → [`measure`]
//! → [`score`] → [`plan`] → [`compare`] → [`report`]. [`pipeline`] runs the stages for one photo
//! and for a batch; [`runtime`] and [`models`] load ONNX Runtime and the
//! verified model files.

pub mod batch;
pub mod capture;
pub mod cohort;
pub mod compare;
pub mod error;
pub mod evaluate;
pub mod face;
pub mod fft;
pub mod ingest;
pub mod measure;
pub mod memory;
pub mod merge;
pub mod models;
pub mod pipeline;
pub mod plan;
pub mod quality;
pub mod report;
pub mod runtime;
pub mod scale;
pub mod schemas;
pub mod score;
pub mod session;
pub mod srgb;
pub mod units;
pub mod zones;

pub use error::{ErrorCode, InputError, SetupError};
pub use pipeline::{Analyzer, Options};
pub use report::{Record, SCHEMA_VERSION};
