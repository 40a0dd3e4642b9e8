//! The CSV tables a user writes by hand or exports from a spreadsheet (the
//! visit manifest, the intake, a cohort's design), read alike: a missing
//! file is named without a line number, a spreadsheet's `;` or tab
//! separator is accepted, and a header with an unknown column is refused
//! at line 1, naming the columns that are allowed.

use crate::error::SetupError;
use std::path::Path;

/// A table's rows, read from the file's bytes (read once).
pub type Reader = csv::Reader<std::io::Cursor<Vec<u8>>>;

/// A table's file, what it is to the user ("manifest", "intake", "design")
/// and where an error lies.
pub struct Table<'a> {
    pub what: &'static str,
    pub path: &'a Path,
}

impl Table<'_> {
    /// An error at `line` (1 is the header; `None`: the file as a whole).
    pub fn error(&self, line: Option<u64>, reason: impl Into<String>) -> SetupError {
        SetupError::Table {
            what: self.what,
            path: self.path.to_path_buf(),
            line: line.filter(|&l| l > 0),
            reason: reason.into(),
        }
    }

    /// A CSV reader's error, at the line it names, without the reader's own
    /// prefix ("CSV deserialize error: record 1 (line: 2, byte: 34): ").
    pub fn csv_error(&self, e: &csv::Error) -> SetupError {
        let line = e.position().map(csv::Position::line);
        let reason = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => match err.field() {
                Some(i) => format!("column {}: {}", i + 1, err.kind()),
                None => err.kind().to_string(),
            },
            _ => e.to_string(),
        };
        self.error(line, reason)
    }

    /// Opens the table and reads its header. `columns`: the columns allowed
    /// (`None`: any, as a design's covariates).
    pub fn open(
        &self,
        columns: Option<&[&str]>,
    ) -> Result<(Reader, csv::StringRecord), SetupError> {
        let bytes = std::fs::read(self.path)
            .map_err(|e| self.error(None, format!("cannot read it: {e}")))?;
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        // A spreadsheet saved in a locale with decimal commas writes `;`.
        let count = |c: u8| first.iter().filter(|&&b| b == c).count();
        let delimiter = if count(b',') == 0 && count(b';') > 0 {
            b';'
        } else if count(b',') == 0 && count(b'\t') > 0 {
            b'\t'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .delimiter(delimiter)
            .from_reader(std::io::Cursor::new(bytes));
        let headers = reader.headers().map_err(|e| self.csv_error(&e))?.clone();
        if let Some(allowed) = columns {
            let unknown: Vec<&str> = headers.iter().filter(|h| !allowed.contains(h)).collect();
            if !unknown.is_empty() {
                return Err(self.error(
                    Some(1),
                    format!(
                        "unknown column{} {} (the columns are {}; names are lower case, as written)",
                        if unknown.len() > 1 { "s" } else { "" },
                        unknown
                            .iter()
                            .map(|u| format!("`{u}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok((reader, headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_s_semicolons_are_read_and_unknown_columns_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let table = Table {
            what: "intake",
            path: &path,
        };
        let missing = table.open(None).err().unwrap().to_string();
        assert!(
            missing.starts_with("intake ")
                && missing.contains("cannot read it")
                && !missing.contains("line"),
            "{missing}"
        );
        std::fs::write(&path, "patient_id;pregnant\nP1;no\n").unwrap();
        let (mut r, h) = table.open(Some(&["patient_id", "pregnant"])).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(&r.records().next().unwrap().unwrap()[1], "no");
        std::fs::write(&path, "Patient ID,pregnant\nP1,no\n").unwrap();
        let e = table
            .open(Some(&["patient_id", "pregnant"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 1: unknown column `Patient ID`"), "{e}");
    }
}
