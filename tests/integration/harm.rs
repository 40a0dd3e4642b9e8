//! Do no harm on real skin: every real photo in `../shared/photos` is a
//! negative control (no acne scars, no active acne), so the sweep over all
//! of them must find no scars, raise no inflamed-lesion deferral, no
//! erythema on the skin-tone set, and plan no needling from a one-photo scar
//! estimate. And plans never overstate: not assessable, no intake, bad
//! intake and protocol files.
//!
//! `tones/`: Face Research Lab London Set, DeBruine & Jones (2017), CC BY
//! 4.0, https://doi.org/10.6084/m9.figshare.5047666.v5

use crate::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn photos_dir() -> PathBuf {
    let dir = shared("faces/obama.jpg");
    dir.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Every real photo of the shared set (labels and masks left out), as
/// `analyze --plan` sees them.
fn sweep_inputs() -> Vec<PathBuf> {
    let root = photos_dir();
    let mut out = Vec::new();
    for sub in ["faces", "distance", "tones", "closeups/bioskin"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                (name.ends_with(".jpg") || name.ends_with(".png")) && !name.contains("_mask")
            })
            .collect();
        files.sort();
        out.extend(files);
    }
    out.push(shared("pores/cheek_input.png"));
    out
}

/// `img` written to `path` as a JPEG of `quality`.
fn save_jpeg(img: &image::RgbImage, path: &Path, quality: u8) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    image::codecs::jpeg::JpegEncoder::new_with_quality(file, quality)
        .encode_image(img)
        .unwrap();
}

/// `analyze --plan` over `args` (photos or folders) into a temporary
/// folder: one image record for each of `photos`, or the test fails.
fn planned_records(args: &[PathBuf], photos: &[PathBuf]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .arg("analyze")
        .args(args)
        .args(["--plan", "-q", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    expect_ok(&o);
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["type"] == "image")
        .collect();
    assert_eq!(recs.len(), photos.len());
    recs
}

/// Per-photo findings the sweep must never show.
fn harms(rec: &Value) -> Vec<String> {
    let path = rec["input"]["path"].as_str().unwrap().to_string();
    let mut out = Vec::new();
    if let Some(face) = rec["acne_scars"]["face"].as_object() {
        let grade = face["goodman_baron_grade"].as_u64().unwrap();
        if grade >= 2 {
            out.push(format!("{path}: Goodman & Baron grade {grade}"));
        }
    }
    // No one here wears glasses: a rim found would leave skin out.
    for f in rec["quality"]["findings"].as_array().into_iter().flatten() {
        if f["code"] == "spectacle_frames" {
            out.push(format!(
                "{path}: spectacle frames on a face without glasses: {f}"
            ));
        }
    }
    let plan = &rec["plan"];
    for f in plan["findings"].as_array().into_iter().flatten() {
        let rule = f["rule"].as_str().unwrap();
        if rule == "rules.inflamed_lesions" {
            out.push(format!("{path}: inflamed-lesion finding: {f}"));
        }
        // None of these people is red: no erythema finding on any photo
        // (the issue asks it of tones/; a stubble chin taken as the face's
        // reference made bioskin/2.jpg read "erythema" before).
        if rule == "rules.widespread_erythema" || rule == "rules.suspected_sunburn" {
            out.push(format!("{path}: erythema finding on a normal face: {f}"));
        }
    }
    // Normal skin is within the protocol's normal limits: no zone is
    // needled for anything (the limits come from these photos, so this
    // guards the measurements against drifting upwards on normal skin).
    for z in plan["zones"].as_array().into_iter().flatten() {
        out.push(format!("{path}: needling planned on normal skin: {z}"));
    }
    out
}

#[test]
fn real_normal_skin_gets_no_scars_lesions_erythema_or_needling() {
    let inputs = sweep_inputs();
    assert!(inputs.len() >= 59, "{} photos", inputs.len());
    let recs = planned_records(&inputs, &inputs);
    let mut problems = Vec::new();
    let (mut scars, mut cm2) = (0u64, 0.0f64);
    for rec in &recs {
        problems.extend(harms(rec));
        // Every photo here is at its own resolution and well compressed:
        // the checks for enlarged and heavily compressed photos must not
        // refuse them.
        for f in rec["quality"]["findings"].as_array().into_iter().flatten() {
            if f["code"] == "enlarged" || f["code"] == "heavily_compressed" {
                problems.push(format!("{}: {f}", rec["input"]["path"]));
            }
        }
        if let Some(face) = rec["acne_scars"]["face"].as_object() {
            scars += face["count"].as_u64().unwrap();
            let measured: Vec<&str> = rec["acne_scars"]["zones"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|z| !z["metrics"].is_null())
                .map(|z| z["zone"].as_str().unwrap())
                .collect();
            cm2 += rec["zones"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|z| measured.contains(&z["name"].as_str().unwrap()))
                .map(|z| z["area_cm2"].as_f64().unwrap_or(0.0))
                .sum::<f64>();
        }
    }
    // Normal faces still read partly "pigmented" (freckles, the hairline,
    // shading the tool cannot tell from pigment), but no more than with
    // creases and turned skin left out: the median face read 16.0 % before,
    // 11.1 % since (docs/harm-on-real-skin.md).
    let mut shares: Vec<f64> = recs
        .iter()
        .filter_map(|r| r["pigmentation"]["face"]["pigmented_pct"].as_f64())
        .collect();
    shares.sort_by(f64::total_cmp);
    assert!(
        shares.len() >= 50,
        "{} faces measured for pigment",
        shares.len()
    );
    let median = shares[shares.len() / 2];
    println!("median real normal face {median:.1} % pigmented");
    assert!(
        median <= 13.0,
        "median real normal face {median:.1} % pigmented"
    );
    println!("{scars} false scars over {cm2:.0} cm² of real normal skin measured for scars");
    assert!(cm2 > 200.0, "too little skin measured for scars: {cm2} cm²");
    assert!(
        scars as f64 / cm2 <= 0.05,
        "{scars} false scars in {cm2:.0} cm²"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A deterministic standard normal deviate (xorshift64* and Box–Muller),
/// so the noisy variants are the same on every run.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn next(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// The photo as a clinic's camera or export might also have recorded it:
/// turned 10° in the frame, 0.7× the pixels, JPEG quality 50 or 60, 1.15×
/// the pixels at quality 80, 0.7× the brightness, mirrored, 1.3× the
/// saturation, light falling off to 0.4 across the face, a small sensor's
/// noise (as `datasets/capture_variants.py`, which lacks the quality 60 and
/// 1.15× variants).
fn capture_variants(photo: &Path, dir: &Path, noise: &mut Normal) -> Vec<PathBuf> {
    use image::{imageops, Rgb, RgbImage};
    let img = image::open(photo).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let map = |f: &dyn Fn(u32, [f32; 3]) -> [f32; 3]| {
        let mut out = img.clone();
        for (x, _, p) in out.enumerate_pixels_mut() {
            let v = f(x, p.0.map(|c| f32::from(c) / 255.0));
            p.0 = v.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
        out
    };
    let (to_lin, to_srgb) = (|c: f32| c.powf(2.2), |c: f32| c.max(0.0).powf(1.0 / 2.2));
    let grey = |v: [f32; 3]| 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
    let mut noisy = img.clone();
    for p in noisy.pixels_mut() {
        p.0 = p.0.map(|c| {
            let lin = to_lin(f32::from(c) / 255.0);
            let v = lin + noise.next() * (0.0004 * lin + 0.00002).sqrt();
            (to_srgb(v.min(1.0)) * 255.0).round() as u8
        });
    }
    let variants: Vec<(&str, RgbImage, u8)> = vec![
        (
            "rot10",
            imageproc::geometric_transformations::rotate_about_center(
                &img,
                10f32.to_radians(),
                imageproc::geometric_transformations::Interpolation::Bicubic,
                imageproc::geometric_transformations::Border::Constant(Rgb([128, 128, 128])),
            ),
            92,
        ),
        (
            "s07",
            imageops::resize(&img, w * 7 / 10, h * 7 / 10, imageops::FilterType::Lanczos3),
            92,
        ),
        ("q50", img.clone(), 50),
        ("q60", img.clone(), 60),
        (
            "s115",
            imageops::resize(
                &img,
                w * 23 / 20,
                h * 23 / 20,
                imageops::FilterType::Lanczos3,
            ),
            80,
        ),
        ("dark", map(&|_, v| v.map(|c| 0.7 * c)), 92),
        ("flip", imageops::flip_horizontal(&img), 92),
        (
            "sat",
            map(&|_, v| v.map(|c| grey(v) + 1.3 * (c - grey(v)))),
            92,
        ),
        (
            "side",
            map(&|x, v| {
                let light = 0.4 + 0.6 * x as f32 / (w - 1).max(1) as f32;
                v.map(|c| to_srgb(to_lin(c) * light))
            }),
            92,
        ),
        ("noise", noisy, 92),
    ];
    let stem = photo.file_stem().unwrap().to_string_lossy().to_string();
    let parent = photo
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    variants
        .into_iter()
        .map(|(kind, v, quality)| {
            let path = dir.join(format!("{parent}-{stem}__{kind}.jpg"));
            save_jpeg(&v, &path, quality);
            path
        })
        .collect()
}

/// Photos the tool has never seen: every real face of the sweep taken a
/// little differently (`capture_variants`). None may gain a scar, a
/// lesion or erythema finding, or a needled zone. A grey-brown mole on
/// `15cm.jpg` passed as a scar (Goodman & Baron grade 2) when mirrored or
/// noisy before the melanin share was tightened to 0.4, and when dimmed,
/// recompressed or rescaled until one-photo estimates had to be at least
/// 0.18 of their width deep (docs/harm-on-real-skin.md). About 1.5 minutes.
#[test]
fn capture_variants_of_real_normal_skin_stay_free_of_findings() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("variants");
    std::fs::create_dir_all(&photos).unwrap();
    let mut noise = Normal(0x9e37_79b9_7f4a_7c15);
    let mut inputs = Vec::new();
    for photo in sweep_inputs() {
        let name = photo.file_name().unwrap().to_string_lossy().to_string();
        // Faces only: the specular-only images and the close-up patch
        // have no face to measure.
        if name.contains("_spec") || name.starts_with("cheek_input") {
            continue;
        }
        inputs.extend(capture_variants(&photo, &photos, &mut noise));
    }
    assert!(inputs.len() >= 10 * 55, "{} variants", inputs.len());
    let recs = planned_records(&[photos], &inputs);
    let mut problems = Vec::new();
    for rec in &recs {
        problems.extend(harms(rec));
        if let Some(n) = rec["acne_scars"]["face"]["count"]
            .as_u64()
            .filter(|&n| n > 0)
        {
            problems.push(format!("{}: {n} false scar(s)", rec["input"]["path"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The two clinic faces (BioSkin, about 21.7 and 23.5 px/mm) reduced to
/// what consultation cameras take (5, 8 and 12 px/mm): the only real skin
/// here at the resolutions where one-photo scars and red lesions are read
/// (the other photos are 1–5 px/mm or a close-up). Reduced, not enlarged:
/// the skin keeps its own detail. Measured 4–16 px/mm on 2026-12-08: no
/// scar, finding or needled zone (docs/harm-on-real-skin.md).
#[test]
fn real_clinic_faces_reduced_to_consultation_resolution_stay_free_of_findings() {
    let dir = tempfile::tempdir().unwrap();
    let mut photos = Vec::new();
    for (name, px_per_mm) in [("1", 21.7), ("2", 23.45)] {
        let img = image::open(shared(&format!("closeups/bioskin/{name}.jpg")))
            .unwrap()
            .to_rgb8();
        for target in [5.0, 8.0, 12.0] {
            let f = target / px_per_mm;
            let (w, h) = img.dimensions();
            let small = image::imageops::resize(
                &img,
                (f64::from(w) * f).round() as u32,
                (f64::from(h) * f).round() as u32,
                image::imageops::FilterType::Lanczos3,
            );
            let path = dir.path().join(format!("bioskin{name}_{target}ppm.jpg"));
            save_jpeg(&small, &path, 92);
            photos.push(path);
        }
    }
    let recs = planned_records(&photos, &photos);
    let mut problems = Vec::new();
    for rec in &recs {
        let path = rec["input"]["path"].as_str().unwrap();
        assert_eq!(rec["status"], "ok", "{path}: {}", rec["error"]);
        assert_eq!(
            rec["acne_scars"]["measured"], true,
            "{path}: {}",
            rec["acne_scars"]["reason"]
        );
        assert_eq!(rec["quality"]["detail"]["enlarged"], false, "{path}");
        problems.extend(harms(rec));
        if let Some(n) = rec["acne_scars"]["face"]["count"]
            .as_u64()
            .filter(|&n| n > 0)
        {
            problems.push(format!("{path}: {n} false scar(s)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Three skin-tone faces (about 3 px/mm) as a phone or a web page might
/// pass them on: enlarged 3× (their iris then says 9–10 px/mm), and saved
/// at JPEG quality 15. Enlarged copies gave false scars of Goodman & Baron
/// grade 2 and, on `faces/biden.jpg`, an "inflamed acne" deferral; the
/// quality-15 copies gave needling plans and erythema findings.
#[test]
fn enlarged_or_heavily_compressed_photos_are_held_to_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (mut enlarged, mut compressed) = (Vec::new(), Vec::new());
    for name in ["001_03", "025_03", "062_03"] {
        let img = image::open(shared(&format!("tones/{name}.jpg")))
            .unwrap()
            .to_rgb8();
        let (w, h) = img.dimensions();
        let big =
            image::imageops::resize(&img, w * 3, h * 3, image::imageops::FilterType::CatmullRom);
        let path = dir.path().join(format!("{name}_x3.png"));
        big.save(&path).unwrap();
        enlarged.push(path);
        let path = dir.path().join(format!("{name}_q15.jpg"));
        save_jpeg(&img, &path, 15);
        compressed.push(path);
    }
    let all: Vec<PathBuf> = enlarged.iter().chain(&compressed).cloned().collect();
    let recs = planned_records(&all, &all);
    for rec in &recs {
        let path = rec["input"]["path"].as_str().unwrap();
        let plan = &rec["plan"];
        assert!(
            plan["zones"].as_array().unwrap().is_empty(),
            "{path}: {plan}"
        );
        if path.ends_with("_x3.png") {
            let detail = &rec["quality"]["detail"];
            assert!(
                finding_codes(rec).contains(&"enlarged".to_string()),
                "{path}: {detail}"
            );
            let px = rec["scale"]["px_per_mm"].as_f64().unwrap();
            let effective = detail["effective_px_per_mm"].as_f64().unwrap();
            assert!(px > 8.0 && effective < 4.0, "{path}: {px} → {effective}");
            assert_eq!(rec["acne_scars"]["measured"], false, "{path}");
            assert!(
                rec["acne_scars"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("enlarged"),
                "{path}: {}",
                rec["acne_scars"]["reason"]
            );
            // Pigmentation keeps the scale (read at 4 px/mm from spots of
            // 1.5 mm² or more); red lesions need the detail.
            assert_eq!(rec["pigmentation"]["measured"], true, "{path}");
            for z in rec["pigmentation"]["zones"].as_array().unwrap() {
                assert!(z["redness"].is_null(), "{path}: {z}");
            }
        } else {
            assert_eq!(rec["input"]["jpeg_quality"], 15, "{path}");
            assert!(
                finding_codes(rec).contains(&"heavily_compressed".to_string()),
                "{path}"
            );
            assert_eq!(plan["outcome"], "not_assessable", "{path}: {plan}");
            for concern in ["pores", "pigmentation", "acne_scars"] {
                assert_eq!(rec[concern]["measured"], false, "{path}: {concern}");
            }
        }
    }
}

fn plan_of(photo: &Path, extra: &[&str]) -> (Value, String) {
    let o = run(&[&["--plan"], extra].concat(), &[photo]);
    let recs = records(&o);
    (
        recs[0]["plan"].clone(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn rules(plan: &Value) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_plan_with_nothing_assessed_is_not_assessable_never_proceed() {
    // 0.9 px/mm: below every concern's resolution.
    let (plan, _) = plan_of(&shared("faces/alex-lacamoire.png"), &[]);
    assert_eq!(plan["outcome"], "not_assessable", "{plan}");
    assert!(plan["zones"].as_array().unwrap().is_empty());
    assert!(plan["sessions"].is_null());
    let reasons = plan["not_assessed"].as_array().unwrap();
    assert!(reasons.len() >= 3, "{plan}");
}

/// A 1.5× digital zoom of `two_people.jpg` leaves a mouth and chin that the
/// detector takes, unsure, for a face: the mesh lay over the mouth and the
/// shirt, and the zones' colour made a "suspected sunburn" deferral. A face
/// the detector is unsure of is not measured, and says so.
#[test]
fn a_face_the_detector_is_unsure_of_is_not_measured() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::open(shared("faces/two_people.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let (cw, ch) = (w * 2 / 3, h * 2 / 3);
    let crop = image::imageops::crop_imm(&img, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
    let zoomed = image::imageops::resize(&crop, w, h, image::imageops::FilterType::CatmullRom);
    let path = dir.path().join("zoomed.jpg");
    save_jpeg(&zoomed, &path, 90);
    let rec = one_image(&path, &["--plan"]);
    let score = rec["face"]["detection_score"].as_f64().unwrap();
    assert!(score < 0.6, "the crop's face scored {score}");
    assert!(
        finding_codes(&rec).contains(&"face_uncertain".to_string()),
        "{}",
        rec["quality"]
    );
    for concern in ["pores", "pigmentation", "acne_scars"] {
        assert_eq!(rec[concern]["measured"], false, "{concern}");
    }
    assert!(harms(&rec).is_empty(), "{:?}", harms(&rec));
    assert!(rec["plan"]["zones"].as_array().unwrap().is_empty());
    // The crop's face fills the frame: no advice to crop.
    assert!(
        !rec["quality"].to_string().contains("crop to the head"),
        "{}",
        rec["quality"]
    );
}

#[test]
fn an_unsure_detection_of_a_face_small_in_the_frame_says_to_crop_to_the_head() {
    // A 1080p portrait in the middle of a grey frame three times its size,
    // as a full-length photo leaves the face.
    let img = image::open(shared("faces/obama-1080p.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let mut frame = image::RgbImage::from_pixel(3 * w, 3 * h, image::Rgb([128; 3]));
    image::imageops::overlay(&mut frame, &img, i64::from(w), i64::from(h));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.jpg");
    save_jpeg(&frame, &path, 90);
    let rec = one_image(&path, &[]);
    let score = rec["face"]["detection_score"].as_f64().unwrap();
    assert!(score < 0.6, "the framed face scored {score}");
    let finding = rec["quality"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "face_uncertain")
        .unwrap()
        .to_string();
    assert!(finding.contains("crop to the head"), "{finding}");
}

#[test]
fn without_an_intake_the_plan_says_history_was_not_checked_and_is_at_most_caution() {
    let dir = tempfile::tempdir().unwrap();
    let photo = visit_photo(
        &dir.path().join("in"),
        "P9/2026-04-01",
        &shared("pores/cheek_input.png"),
        "cheek.png",
    );
    let (plan, _) = plan_of(&photo, &["--px-per-mm", "12.6"]);
    assert_eq!(plan["intake_checked"], false);
    assert!(
        rules(&plan).contains(&"intake.missing".to_string()),
        "{plan}"
    );
    assert_ne!(plan["outcome"], "proceed", "{plan}");
    // An intake row that asks only about pregnancy has not checked the
    // rest of the history: still at most caution, naming what is missing.
    let intake = dir.path().join("intake.csv");
    std::fs::write(&intake, "patient_id,pregnant,fitzpatrick\nP9,no,II\n").unwrap();
    let (plan, _) = plan_of(
        &photo,
        &["--px-per-mm", "12.6", "--intake", intake.to_str().unwrap()],
    );
    assert_eq!(plan["intake_checked"], false);
    assert!(
        rules(&plan).contains(&"intake.incomplete".to_string()),
        "{plan}"
    );
    assert_eq!(plan["outcome"], "caution", "{plan}");
    let evidence = plan["findings"].to_string();
    assert!(
        evidence.contains("anticoagulants") && !evidence.contains("fitzpatrick"),
        "{plan}"
    );
    // With a full intake that gives the skin type, the same photo may
    // proceed; without the type, its uncalibrated colour cannot vouch for a
    // light skin (`a_photo_s_colour_never_lifts_the_skin_tone_caution`).
    std::fs::write(
        &intake,
        format!("patient_id,fitzpatrick,{HISTORY_COLUMNS}\nP9,II,{HISTORY_ALL_NO}\n"),
    )
    .unwrap();
    let (plan, _) = plan_of(
        &photo,
        &["--px-per-mm", "12.6", "--intake", intake.to_str().unwrap()],
    );
    assert_eq!(plan["intake_checked"], true);
    assert!(!rules(&plan).contains(&"intake.missing".to_string()));
    assert_eq!(plan["outcome"], "proceed", "{plan}");
}

/// A photo's ITA depends on the camera's exposure and white balance:
/// `faces/obama.jpg` (Fitzpatrick V–VI skin, a bright press photo) reads
/// ITA 40°, "intermediate", for which the default protocol has no
/// post-inflammatory hyperpigmentation caution and full depth. So an
/// uncalibrated photo's colour only ever adds caution: without the
/// clinician's Fitzpatrick type the plan says the skin tone is unconfirmed,
/// and with it the darker of the two sets the depth factor and interval.
#[test]
fn a_photo_s_colour_never_lifts_the_skin_tone_caution() {
    let dir = tempfile::tempdir().unwrap();
    let photo = visit_photo(
        &dir.path().join("in"),
        "P7/2026-04-01",
        &shared("faces/obama.jpg"),
        "face.jpg",
    );
    let with_intake = |row: &str| {
        let intake = dir.path().join("intake.csv");
        std::fs::write(&intake, format!("patient_id,pregnant,fitzpatrick\n{row}\n")).unwrap();
        plan_of(&photo, &["--intake", intake.to_str().unwrap()]).0
    };
    let plan = with_intake("P7,no,");
    assert_eq!(plan["ita_category"], "intermediate", "{plan}");
    assert!(
        rules(&plan).contains(&"skin_tone.unconfirmed".to_string()),
        "{plan}"
    );
    assert_eq!(plan["outcome"], "caution", "{plan}");
    // The clinician's type V: brown's rules, whatever the photo read.
    let plan = with_intake("P7,no,V");
    assert_eq!(plan["fitzpatrick"], 5);
    assert_eq!(plan["skin_tone_category"], "brown", "{plan}");
    let r = rules(&plan);
    assert!(
        r.contains(&"skin_tone.brown.pih_caution".to_string()),
        "{plan}"
    );
    assert!(!r.contains(&"skin_tone.unconfirmed".to_string()), "{plan}");
    // A lighter type than the photo reads never lightens the rules.
    let plan = with_intake("P7,no,1");
    assert_eq!(plan["skin_tone_category"], "intermediate", "{plan}");
    assert!(
        !rules(&plan).contains(&"skin_tone.unconfirmed".to_string()),
        "{plan}"
    );
    // Not a Fitzpatrick type: the intake is refused, naming the value.
    let intake = dir.path().join("bad.csv");
    std::fs::write(&intake, "patient_id,fitzpatrick\nP7,VII\n").unwrap();
    let o = run(&["--plan", "--intake", intake.to_str().unwrap()], &[&photo]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("VII"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn duplicate_intake_rows_are_refused_and_unmatched_ids_are_named() {
    let dir = tempfile::tempdir().unwrap();
    visit_photo(
        &dir.path().join("in"),
        "P9/2026-04-01",
        &shared("faces/obama.jpg"),
        "front.jpg",
    );
    let intake = dir.path().join("intake.csv");
    std::fs::write(
        &intake,
        "patient_id,pregnant,isotretinoin_last_dose\nP9,no,\nQ1,no,\nP9,yes,2026-03-01\n",
    )
    .unwrap();
    let o = run(
        &["--plan", "--intake", intake.to_str().unwrap()],
        &[&dir.path().join("in")],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("P9") && err.contains("(2 and 4)"),
        "the error names both rows: {err}"
    );
    std::fs::write(&intake, "patient_id,pregnant\np9,yes\nQ1,no\n").unwrap();
    let o = run(
        &["--plan", "--intake", intake.to_str().unwrap()],
        &[&dir.path().join("in")],
    );
    expect_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("intake row 2 (patient p9) matches no analysed photo")
            && err.contains("did you mean P9"),
        "{err}"
    );
    assert!(err.contains("intake row 3 (patient Q1)"), "{err}");
    // The mis-cased row was not applied: the plan says the history is unchecked.
    assert_eq!(records(&o)[0]["plan"]["intake_checked"], false);
}

#[test]
fn protocol_numbers_must_be_finite_and_within_bounds() {
    let text = String::from_utf8_lossy(&bin().arg("protocol").output().unwrap().stdout).to_string();
    let dir = tempfile::tempdir().unwrap();
    for (from, to, key) in [
        (
            "erythema_a_star_excess = 5.0",
            "erythema_a_star_excess = nan",
            "erythema_a_star_excess",
        ),
        (
            "sunburn_a_star_excess = 7.0",
            "sunburn_a_star_excess = inf",
            "sunburn_a_star_excess",
        ),
        (
            "inflamed_lesions_min = 3",
            "inflamed_lesions_min = 4294967295",
            "inflamed_lesions_min",
        ),
        (
            "isotretinoin_months = 6",
            "isotretinoin_months = 4294967295",
            "isotretinoin_months",
        ),
        (
            "treat_from_severity = 15.0",
            "treat_from_severity = nan",
            "treat_from_severity",
        ),
        (
            "confirm_from_grade = 2",
            "confirm_from_grade = 0",
            "confirm_from_grade",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let p = dir.path().join("p.toml");
        std::fs::write(&p, text.replace(from, to)).unwrap();
        let o = run(
            &["--plan", "--protocol", p.to_str().unwrap()],
            &[&shared("faces/obama.jpg")],
        );
        assert_eq!(o.status.code(), Some(2), "{to} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(key), "{to}: {err}");
    }
}

#[test]
fn one_photo_scar_estimates_set_no_depth_unless_the_clinician_grades_them() {
    // The demo's multi-light skin, one photo of it alone: scars estimated.
    let dir = tempfile::tempdir().unwrap();
    let photo = visit_photo(
        &dir.path().join("in"),
        "S9/2026-11-02",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/S001/2026-11-02/cheek_L0.jpg"),
        "cheek.jpg",
    );
    let args = ["--patch", "--px-per-mm", "10"];
    let (plan, _) = plan_of(&photo, &args);
    assert!(
        !plan["zones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|z| z["concern"] == "acne_scars"),
        "{plan}"
    );
    let unconfirmed = plan["unconfirmed"].as_array().unwrap();
    assert!(
        unconfirmed
            .iter()
            .any(|r| r["evidence"].as_str().unwrap().contains("one photo")),
        "{plan}"
    );
    let intake = dir.path().join("intake.csv");
    std::fs::write(&intake, "patient_id,acne_scar_grade\nS9,3\n").unwrap();
    let (plan, _) = plan_of(
        &photo,
        &[&args[..], &["--intake", intake.to_str().unwrap()]].concat(),
    );
    let scar_zone = plan["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["concern"] == "acne_scars")
        .unwrap_or_else(|| panic!("a graded patient's scars are planned: {plan}"));
    assert!(
        scar_zone["rationale"]
            .to_string()
            .contains("clinician's Goodman & Baron grade 3"),
        "{scar_zone}"
    );
    // A graded patient whose photo locates no scar: said, caution, no
    // scar zone (the clinician chooses where).
    let clear = visit_photo(
        &dir.path().join("clear"),
        "S9/2026-11-02",
        &shared("closeups/bioskin/1.jpg"),
        "face.jpg",
    );
    let (plan, _) = plan_of(&clear, &["--intake", intake.to_str().unwrap()]);
    let said = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "acne_scars.clinician_grade")
        .unwrap_or_else(|| panic!("the clinician's grade is not mentioned: {plan}"));
    assert_eq!(said["outcome"], "caution");
    assert!(
        said["evidence"].as_str().unwrap().contains("located none"),
        "{said}"
    );
    assert_ne!(plan["outcome"], "proceed");
    // A grade outside 1–4 is refused, naming the line.
    std::fs::write(&intake, "patient_id,acne_scar_grade\nS9,5\n").unwrap();
    let o = run(
        &[&args[..], &["--plan", "--intake", intake.to_str().unwrap()]].concat(),
        &[&photo],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Goodman & Baron grade"));
}

#[test]
fn hair_is_found_reported_per_zone_and_left_out_of_the_measurements() {
    let hair = |rec: &Value, zone: &str| -> f64 {
        rec["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["name"] == zone)
            .and_then(|z| z["hair_pct"].as_f64())
            .unwrap_or_else(|| panic!("no hair_pct for {zone}: {}", rec["zones"]))
    };
    // A stubble beard (3 px/mm) and, at 1.9 px/mm, a beard whose strands
    // are barely resolved. Tones: Face Research Lab London Set, DeBruine &
    // Jones (2017), CC BY 4.0, https://doi.org/10.6084/m9.figshare.5047666.v5
    let stubble = one_image(&shared("tones/037_03.jpg"), &[]);
    assert!(hair(&stubble, "chin") >= 50.0, "{}", stubble["zones"]);
    assert!(hair(&stubble, "perioral") >= 20.0, "{}", stubble["zones"]);
    // Half of this chin is turned more than 60° from the camera and left
    // out; the beard on the rest is still found.
    let beard = one_image(&shared("faces/lin-manuel-miranda.png"), &[]);
    assert!(hair(&beard, "chin") >= 7.0, "{}", beard["zones"]);
    for zone in ["forehead", "nose", "right_cheek"] {
        assert!(hair(&beard, zone) < 2.0, "{zone}: {}", beard["zones"]);
    }
    // With the beard left out, chin and perioral skin no longer read as
    // "dark" skin (ITA < -30°): the stubble beard's chin read -77° before.
    let ita = |rec: &Value, zone: &str| {
        rec["pigmentation"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone"] == zone)
            .unwrap()["colour"]["ita_deg"]
            .as_f64()
            .unwrap()
    };
    for rec in [&stubble, &beard] {
        for zone in ["chin", "perioral"] {
            assert!(ita(rec, zone) > -30.0, "{zone} ITA {}", ita(rec, zone));
        }
    }
    // Beardless faces, light and dark: little hair on cheeks and forehead.
    // A dark face's side in shadow is as dark and bluish against its bare
    // skin as a beard, but smooth: it must not read as hair.
    // (099's shiny forehead is left out for glare, so it has no hair share.)
    for (photo, zones) in [
        (
            "tones/001_03.jpg",
            &["right_cheek", "left_cheek", "forehead"][..],
        ),
        (
            "tones/082_03.jpg",
            &["right_cheek", "left_cheek", "forehead"][..],
        ),
        ("tones/099_03.jpg", &["right_cheek", "left_cheek"][..]),
    ] {
        let rec = one_image(&shared(photo), &[]);
        for zone in zones {
            assert!(hair(&rec, zone) < 10.0, "{photo} {zone}: {}", rec["zones"]);
        }
    }
}

/// The creases the face mesh locates, and skin turned more than 50° from
/// the camera, are left out of the pigmentation, and with them the shadows
/// the overlays outlined as pigment on `distance/15cm.jpg` (mentolabial
/// sulcus, under the eyes, the lower ends of the nasolabial folds, the
/// temples): its chin read 10.5 % pigmented with them in.
#[test]
fn skin_folds_and_turned_skin_are_left_out_of_the_pigmentation() {
    let o = run(&[], &[&shared("distance/15cm.jpg")]);
    let rec = &records(&o)[0];
    let zones = rec["pigmentation"]["zones"].as_array().unwrap();
    let zone = |name: &str| zones.iter().find(|z| z["zone"] == name).unwrap();
    let fold_pct = |name: &str| zone(name)["fold_pct"].as_f64().unwrap();
    for name in ["chin", "perioral", "right_cheek", "left_cheek"] {
        assert!(fold_pct(name) > 5.0, "{name}: {}", zone(name));
    }
    for name in ["right_periorbital", "left_periorbital"] {
        assert!(fold_pct(name) > 30.0, "{name}: {}", zone(name));
    }
    assert_eq!(fold_pct("forehead"), 0.0);
    let turned_pct = |name: &str| zone(name)["turned_pct"].as_f64().unwrap();
    for name in ["forehead", "right_cheek", "left_cheek", "nose"] {
        assert!(turned_pct(name) > 5.0, "{name}: {}", zone(name));
    }
    let chin = zone("chin")["metrics"]["pigmented_pct"].as_f64().unwrap();
    assert!(chin < 5.0, "chin {chin} % pigmented");
}

/// Brown spectacle frames (rims 4 mm wide around 50 × 34 mm lenses, as
/// `datasets/spectacle_rings.py draw` makes them) drawn on real normal
/// faces: before, the lower rims read as 25–58 % periorbital pigment and
/// got a pigmentation plan. Now the rims are found and left out of every
/// zone, the record says so, and nothing is planned.
#[test]
fn spectacle_frames_are_found_and_left_out_not_read_as_pigment() {
    let dir = tempfile::tempdir().unwrap();
    let mut framed = Vec::new();
    for name in ["tones/007_03.jpg", "tones/045_03.jpg", "tones/119_03.jpg"] {
        let src = shared(name);
        let rec = one_image(&src, &["--landmarks"]);
        let landmarks = rec["face"]["landmarks_px"].as_array().unwrap();
        let point = |i: usize| {
            let p = landmarks[i].as_array().unwrap();
            (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())
        };
        let px_per_mm = rec["scale"]["px_per_mm"].as_f64().unwrap();
        let mut img = image::open(&src).unwrap().to_rgb8();
        // Each lens centred 3 mm below the middle of its eye's corners.
        let lenses: Vec<(f64, f64)> = [(33, 133), (263, 362)]
            .iter()
            .map(|&(outer, inner)| {
                let ((x1, y1), (x2, y2)) = (point(outer), point(inner));
                ((x1 + x2) / 2.0, (y1 + y2) / 2.0 + 3.0 * px_per_mm)
            })
            .collect();
        let (a, b, half) = (25.0 * px_per_mm, 17.0 * px_per_mm, 2.0 * px_per_mm);
        for (x, y, p) in img.enumerate_pixels_mut() {
            for &(cx, cy) in &lenses {
                let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
                let within = |a: f64, b: f64| (dx / a).powi(2) + (dy / b).powi(2) <= 1.0;
                if within(a + half, b + half) && !within(a - half, b - half) {
                    *p = image::Rgb([105, 68, 42]);
                }
            }
        }
        let path = dir
            .path()
            .join(name.replace('/', "_"))
            .with_extension("png");
        img.save(&path).unwrap();
        framed.push(path);
    }
    let recs = planned_records(&framed, &framed);
    for rec in &recs {
        let path = rec["input"]["path"].as_str().unwrap();
        assert!(
            finding_codes(rec).contains(&"spectacle_frames".to_string()),
            "{path}: {}",
            rec["quality"]["findings"]
        );
        assert!(
            rec["plan"]["zones"].as_array().unwrap().is_empty(),
            "{path}: {}",
            rec["plan"]["zones"]
        );
        // Under the eyes, what is left of the skin is not read as pigment
        // (the frames unseen, they read 25–58 %; without frames these zones
        // read 3–7 %, except 045_03's right one, 32 % with its under-eye
        // shadow, which the rim's band now leaves out).
        for zone in rec["pigmentation"]["zones"].as_array().unwrap() {
            let name = zone["zone"].as_str().unwrap();
            if let (true, Some(pct)) = (
                name.ends_with("periorbital"),
                zone["metrics"]["pigmented_pct"].as_f64(),
            ) {
                assert!(pct < 10.0, "{path}: {name} {pct} % pigmented");
            }
        }
    }
}

/// Half of a normal face in shadow (its light dimmed to a quarter, as by a
/// lamp on one side) reads less red in a*, which scales with lightness: it
/// was taken as the face's "least-red skin" and the lit half as erythema.
/// Redness is compared at the face's lightness.
#[test]
fn a_face_half_in_shadow_is_not_read_as_erythema() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = image::open(photos_dir().join("closeups/bioskin/1.jpg"))
        .unwrap()
        .to_rgb8();
    let w = img.width();
    let (to_lin, to_srgb) = (|c: f32| c.powf(2.2), |c: f32| c.max(0.0).powf(1.0 / 2.2));
    for (x, _, p) in img.enumerate_pixels_mut() {
        if x >= w / 2 {
            p.0 =
                p.0.map(|c| (to_srgb(to_lin(f32::from(c) / 255.0) * 0.25) * 255.0).round() as u8);
        }
    }
    let photo = dir.path().join("half_shadow.jpg");
    img.save(&photo).unwrap();
    let (plan, _) = plan_of(&photo, &[]);
    let found = rules(&plan);
    assert!(
        !found.iter().any(|r| r.starts_with("rules.")),
        "{found:?}: {plan}"
    );
}

#[test]
fn an_object_over_the_face_is_left_out_not_measured_as_skin() {
    let zone = |rec: &Value, key: &str, name: &str| -> Value {
        let zones = if key.is_empty() {
            &rec["zones"]
        } else {
            &rec[key]["zones"]
        };
        zones
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["name"] == name || z["zone"] == name)
            .unwrap_or_else(|| panic!("no {name} in {key}: {zones}"))
            .clone()
    };
    let photo = photos_dir().join("closeups/bioskin/1.jpg");
    let clean = one_image(&photo, &[]);
    // (A zone left out for another reason has no share: null.)
    for z in clean["zones"].as_array().unwrap() {
        assert_eq!(z["object_pct"].as_f64().unwrap_or(0.0), 0.0, "{z}");
    }
    // A black microphone held in front of the chin (grey plastic, a
    // lighter rim where it catches the light).
    let dir = tempfile::tempdir().unwrap();
    let mut img = image::open(&photo).unwrap().to_rgb8();
    for (x, y, p) in img.enumerate_pixels_mut() {
        if (1650..2150).contains(&x) && (4150..4500).contains(&y) {
            p.0 = if y < 4180 {
                [120, 120, 125]
            } else {
                [28, 28, 31]
            };
        }
    }
    let covered = dir.path().join("microphone.jpg");
    img.save(&covered).unwrap();
    let rec = one_image(&covered, &[]);
    let chin = zone(&rec, "", "chin");
    let share = chin["object_pct"].as_f64().unwrap();
    assert!(share >= 10.0, "object share {share}: {chin}");
    // The chin's skin colour is read from the skin around it, not from the
    // microphone (which would make it read far darker).
    let ita = |rec: &Value| {
        zone(rec, "pigmentation", "chin")["colour"]["ita_deg"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (ita(&rec) - ita(&clean)).abs() < 2.0,
        "chin ITA {} with the microphone, {} without",
        ita(&rec),
        ita(&clean)
    );
    assert_eq!(zone(&rec, "", "forehead")["object_pct"].as_f64(), Some(0.0));
}

/// Glare is left out of the measurements but is not called an object:
/// the shine on the Obama portrait's forehead and nose (lighter than bare
/// skin in every channel) reads as `sheen_pct`, none of it as `object_pct`
/// (both were `object_pct` before glare was told apart).
#[test]
fn glare_is_left_out_as_glare_not_as_an_object() {
    let rec = one_image(&photos_dir().join("faces/obama.jpg"), &[]);
    let (mut sheen, mut object) = (0.0, 0.0);
    // (The shaved upper lip's bluish shade still reads as an object:
    // docs/measurements.md, Objects.)
    for z in rec["zones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["name"] == "forehead" || z["name"] == "nose")
    {
        sheen += z["sheen_pct"].as_f64().unwrap_or(0.0);
        object += z["object_pct"].as_f64().unwrap_or(0.0);
    }
    assert!(sheen > 1.0, "glare share {sheen}: {}", rec["zones"]);
    assert_eq!(object, 0.0, "{}", rec["zones"]);
}
