//! End-to-end tests of the `dermascore` binary, one harness: real photos
//! from `../shared/photos` (referenced in place, never copied into the repo),
//! generated bad inputs, and synthetic fixtures with known truth.

mod batch;
mod clinic;
mod foundation;
mod harm;
mod images;
mod measure;
mod print;
mod scars;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The intake's history columns, and a row's answers to them that record
/// "no" to every item and "never" to every procedure: with fewer, a plan
/// counts the history as not checked (`intake.incomplete`).
pub const HISTORY_COLUMNS: &str = "pregnant,breastfeeding,anticoagulants,bleeding_disorder,keloid_history,herpes_history,active_infection,autoimmune_skin_disease,chemotherapy_or_radiation,uncontrolled_diabetes,isotretinoin_last_dose,last_peel,last_laser,last_filler";
pub const HISTORY_ALL_NO: &str = "no,no,no,no,no,no,no,no,no,no,,,,";

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dermascore"))
}

/// A shared photo; a missing one is a failure, never a silent skip.
pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/photos")
        .join(rel);
    assert!(
        p.is_file(),
        "missing shared photo {} (../shared must sit beside the repo)",
        p.display()
    );
    p
}

/// Copies `photo` to `root/PATIENT/DATE/name` (the layout that fills the
/// subject) and returns the copy's path.
pub fn visit_photo(root: &Path, patient_date: &str, photo: &Path, name: &str) -> PathBuf {
    let visit = root.join(patient_date);
    std::fs::create_dir_all(&visit).unwrap();
    let to = visit.join(name);
    std::fs::copy(photo, &to).unwrap();
    to
}

/// `dermascore SUBCOMMAND INPUT --out OUT`.
/// `export fhir RESULTS --out OUT`.
pub fn export_fhir(results: &Path, out: &Path) -> Output {
    bin()
        .args(["export", "fhir"])
        .arg(results)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

pub fn run_out(subcommand: &str, input: &Path, out: &Path) -> Output {
    bin()
        .arg(subcommand)
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run dermascore")
}

pub fn run(args: &[&str], inputs: &[&Path]) -> Output {
    let out = bin()
        .arg("analyze")
        .args(args)
        .args(inputs)
        .output()
        .expect("run dermascore");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "dermascore panicked:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fails the test, showing the command's stderr, unless it exited 0.
pub fn expect_ok(o: &Output) {
    expect_exit(o, 0);
}

/// Fails the test, showing the command's stderr, unless it exited `code`.
pub fn expect_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

pub fn images(recs: &[Value]) -> Vec<&Value> {
    recs.iter().filter(|r| r["type"] == "image").collect()
}

pub fn one_image(path: &Path, args: &[&str]) -> Value {
    let out = run(args, &[path]);
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "one image record and one summary");
    assert_eq!(recs[1]["type"], "summary");
    recs[0].clone()
}

pub fn finding_codes(rec: &Value) -> Vec<String> {
    rec["quality"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}
