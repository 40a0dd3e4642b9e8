//! Exporters: where records go. Files are written atomically (a temporary
//! file in the same directory, synced, then renamed), so a killed run never
//! leaves a half-written results file behind.

use super::Record;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub trait Exporter {
    fn write(&mut self, record: &Record) -> io::Result<()>;
    /// Makes the output visible; nothing is published before this.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// JSON Lines to any writer (stdout).
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

fn write_line(out: &mut impl Write, record: &Record) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

impl<W: Write> Exporter for JsonLines<W> {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        write_line(&mut self.out, record)
    }
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}

/// JSON Lines into a file that appears only when complete.
pub struct AtomicJsonLinesFile {
    target: PathBuf,
    tmp: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicJsonLinesFile {
    pub fn create(target: &Path) -> io::Result<Self> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".results-")
            .suffix(".partial")
            .tempfile_in(dir)?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp: BufWriter::new(tmp),
        })
    }
}

impl Exporter for AtomicJsonLinesFile {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        write_line(&mut self.tmp, record)
    }
    fn finish(self: Box<Self>) -> io::Result<()> {
        let tmp = self.tmp.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}
