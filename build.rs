//! Provides the ONNX Runtime shared library so that a plain `cargo build` /
//! `cargo test` works on a fresh machine.
//!
//! No Debian package ships ONNX Runtime, and `ort`'s own download host is not
//! reachable from many clinic and CI machines, so the library is taken from the
//! pinned `onnxruntime` wheel on PyPI (fetched with `pip download`, verified by
//! sha256), cached per user, and copied beside the built binaries where the
//! runtime looks first. Users who bring their own library (e.g. a GPU build)
//! set `DERMASCORE_ORT_LIB` and nothing is fetched. A failed fetch is a build
//! warning, not a build error: the binary then reports the missing library
//! clearly at run time (exit code 2).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ORT_VERSION: &str = "1.31.1";
const LIB_NAME: &str = "libonnxruntime.so.1.31.1";
/// sha256 of `onnxruntime/capi/libonnxruntime.so.1.31.1` in the
/// cp311 manylinux_2_28_x86_64 wheel.
const LIB_SHA256_X86_64: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";

fn main() {
    record_commit();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=models/manifest.json");
    println!("cargo:rerun-if-env-changed=DERMASCORE_ORT_LIB");
    println!("cargo:rerun-if-env-changed=DERMASCORE_ORT_CACHE");
    println!("cargo:rerun-if-env-changed=DERMASCORE_SKIP_ORT_FETCH");

    if env::var_os("DERMASCORE_ORT_LIB").is_some()
        || env::var_os("DERMASCORE_SKIP_ORT_FETCH").is_some()
    {
        return;
    }
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target_os != "linux" {
        println!("cargo:warning=dermascore: automatic ONNX Runtime fetch is implemented for Linux only; set DERMASCORE_ORT_LIB");
        return;
    }
    let platform = match target_arch.as_str() {
        "x86_64" => "manylinux_2_28_x86_64",
        "aarch64" => "manylinux_2_28_aarch64",
        other => {
            println!("cargo:warning=dermascore: no onnxruntime wheel for {other}; set DERMASCORE_ORT_LIB");
            return;
        }
    };

    let cache = cache_dir();
    let cached = cache.join(LIB_NAME);
    if !cached.exists() {
        if let Err(e) = fetch(&cache, platform) {
            println!("cargo:warning=dermascore: could not fetch ONNX Runtime {ORT_VERSION} from PyPI ({e}); set DERMASCORE_ORT_LIB to an existing libonnxruntime");
            return;
        }
    }
    if target_arch == "x86_64" {
        match sha256_file(&cached) {
            Ok(sum) if sum == LIB_SHA256_X86_64 => {}
            Ok(sum) => {
                let _ = fs::remove_file(&cached);
                println!("cargo:warning=dermascore: cached {} had sha256 {sum}, expected {LIB_SHA256_X86_64}; removed, rebuild to refetch", cached.display());
                return;
            }
            Err(e) => {
                println!(
                    "cargo:warning=dermascore: cannot read {}: {e}",
                    cached.display()
                );
                return;
            }
        }
    }
    // Beside the binaries of this profile (target/<profile>/), where the runtime looks first.
    if let Some(profile_dir) = out_dir().ancestors().nth(3) {
        let dest = profile_dir.join(LIB_NAME);
        if !dest.exists() {
            if let Err(e) = fs::copy(&cached, &dest) {
                println!(
                    "cargo:warning=dermascore: could not copy ONNX Runtime to {}: {e}",
                    dest.display()
                );
            }
        }
    }
    println!(
        "cargo:rustc-env=DERMASCORE_ORT_BUILD_LIB={}",
        cached.display()
    );
}

/// The git commit the binary is built from, for the records' `tool.commit`
/// (`-dirty` when tracked files differ from it); empty outside a checkout
/// (a crate download), which the records write as null.
fn record_commit() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = match git(&["rev-parse", "HEAD"]) {
        Some(head) if head.len() == 40 => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{head}-dirty")
            } else {
                head
            }
        }
        _ => String::new(),
    };
    println!("cargo:rustc-env=DERMASCORE_GIT_COMMIT={commit}");
    // Rerun when the checked-out commit or the tracked files change.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = PathBuf::from(dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", dir.join("index").display());
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", dir.join(head_ref).display());
        }
    }
    for tracked in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        "models",
        "benches",
        "tests",
        "examples",
    ] {
        println!("cargo:rerun-if-changed={tracked}");
    }
}

fn out_dir() -> PathBuf {
    PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default())
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os("DERMASCORE_ORT_CACHE") {
        return PathBuf::from(dir);
    }
    let base = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match base {
        Some(b) => b
            .join("dermascore")
            .join(format!("onnxruntime-{ORT_VERSION}")),
        None => out_dir().join("onnxruntime"),
    }
}

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

fn fetch(cache: &Path, platform: &str) -> Result<(), String> {
    let py = python().ok_or("no python3 with pip on PATH")?;
    fs::create_dir_all(cache).map_err(|e| e.to_string())?;
    let staging = tempdir_in(cache)?;
    let status = Command::new(py)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args([
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--platform",
            platform,
        ])
        .arg("-d")
        .arg(&staging)
        .arg(format!("onnxruntime=={ORT_VERSION}"))
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("pip download exited with {status}"));
    }
    // The wheel is a zip; Python's zipfile avoids a zip crate in build-dependencies.
    let script = format!(
        "import glob,sys,zipfile\n\
         w=glob.glob(sys.argv[1]+'/onnxruntime-*.whl')[0]\n\
         open(sys.argv[2],'wb').write(zipfile.ZipFile(w).read('onnxruntime/capi/{LIB_NAME}'))\n"
    );
    let partial = cache.join(format!("{LIB_NAME}.partial"));
    let status = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&staging)
        .arg(&partial)
        .status()
        .map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(&staging);
    if !status.success() {
        return Err("could not extract the library from the wheel".into());
    }
    // Rename last so that a concurrent or interrupted build never sees half a file.
    fs::rename(&partial, cache.join(LIB_NAME)).map_err(|e| e.to_string())
}

fn tempdir_in(parent: &Path) -> Result<PathBuf, String> {
    let dir = parent.join(format!("staging-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    // sha256sum is in coreutils on every Linux this targets; keeps build-deps empty.
    let out = Command::new("sha256sum").arg(path).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}
