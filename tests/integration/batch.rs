//! Batch runs: sharding and merging, resuming after SIGKILL, pseudonymising,
//! verifying, and byte-identical results whatever the thread count.

use crate::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SOURCES: [&str; 4] = [
    "faces/alex-lacamoire.png",
    "faces/lin-manuel-miranda.png",
    "faces/two_people.jpg",
    "faces/obama.jpg",
];

/// A small cohort of real photos (copies under distinct names and patients).
fn cohort(dir: &Path, n: usize) -> PathBuf {
    cohort_from(dir, n, &SOURCES)
}

fn cohort_from(dir: &Path, n: usize, sources: &[&str]) -> PathBuf {
    let root = dir.join("cohort");
    for i in 0..n {
        let visit = root.join(format!("P{:03}", i / 2)).join(if i % 2 == 0 {
            "2026-01-10"
        } else {
            "2026-03-10"
        });
        std::fs::create_dir_all(&visit).unwrap();
        let src = shared(sources[i % sources.len()]);
        std::fs::copy(&src, visit.join(src.file_name().unwrap())).unwrap();
    }
    root
}

/// Lines of a results file with the run-dependent parts removed: each
/// image's `timing` and the summary's `run`.
fn comparable(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l}"));
            let o = v.as_object_mut().unwrap();
            o.remove("timing");
            o.remove("run");
            v
        })
        .collect()
}

fn analyze_to(out: &Path, extra: &[&str], input: &Path) -> std::process::Output {
    bin()
        .arg("analyze")
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg(input)
        .output()
        .unwrap()
}

#[test]
fn killed_runs_resume_to_the_same_records_with_no_loss_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let input = cohort(dir.path(), 24);
    let reference = dir.path().join("reference");
    assert_eq!(
        analyze_to(&reference, &["-j", "2"], &input).status.code(),
        Some(0)
    );
    let expected = comparable(&reference.join("results.jsonl"));

    let out = dir.path().join("interrupted");
    std::fs::create_dir_all(&out).unwrap();
    // Deterministic "random" kill points: once during start-up, then each
    // time the journal has grown by a random number of records — progress
    // points, so the test interrupts real work on fast and slow machines.
    let journal = out.join(".results.journal.jsonl");
    let lines_in = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = 0;
    for round in 0..5 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let before = lines_in(&journal);
        let mut child = bin()
            .arg("analyze")
            .arg("--out")
            .arg(&out)
            .args(["-j", "2", "--resume"])
            .arg(&input)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let fire = if round == 0 {
                started.elapsed() >= Duration::from_millis(50 + state % 150)
            } else {
                // The resumed run first rewrites the reused records, then appends new ones.
                lines_in(&journal) >= before + 1 + (state % 4) as usize
            };
            if fire {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(3));
        }
        child.wait().unwrap();
        // Whatever the kill left, every journal line but a cut last one is complete JSON.
        if let Ok(j) = std::fs::read_to_string(&journal) {
            let lines: Vec<&str> = j.lines().collect();
            for l in lines.iter().take(lines.len().saturating_sub(1)) {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("round {round}: bad journal line ({e})"));
            }
        }
    }
    assert!(
        kills >= 2,
        "the test must actually interrupt runs ({kills} kills)"
    );
    let last = analyze_to(&out, &["-j", "2", "--resume"], &input);
    expect_ok(&last);
    let got = comparable(&out.join("results.jsonl"));
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected, "resumed records equal an uninterrupted run");
    assert!(
        !out.join(".results.journal.jsonl").exists(),
        "the journal is removed once results are complete"
    );
    let summary: Value = serde_json::from_str(
        std::fs::read_to_string(out.join("results.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    println!(
        "{kills} kills; final run reused {} of {} records",
        summary["run"]["resumed"], summary["images"]
    );
    // Records made with other settings are not reused under this run's
    // command line: resuming with a new scale is refused, naming it.
    let other = analyze_to(&out, &["-j", "2", "--resume", "--px-per-mm", "5"], &input);
    assert_eq!(other.status.code(), Some(2));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("px per mm: from the photo then, 5 now"),
        "{err}"
    );
}

#[test]
fn shards_merged_equal_a_single_run_record_for_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = cohort(dir.path(), 10);
    let single = dir.path().join("single");
    assert_eq!(analyze_to(&single, &[], &input).status.code(), Some(0));
    let mut shard_files = Vec::new();
    for i in 0..3 {
        let out = dir.path().join(format!("shard{i}"));
        let o = analyze_to(&out, &["--shard", &format!("{i}/3")], &input);
        expect_ok(&o);
        shard_files.push(out.join("results.jsonl"));
    }
    let merged = dir.path().join("merged.jsonl");
    let o = bin()
        .arg("merge")
        .args(&shard_files)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    expect_ok(&o);
    assert_eq!(
        comparable(&merged),
        comparable(&single.join("results.jsonl"))
    );
    // Merging rewrites no number: every merged record is a shard's line,
    // byte for byte (floats round-trip exactly).
    let shard_lines: std::collections::HashSet<String> = shard_files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    for line in std::fs::read_to_string(&merged).unwrap().lines() {
        if line.contains("\"type\":\"image\"") {
            assert!(shard_lines.contains(line), "merge rewrote a record: {line}");
        }
    }

    // Refusals: a shard given twice; a missing shard is reported.
    let o = bin()
        .arg("merge")
        .arg(&shard_files[0])
        .arg(&shard_files[0])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = bin().arg("merge").args(&shard_files[..2]).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "a missing shard → exit 1, even one that drew no inputs"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("shards missing: [2]"));
    // What such a merge writes is not a complete run: `verify` says so.
    // The shards are drawn by a hash of the paths, which lie in a fresh
    // temporary folder: leave out a shard that drew photos (one of three
    // draws none of ten about once in 60 runs).
    let drew = |f: &std::path::PathBuf| {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .any(|l| l.contains("\"type\":\"image\""))
    };
    let left_out = shard_files.iter().position(drew).unwrap();
    let kept: Vec<_> = (0..3)
        .filter(|&i| i != left_out)
        .map(|i| &shard_files[i])
        .collect();
    let partial = dir.path().join("partial.jsonl");
    let o = bin()
        .arg("merge")
        .args(&kept)
        .arg("--out")
        .arg(&partial)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v = bin().arg("verify").arg(&partial).output().unwrap();
    assert_eq!(v.status.code(), Some(1), "an incomplete merge verified");
    assert!(String::from_utf8_lossy(&v.stdout).contains("have no record"));
    // A shard analysed with another setting (a scale override) is refused.
    let other = dir.path().join("shard1-other");
    expect_ok(&analyze_to(
        &other,
        &["--shard", "1/3", "--px-per-mm", "5"],
        &input,
    ));
    let o = bin()
        .arg("merge")
        .args([
            &shard_files[0],
            &other.join("results.jsonl"),
            &shard_files[2],
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("other settings"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Auto sharding from a Slurm array environment picks the same share.
    let auto = dir.path().join("auto");
    let o = bin()
        .arg("analyze")
        .arg("--out")
        .arg(&auto)
        .args(["--shard", "auto"])
        .arg(&input)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let a = comparable(&auto.join("results.jsonl"));
    let b = comparable(&shard_files[1]);
    assert_eq!(a.len(), b.len());
    assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
}

/// Whether any key or string of the JSON (or JSON lines) `text` contains
/// `needle`: the id's digits can turn up inside a measured number by chance.
fn strings_contain(text: &str, needle: &str) -> bool {
    fn walk(v: &Value, needle: &str) -> bool {
        match v {
            Value::String(s) => s.contains(needle),
            Value::Array(a) => a.iter().any(|x| walk(x, needle)),
            Value::Object(o) => o.iter().any(|(k, x)| k.contains(needle) || walk(x, needle)),
            _ => false,
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => walk(&v, needle),
        Err(_) => text.lines().filter(|l| !l.trim().is_empty()).any(|l| {
            serde_json::from_str::<Value>(l).map_or(l.contains(needle), |v| walk(&v, needle))
        }),
    }
}

/// A booth sitting is named after its files (`JaneDoe-4711` for
/// `JaneDoe-4711_xpol.jpg` and `JaneDoe-4711_ppol.jpg`): pseudonymised, the
/// record shows a keyed hash of that name instead.
#[test]
fn a_sittings_name_is_pseudonymised_too() {
    let dir = tempfile::tempdir().unwrap();
    let visit = dir.path().join("cohort/JaneDoe-4711/2026-05-06");
    std::fs::create_dir_all(&visit).unwrap();
    for light in ["xpol", "ppol"] {
        std::fs::copy(
            shared("faces/obama.jpg"),
            visit.join(format!("JaneDoe-4711_{light}.jpg")),
        )
        .unwrap();
    }
    let profile = dir.path().join("booth.toml");
    std::fs::write(
        &profile,
        "name = \"booth\"\n[[photo]]\npattern = \"*_xpol.jpg\"\nmodality = \"cross\"\n[[photo]]\npattern = \"*_ppol.jpg\"\nmodality = \"parallel\"\n",
    )
    .unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a long enough secret key for the test\n").unwrap();
    let out = dir.path().join("out");
    let o = analyze_to(
        &out,
        &[
            "--device-profile",
            profile.to_str().unwrap(),
            "--pseudonymise",
            key.to_str().unwrap(),
        ],
        &dir.path().join("cohort"),
    );
    expect_ok(&o);
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let name = rec["session"]["name"].as_str().unwrap();
    assert!(name.starts_with("sitting_"), "{name}");
    assert!(
        !text.contains("JaneDoe") && !strings_contain(&text, "4711"),
        "the id leaked into results"
    );
}

#[test]
fn pseudonymised_output_never_contains_the_patient_id() {
    let dir = tempfile::tempdir().unwrap();
    let visit = dir.path().join("cohort/JaneDoe-4711/2026-05-06");
    std::fs::create_dir_all(&visit).unwrap();
    std::fs::copy(
        shared("faces/obama.jpg"),
        visit.join("JaneDoe-4711_front.jpg"),
    )
    .unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a long enough secret key for the test\n").unwrap();
    let out = dir.path().join("out");
    let o = analyze_to(
        &out,
        &["--overlays", "--pseudonymise", key.to_str().unwrap()],
        &dir.path().join("cohort"),
    );
    expect_ok(&o);
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(
        !text.contains("JaneDoe") && !strings_contain(&text, "4711"),
        "the id leaked into results"
    );
    let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(rec["subject"]["patient_id"]
        .as_str()
        .unwrap()
        .starts_with("p_"));
    for e in std::fs::read_dir(out.join("overlays")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains("JaneDoe") && !name.contains("4711"),
            "{name}"
        );
    }
    assert!(!String::from_utf8_lossy(&o.stderr).contains("JaneDoe"));
    // Nor into the FHIR export: file names or contents.
    let fhir = dir.path().join("fhir");
    expect_ok(&export_fhir(&out, &fhir));
    let mut bundles = 0;
    for e in std::fs::read_dir(&fhir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            !format!("{name}{text}").contains("JaneDoe")
                && !name.contains("4711")
                && !strings_contain(&text, "4711"),
            "the id leaked into {name}"
        );
        bundles += 1;
    }
    assert_eq!(bundles, 1);

    // A folder named after the patient while the manifest gives another id,
    // and the name on the command line: neither may reach the output.
    let named = dir.path().join("Smith_John/2026-01-01");
    std::fs::create_dir_all(&named).unwrap();
    std::fs::copy(shared("faces/obama.jpg"), named.join("SMITH front.jpg")).unwrap();
    // The id has a hyphen: stderr names the output folder, whose random
    // temporary name (letters and digits) once held "P9" by chance.
    let manifest = dir.path().join("visits.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,patient_id,visit_date\n{},PID-0042,2026-01-01\n",
            named.join("SMITH front.jpg").display()
        ),
    )
    .unwrap();
    let out2 = dir.path().join("out2");
    let o = bin()
        .arg("analyze")
        .arg("--manifest")
        .arg(&manifest)
        .args(["--pseudonymise", key.to_str().unwrap(), "--out"])
        .arg(&out2)
        .output()
        .unwrap();
    expect_ok(&o);
    let text = std::fs::read_to_string(out2.join("results.jsonl")).unwrap();
    assert!(
        !text.to_lowercase().contains("smith") && !text.contains("PID-0042"),
        "a name leaked: {text}"
    );
    // Reports of a pseudonymised run cannot show the photos: said once,
    // not reported as a failure per photo. The intake, keyed by the real
    // id, still meets its patient: a pregnancy defers the plan.
    let intake = dir.path().join("intake.csv");
    std::fs::write(&intake, "patient_id,pregnant\nPID-0042,yes\n").unwrap();
    let out3 = dir.path().join("out3");
    let o = bin()
        .arg("analyze")
        .arg("--manifest")
        .arg(&manifest)
        .args([
            "--pseudonymise",
            key.to_str().unwrap(),
            "--report",
            "--plan",
        ])
        .arg("--intake")
        .arg(&intake)
        .arg("--out")
        .arg(&out3)
        .output()
        .unwrap();
    expect_ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("carry no photos"), "{stderr}");
    assert!(
        !stderr.contains("cannot read") && !stderr.contains("PID-0042"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(out3.join("results.jsonl")).unwrap();
    assert!(!text.contains("PID-0042"), "the id leaked: {text}");
    let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(rec["plan"]["outcome"], "defer", "{}", rec["plan"]);
    assert_eq!(
        rec["plan"]["intake_checked"], false,
        "only one history item recorded"
    );
    let report = std::fs::read_dir(out3.join("report"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "html"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(report.contains("pregnan") && !report.contains("PID-0042"));
}

#[test]
fn verify_says_whether_a_rerun_would_be_comparable() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("in/P1/2026-01-01/front.jpg");
    std::fs::create_dir_all(photo.parent().unwrap()).unwrap();
    std::fs::copy(shared("faces/obama.jpg"), &photo).unwrap();
    let out = dir.path().join("out");
    assert_eq!(
        analyze_to(&out, &[], &dir.path().join("in")).status.code(),
        Some(0)
    );
    let ok = bin().arg("verify").arg(&out).output().unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let mut bytes = std::fs::read(&photo).unwrap();
    bytes.push(0);
    std::fs::write(&photo, bytes).unwrap();
    let changed = bin().arg("verify").arg(&out).output().unwrap();
    assert_eq!(changed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&changed.stdout).contains("content changed"));
}

#[test]
fn results_are_byte_identical_across_thread_counts_apart_from_timing() {
    let dir = tempfile::tempdir().unwrap();
    let input = cohort(dir.path(), 6);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert_eq!(analyze_to(&a, &["-j", "1"], &input).status.code(), Some(0));
    assert_eq!(analyze_to(&b, &["-j", "2"], &input).status.code(), Some(0));
    let bytes = |p: &Path| -> Vec<String> {
        comparable(&p.join("results.jsonl"))
            .iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect()
    };
    assert_eq!(bytes(&a), bytes(&b));
}

#[test]
fn cohort_statistics_per_arm_and_time_point_with_missing_visits() {
    let dir = tempfile::tempdir().unwrap();
    // P000..P003, two visits each; photos fine enough for pigmentation
    // (≥ 1 px/mm), each a different file (a copy is not another capture).
    let input = cohort_from(
        dir.path(),
        8,
        &[
            "faces/obama.jpg",
            "faces/lin-manuel-miranda.png",
            "faces/biden.jpg",
            "faces/obama-1080p.jpg",
            "tones/001_03.jpg",
            "tones/003_03.jpg",
            "tones/004_03.jpg",
            "tones/005_03.jpg",
        ],
    );
    let out = dir.path().join("out");
    assert_eq!(analyze_to(&out, &[], &input).status.code(), Some(0));
    let design = dir.path().join("design.csv");
    std::fs::write(
        &design,
        "patient_id,arm,site\nP000,A,x\nP001,B,x\nP002,A,y\nP003,B,y\nP099,B,y\n",
    )
    .unwrap();
    let report = dir.path().join("cohort");
    let o = bin()
        .arg("cohort")
        .arg(&out)
        .arg("--design")
        .arg(&design)
        .arg("--out")
        .arg(&report)
        .arg("--html")
        .output()
        .unwrap();
    expect_ok(&o);
    let csv = std::fs::read_to_string(report.join("cohort.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let find = |analysis: &str, arm: &str, tp: &str, metric: &str, stat: &str| {
        rows.iter()
            .find(|r| {
                r[0] == analysis && r[1] == arm && r[3] == tp && r[4] == metric && r[5] == stat
            })
            .map(|r| r[6].parse::<f64>().unwrap())
    };
    // Missing: P099 is in the design but has no photos, at both time points.
    assert_eq!(
        find("missing", "B", "T0", "*", "patients_missing"),
        Some(1.0)
    );
    assert_eq!(
        find("missing", "A", "T1", "*", "patients_missing"),
        Some(0.0)
    );
    // The arm mean equals the mean of the records it summarises.
    let results: Vec<Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let vals: Vec<f64> = results
        .iter()
        .filter(|r| {
            r["type"] == "image"
                && ["P000", "P002"].contains(&r["subject"]["patient_id"].as_str().unwrap())
                && r["subject"]["visit_date"] == "2026-01-10"
        })
        .map(|r| r["pigmentation"]["face"]["pigmented_pct"].as_f64().unwrap())
        .collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let got = find(
        "describe",
        "A",
        "T0",
        "pigmentation.face.pigmented_pct",
        "mean",
    )
    .unwrap();
    // Written to six significant digits.
    assert!((got - mean).abs() <= 1e-5 * mean.abs(), "{got} vs {mean}");
    // Change from baseline and the between-arm difference are there.
    assert!(find(
        "change",
        "A",
        "T1",
        "pigmentation.face.pigmented_pct",
        "mean_change"
    )
    .is_some());
    assert!(rows
        .iter()
        .any(|r| r[0] == "between_arms" && r[1] == "B" && r[2] == "A"));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("cohort.json")).unwrap())
            .unwrap();
    assert_eq!(json["missing"]["B"]["T0"][0], "P099");
    let html = std::fs::read_to_string(report.join("cohort.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("P099"));
    // Tables a trial can cite: arm A at T0 with its n and mean, the change
    // with its test, and B against the reference arm A.
    assert!(html.contains(&format!(
        "<tr><td>A</td><td>T0</td><td>{}</td><td>{mean:.3} (",
        vals.len()
    )));
    assert!(html.contains("<th>p (paired t)</th>") && html.contains("<td>B − A</td>"));
    assert!(html.contains("<h2>Pigmented skin, face, %</h2>"));
    // On paper (A4 and Letter), no table or chart is cut by a page break.
    if let Some(browser) = crate::print::chromium() {
        crate::print::assert_prints_whole(browser, &report.join("cohort.html"), 40);
    }
    // A reference arm that is not in the design is a usage error, not a
    // silently different comparison.
    let o = bin()
        .arg("cohort")
        .arg(&out)
        .arg("--design")
        .arg(&design)
        .args(["--reference-arm", "placebo", "--out"])
        .arg(dir.path().join("cohort2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("placebo"));
    // A record of the same photo read twice (here: a copied results file)
    // is not a repeat capture: refused by name, exit 1, statistics as
    // without it (no test–retest reliability from copies).
    let copy = dir.path().join("copy.jsonl");
    let first = results
        .iter()
        .find(|r| r["type"] == "image" && r["subject"]["patient_id"] == "P000")
        .unwrap();
    std::fs::write(&copy, format!("{first}\n")).unwrap();
    let o = bin()
        .arg("cohort")
        .arg(out.join("results.jsonl"))
        .arg(&copy)
        .arg("--design")
        .arg(&design)
        .arg("--out")
        .arg(dir.path().join("cohort3"))
        .output()
        .unwrap();
    expect_exit(&o, 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("a copy is not a repeat capture"));
    assert_eq!(
        std::fs::read(dir.path().join("cohort3/cohort.csv")).unwrap(),
        csv.as_bytes()
    );
}

/// Without --out, each record reaches stdout as soon as it and every one
/// before it are done: the first photo's record is readable while the
/// second input (a named pipe nobody has written yet) still blocks the run.
#[cfg(unix)]
#[test]
fn records_stream_to_stdout_as_they_finish() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("later.jpg");
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    let mut child = bin()
        .args(["analyze", "-j", "1", "--quiet"])
        .arg(shared("faces/obama.jpg"))
        .arg(&pipe)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(60));
    // The run is still waiting on the pipe (its header is read to budget
    // memory) when the first record arrives.
    let running = child.try_wait().unwrap().is_none();
    // Unblock the run whatever happened (opening the pipe for writing waits
    // for the reader, so from a thread).
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(&pipe).unwrap();
        let _ = w.write_all(&std::fs::read(shared("faces/biden.jpg")).unwrap());
    });
    let first: Value =
        serde_json::from_str(&first.expect("no record while the second input was pending"))
            .unwrap();
    assert!(running, "the run had ended: nothing was streamed");
    assert_eq!(first["type"], "image");
    assert!(first["input"]["path"]
        .as_str()
        .unwrap()
        .ends_with("obama.jpg"));
    let status = child.wait().unwrap();
    writer.join().unwrap();
    let rest: Vec<Value> = rx
        .iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert_eq!(rest.len(), 2, "the second record, then the summary");
    assert_eq!(rest[0]["input"]["index"], 1);
    assert_eq!(rest[1]["type"], "summary");
    assert!(status.code().is_some());
}

/// Every output of a pseudonymised run is free of the ids, whatever they
/// hold: HTML, spreadsheet formula prefixes, mixed case and accents, as
/// patient folder names. `analyze --pseudonymise --report --overlays`,
/// `compare`, `cohort --html` and `export fhir`; every file's name and
/// bytes are searched (case-insensitively, also for telling fragments), and
/// no CSV cell starts with a formula character unless it is a number.
/// `tones/`: Face Research Lab London Set, DeBruine & Jones (2017), CC BY
/// 4.0, https://doi.org/10.6084/m9.figshare.5047666.v5.
#[test]
fn no_id_of_any_shape_leaks_from_a_pseudonymised_run() {
    let ids = [
        "<img src=x onerror=alert(1)>",
        "=HYPERLINK(\"http:evil\")",
        "+cmd|calc",
        "@SUM(A1)",
        "MüLLER_José",
    ];
    let fragments = [
        "onerror",
        "hyperlink",
        "http:evil",
        "cmd|calc",
        "sum(a1)",
        "müller",
        "muller",
        "josé",
        "jose",
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    // Ten different photos (a copy would be refused by `cohort`).
    let photos: Vec<std::path::PathBuf> = {
        let mut all: Vec<_> = std::fs::read_dir(shared("tones/001_03.jpg").parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        all.sort();
        all.truncate(2 * ids.len());
        all
    };
    for (k, id) in ids.iter().enumerate() {
        for (date, photo) in [
            ("2026-01-05", &photos[2 * k]),
            ("2026-03-05", &photos[2 * k + 1]),
        ] {
            let visit = input.join(id).join(date);
            std::fs::create_dir_all(&visit).unwrap();
            // Files named after the patient too, as clinics export them.
            let name = if k % 2 == 0 {
                format!("{id} front.jpg")
            } else {
                "front.jpg".into()
            };
            std::fs::copy(photo, visit.join(name)).unwrap();
        }
    }
    let key = dir.path().join("key");
    std::fs::write(
        &key,
        (0u8..48)
            .map(|b| b.wrapping_mul(97) ^ 0x5a)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .arg("analyze")
        .arg(&input)
        .args([
            "--pseudonymise",
            key.to_str().unwrap(),
            "--report",
            "--overlays",
            "--plan",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    // Reports of a pseudonymised run carry no photos (said, not a failure).
    expect_ok(&o);
    let mut logs = String::from_utf8_lossy(&o.stderr).into_owned();
    let cmp = dir.path().join("cmp");
    let o = run_out("compare", &out, &cmp);
    expect_ok(&o);
    logs.push_str(&String::from_utf8_lossy(&o.stderr));
    // The trial's design names the pseudonyms.
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut pseudonyms: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|r| r["subject"]["patient_id"].as_str().map(String::from))
        .collect();
    pseudonyms.sort();
    pseudonyms.dedup();
    assert_eq!(pseudonyms.len(), ids.len(), "{pseudonyms:?}");
    let design = dir.path().join("design.csv");
    let mut rows = String::from("patient_id,arm\n");
    for (k, p) in pseudonyms.iter().enumerate() {
        rows.push_str(&format!("{p},{}\n", if k % 2 == 0 { "A" } else { "B" }));
    }
    std::fs::write(&design, rows).unwrap();
    let cohort = dir.path().join("cohort");
    let o = bin()
        .arg("cohort")
        .arg(&out)
        .arg("--design")
        .arg(&design)
        .args(["--html", "--out"])
        .arg(&cohort)
        .output()
        .unwrap();
    expect_ok(&o);
    logs.push_str(&String::from_utf8_lossy(&o.stderr));
    let fhir = dir.path().join("fhir");
    expect_ok(&export_fhir(&out, &fhir));

    let mut files = Vec::new();
    let mut stack = vec![out.clone(), cmp, cohort, fhir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let kinds: std::collections::BTreeSet<String> = files
        .iter()
        .filter_map(|p| p.extension().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    for kind in ["jsonl", "json", "csv", "html", "png"] {
        assert!(
            kinds.contains(kind),
            "no .{kind} output to search: {kinds:?}"
        );
    }
    let leaks = |what: &str, text: &str| {
        let lower = text.to_lowercase();
        for needle in ids
            .iter()
            .map(|s| s.to_lowercase())
            .chain(fragments.iter().map(|s| s.to_string()))
        {
            assert!(!lower.contains(&needle), "{needle:?} leaked into {what}");
        }
    };
    leaks("stderr", &logs);
    for f in &files {
        let rel = f
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        leaks(&format!("the name {rel}"), &rel);
        let bytes = std::fs::read(f).unwrap();
        if rel.starts_with("fhir") && rel.ends_with(".json") {
            // The overlays travel base64 inside the bundles; base64 text can
            // spell anything, so they are searched as the PNG files they are.
            let mut bundle: Value = serde_json::from_slice(&bytes).unwrap();
            let mut pictures = 0;
            for e in bundle["entry"].as_array_mut().unwrap() {
                if let Some(content) = e["resource"]["content"].as_object_mut() {
                    use base64::Engine as _;
                    let png = base64::engine::general_purpose::STANDARD
                        .decode(content["data"].as_str().unwrap())
                        .unwrap();
                    leaks(&format!("{rel}'s picture"), &String::from_utf8_lossy(&png));
                    content.remove("data");
                    pictures += 1;
                }
            }
            assert!(pictures > 0, "{rel}: no overlay");
            leaks(&rel, &bundle.to_string());
        } else {
            leaks(&rel, &String::from_utf8_lossy(&bytes));
        }
        if rel.ends_with(".csv") {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(bytes.as_slice());
            for rec in reader.records() {
                for cell in rec.unwrap().iter() {
                    assert!(
                        !cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
                            || cell.parse::<f64>().is_ok(),
                        "{rel}: a cell a spreadsheet would run: {cell:?}"
                    );
                }
            }
        }
    }
}
