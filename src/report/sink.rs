//! Exporters: where records go. Files are written atomically (a temporary
//! file in the same directory, synced, then renamed), so a killed run never
//! leaves a half-written results file behind.

use super::Record;
use std::io::{self, BufRead, BufWriter, Write};
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
    serde_json::to_writer(&mut *out, &super::rounded_json(record)?)?;
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
        publishable(tmp.as_file())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Temporary files are created private (0600); a published output gets the
/// ordinary 0644 like any file the user writes.
fn publishable(file: &std::fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let _ = file;
    Ok(())
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    publishable(tmp.as_file())?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Append-only record journal beside the results while a run is in
/// progress: each record is written, flushed and synced as it completes, so
/// a killed run keeps its finished work for `--resume`. A line cut by the
/// kill fails to parse and is ignored on reading.
pub struct Journal {
    file: std::fs::File,
}

pub const JOURNAL_NAME: &str = ".results.journal.jsonl";

impl Journal {
    pub fn create(dir: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(dir.join(JOURNAL_NAME))?;
        Ok(Self { file })
    }

    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(&super::rounded_json(record)?)?;
        line.push(b'\n');
        // One write per record: a kill leaves at most one partial last line.
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    pub fn remove(dir: &Path) -> io::Result<()> {
        match std::fs::remove_file(dir.join(JOURNAL_NAME)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A results file as `plan`, `compare` and `cohort` read it.
#[derive(Debug, Default)]
pub struct ResultsFile {
    pub records: Vec<Record>,
    /// 1-based numbers of the non-blank lines that are not records of this
    /// schema (edited by hand, cut short, or written by another version).
    pub unreadable_lines: Vec<usize>,
}

/// The non-blank lines of a results file, one at a time, for the commands
/// that consume one: each line's 1-based number and its record, or `None`
/// when it is not a record of this schema. Unlike [`read_records`]
/// (resuming a run, where a cut-off journal is expected), a missing file is
/// an error and a line that does not parse is reported, so no record is
/// lost without a word.
pub fn results_lines(
    path: &Path,
) -> io::Result<impl Iterator<Item = io::Result<(usize, Option<Record>)>>> {
    let file = std::fs::File::open(path)?;
    Ok(io::BufReader::new(file)
        .lines()
        .enumerate()
        .filter_map(|(i, line)| match line {
            Err(e) => Some(Err(e)),
            Ok(l) if l.trim().is_empty() => None,
            Ok(l) => Some(Ok((i + 1, serde_json::from_str(&l).ok()))),
        }))
}

/// A whole results file (see [`results_lines`]).
pub fn read_results(path: &Path) -> io::Result<ResultsFile> {
    let mut out = ResultsFile::default();
    for line in results_lines(path)? {
        match line? {
            (_, Some(r)) => out.records.push(r),
            (n, None) => out.unreadable_lines.push(n),
        }
    }
    Ok(out)
}

/// Every complete record in a JSON Lines file; lines that do not parse (a
/// write cut short) are skipped. A missing file reads as empty.
pub fn read_records(path: &Path) -> io::Result<Vec<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
