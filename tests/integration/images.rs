//! Images that are what they claim: corrupt files, implausible headers and
//! what a directory walk meets are error records, never `ok` or silence.

use crate::*;
use serde_json::Value;
use std::path::Path;

/// A tiny deterministic generator (xorshift), so the corpus is the same on
/// every run.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Where a JPEG's entropy-coded data lies: after the last SOS header, up
/// to the end marker.
fn scan_range(jpeg: &[u8]) -> std::ops::Range<usize> {
    let sos = jpeg.windows(2).rposition(|w| w == [0xff, 0xda]).unwrap();
    let len = usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let eoi = jpeg.windows(2).rposition(|w| w == [0xff, 0xd9]).unwrap();
    sos + 2 + len..eoi
}

fn png_chunks(png: &[u8]) -> Vec<(usize, usize, [u8; 4])> {
    let mut out = Vec::new();
    let mut i = 8;
    while i + 8 <= png.len() {
        let n = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        out.push((i, n, png[i + 4..i + 8].try_into().unwrap()));
        i += 12 + n;
    }
    out
}

/// A corpus of corrupt JPEGs and PNGs made from a real photo.
fn corrupt_corpus(dir: &Path) -> Vec<String> {
    let jpeg = std::fs::read(shared("faces/obama.jpg")).unwrap();
    let scan = scan_range(&jpeg);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut names = Vec::new();
    let mut write = |name: String, bytes: &[u8]| {
        std::fs::write(dir.join(&name), bytes).unwrap();
        names.push(name);
    };
    for k in 0..4 {
        // Cut inside the scan and closed again with an end marker.
        let cut = scan.start + 200 + rng.below(scan.len() - 400);
        let mut b = jpeg[..cut].to_vec();
        b.extend_from_slice(&[0xff, 0xd9]);
        write(format!("truncated_{k}.jpg"), &b);
    }
    for k in 0..4 {
        // Sixteen bits flipped in the scan data.
        let mut b = jpeg.clone();
        for _ in 0..16 {
            let i = scan.start + rng.below(scan.len());
            b[i] ^= 1 << rng.below(8);
        }
        write(format!("flipped_{k}.jpg"), &b);
    }
    for k in 0..3 {
        // A stretch of scan data duplicated in place.
        let i = scan.start + rng.below(scan.len() - 2000);
        let n = 16 + rng.below(1000);
        let mut b = jpeg[..i + n].to_vec();
        b.extend_from_slice(&jpeg[i..]);
        write(format!("duplicated_{k}.jpg"), &b);
    }
    // PNGs: made from the same photo.
    let mut png = Vec::new();
    image::open(shared("faces/obama.jpg"))
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let idat: Vec<_> = png_chunks(&png)
        .into_iter()
        .filter(|c| &c.2 == b"IDAT")
        .collect();
    for k in 0..3 {
        // A bit flipped in the image data: the chunk's CRC fails.
        let (at, n, _) = idat[rng.below(idat.len())];
        let mut b = png.clone();
        b[at + 8 + rng.below(n)] ^= 1 << rng.below(8);
        write(format!("png_crc_{k}.png"), &b);
        // The same with the CRC recomputed: only zlib's own check can tell.
        let crc = crc32(&b[at + 4..at + 8 + n]);
        b[at + 8 + n..at + 12 + n].copy_from_slice(&crc.to_be_bytes());
        write(format!("png_zlib_{k}.png"), &b);
    }
    // Truncated, with its end chunk appended.
    let mut b = png[..png.len() * 2 / 3].to_vec();
    b.extend_from_slice(&png[png.len() - 12..]);
    write("png_truncated.png".into(), &b);
    names
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn corrupt_jpegs_and_pngs_are_corrupt_image_never_ok() {
    let dir = tempfile::tempdir().unwrap();
    let names = corrupt_corpus(dir.path());
    let o = run(&[], &[dir.path()]);
    assert_eq!(o.status.code(), Some(1), "errors → exit 1");
    let recs = records(&o);
    let imgs = images(&recs);
    assert_eq!(imgs.len(), names.len());
    for r in imgs {
        assert_eq!(
            r["error"]["code"], "corrupt_image",
            "{}: {}",
            r["input"]["path"], r["status"]
        );
    }
}

#[test]
fn a_header_claiming_more_pixels_than_its_bytes_hold_is_refused() {
    // A 3 KB JPEG whose frame header claims 10000x10000.
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 90]));
    let mut b = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::Jpeg)
        .unwrap();
    let sof = b.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    b[sof + 5..sof + 7].copy_from_slice(&10000u16.to_be_bytes());
    b[sof + 7..sof + 9].copy_from_slice(&10000u16.to_be_bytes());
    let path = dir.path().join("claims_100mp.jpg");
    std::fs::write(&path, &b).unwrap();
    let rec = one_image(&path, &[]);
    assert_eq!(rec["error"]["code"], "too_large", "{rec}");
    assert!(rec["error"]["message"]
        .as_str()
        .unwrap()
        .contains("10000x10000"));
}

#[test]
fn a_walk_names_dangling_links_unreadable_folders_and_unsupported_photos() {
    let dir = tempfile::tempdir().unwrap();
    let visit = dir.path().join("P1/2026-01-01");
    std::fs::create_dir_all(&visit).unwrap();
    std::fs::copy(shared("faces/obama.jpg"), visit.join("front.jpg")).unwrap();
    std::fs::write(visit.join("side.heic"), b"\0\0\0\x18ftypheic").unwrap();
    std::fs::write(visit.join("top.webp"), b"RIFF\0\0\0\0WEBPVP8 ").unwrap();
    std::fs::write(visit.join("depth.tif"), float_tiff(8, 8)).unwrap();
    std::fs::write(visit.join("notes.txt"), b"not a photo").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("gone.jpg"), visit.join("left.jpg")).unwrap();
    let locked = dir.path().join("P1/2026-02-01");
    std::fs::create_dir_all(&locked).unwrap();
    std::fs::copy(shared("faces/obama.jpg"), locked.join("front.jpg")).unwrap();
    #[cfg(unix)]
    let can_lock = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads any folder: then this part cannot be exercised.
        std::fs::read_dir(&locked).is_err()
    };
    #[cfg(not(unix))]
    let can_lock = false;
    if !can_lock {
        eprintln!("notice: running as a user who reads any folder; the unreadable-folder case is not exercised");
    }
    let o = run(&[], &[dir.path()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    expect_exit(&o, 1);
    let recs = records(&o);
    let by_name = |name: &str| {
        images(&recs)
            .into_iter()
            .find(|r| r["input"]["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no record for {name}"))
            .clone()
    };
    assert_eq!(by_name("2026-01-01/front.jpg")["status"], "ok");
    // A 32-bit float TIFF is a format variant to convert, not a damaged file.
    for name in ["side.heic", "top.webp", "depth.tif"] {
        let r = by_name(name);
        assert_eq!(r["error"]["code"], "unsupported_format", "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("convert"),
            "{r}"
        );
    }
    #[cfg(unix)]
    {
        let r = by_name("left.jpg");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("dangling"),
            "{r}"
        );
    }
    if can_lock {
        let r = by_name("2026-02-01");
        assert_eq!(r["error"]["code"], "unreadable", "{r}");
    }
    assert!(
        !images(&recs)
            .iter()
            .any(|r| r["input"]["path"].as_str().unwrap().ends_with("notes.txt")),
        "files that are not photos are not the batch's business"
    );
}

/// `photo` with each pixel's luma painted in one colour: a greyscale photo,
/// or the blue-violet of a UV or Wood's-lamp capture.
fn recoloured(photo: &Path, tint: [f32; 3], to: &Path) {
    let img = image::open(photo).unwrap().to_rgb8();
    let out = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0.map(f32::from);
        let l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        image::Rgb(tint.map(|t| (l * t).min(255.0) as u8))
    });
    out.save(to).unwrap();
}

fn colour_numbers(rec: &Value) -> Vec<String> {
    let p = &rec["pigmentation"];
    let mut out = Vec::new();
    if p["measured"] == true || !p["colour"].is_null() {
        out.push(format!("pigmentation measured: colour {}", p["colour"]));
    }
    for z in p["zones"].as_array().into_iter().flatten() {
        if !z["colour"].is_null() || !z["redness"].is_null() {
            out.push(format!("zone {}: {z}", z["zone"]));
        }
    }
    out
}

#[test]
fn greyscale_uv_like_and_declared_uv_photos_get_no_colour_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let grey = dir.path().join("grey.png");
    let uv = dir.path().join("uv_like.png");
    recoloured(&shared("faces/obama.jpg"), [1.0, 1.0, 1.0], &grey);
    recoloured(&shared("faces/obama.jpg"), [0.55, 0.45, 1.0], &uv);
    let grey = one_image(&grey, &["--plan"]);
    assert_eq!(
        grey["quality"]["light"]["shows_skin_colour"], false,
        "{}",
        grey["quality"]
    );
    assert!(grey["quality"]["light"]["reason"]
        .as_str()
        .unwrap()
        .contains("greyscale"));
    assert!(
        colour_numbers(&grey).is_empty(),
        "{:?}",
        colour_numbers(&grey)
    );
    let uv = one_image(&uv, &["--plan"]);
    assert!(
        uv["quality"]["light"]["reason"]
            .as_str()
            .unwrap()
            .contains("blue-violet"),
        "{}",
        uv["quality"]
    );
    assert!(colour_numbers(&uv).is_empty(), "{:?}", colour_numbers(&uv));
    for concern in ["pores", "acne_scars", "pigmentation"] {
        assert_eq!(
            uv["quality"]["usable"][concern]["usable"], false,
            "{concern}"
        );
    }
    assert_eq!(uv["plan"]["outcome"], "not_assessable", "{}", uv["plan"]);
    assert!(uv["plan"]["ita_deg"].is_null());

    // A colour photo declared as UV in the manifest is taken at its word.
    let manifest = dir.path().join("visits.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,patient_id,visit_date,modality\n{},P1,2026-01-01,uv\n",
            shared("faces/obama.jpg").display()
        ),
    )
    .unwrap();
    let with_manifest = || {
        bin()
            .arg("analyze")
            .arg("--manifest")
            .arg(&manifest)
            .output()
            .unwrap()
    };
    let o = with_manifest();
    expect_ok(&o);
    let rec = &records(&o)[0];
    assert_eq!(rec["quality"]["light"]["modality"], "uv");
    assert_eq!(rec["quality"]["light"]["declared"], true);
    assert!(colour_numbers(rec).is_empty(), "{:?}", colour_numbers(rec));
    // And a bad modality rejects the manifest, naming the line.
    std::fs::write(&manifest, "path,modality\nx.jpg,infrared\n").unwrap();
    let o = with_manifest();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("infrared"));
}

#[test]
fn a_device_profile_makes_one_record_per_sitting_with_one_scale() {
    // The bioskin close-ups as the rig exports them: a diffuse (colour)
    // and a specular (greyscale) image per face, and a mask.
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/bioskin.toml");
    let folder = shared("closeups/bioskin/1.jpg")
        .parent()
        .unwrap()
        .to_path_buf();
    let o = bin()
        .arg("analyze")
        .arg(&folder)
        .arg("--device-profile")
        .arg(&profile)
        .output()
        .unwrap();
    expect_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("ignores 2 file(s)"));
    let recs = records(&o);
    let imgs = images(&recs);
    assert_eq!(imgs.len(), 2, "one record per sitting");
    for r in &imgs {
        assert_eq!(r["scale"]["source"], "session", "{}", r["scale"]);
        let photos = r["session"]["photos"].as_array().unwrap();
        assert_eq!(photos.len(), 2);
        let own: Vec<f64> = photos
            .iter()
            .map(|p| p["own_px_per_mm"].as_f64().unwrap())
            .collect();
        let s = r["scale"]["px_per_mm"].as_f64().unwrap();
        assert!(
            own.iter().all(|o| (o / s - 1.0).abs() < 0.06),
            "{own:?} vs {s}"
        );
        // The specular image is greyscale: no model here was validated on
        // it, so nothing is read from it, and the record says so.
        let spec = photos
            .iter()
            .find(|p| p["modality"] == "parallel_polarised")
            .unwrap();
        assert!(spec["read_for"].as_array().unwrap().is_empty(), "{spec}");
        // Nor pores from the diffuse (cross-polarised) one.
        let diffuse = photos
            .iter()
            .find(|p| p["modality"] == "cross_polarised")
            .unwrap();
        assert_eq!(
            diffuse["read_for"],
            serde_json::json!(["pigmentation", "acne_scars"]),
            "{diffuse}"
        );
        assert_eq!(r["pores"]["measured"], false);
        assert!(
            spec["error"].as_str().unwrap().contains("greyscale"),
            "{spec}"
        );
    }
    assert_eq!(
        recs.last().unwrap()["device_profile"]["name"],
        "BioSkin rig export"
    );

    // A booth whose parallel-polarised exposure is a colour photo: pores
    // come from it, colour from the cross-polarised one, in one record.
    // (The same frame twice: a sitting's photos show the face in one place;
    // `a_photo_of_another_sitting_is_named_and_not_read`.)
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(shared("faces/obama.jpg"), dir.path().join("A_xpol.jpg")).unwrap();
    std::fs::copy(shared("faces/obama.jpg"), dir.path().join("A_ppol.jpg")).unwrap();
    let booth = dir.path().join("booth.toml");
    std::fs::write(
        &booth,
        "name = \"booth\"\n[[photo]]\npattern = \"*_ppol.jpg\"\nmodality = \"parallel\"\n[[photo]]\npattern = \"*_xpol.jpg\"\nmodality = \"cross\"\n",
    )
    .unwrap();
    let o = bin()
        .arg("analyze")
        .arg(dir.path())
        .arg("--device-profile")
        .arg(&booth)
        .output()
        .unwrap();
    expect_ok(&o);
    let recs = records(&o);
    let imgs = images(&recs);
    assert_eq!(imgs.len(), 1);
    let r = imgs[0];
    assert!(r["input"]["path"].as_str().unwrap().ends_with("A_xpol.jpg"));
    let read_for = |name: &str| {
        r["session"]["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with(name))
            .unwrap()["read_for"]
            .clone()
    };
    assert_eq!(read_for("A_ppol.jpg"), serde_json::json!(["pores"]));
    assert_eq!(
        read_for("A_xpol.jpg"),
        serde_json::json!(["pigmentation", "acne_scars"])
    );
    assert_eq!(r["pigmentation"]["measured"], true);
}

/// Centre and radius (pixels) of a disc in the middle of the right cheek.
fn right_cheek_disc(photo: &Path) -> (f64, f64, f64) {
    let first = one_image(photo, &["--landmarks"]);
    let lm = first["face"]["landmarks_px"].as_array().unwrap();
    let cheek: Vec<(f64, f64)> = [
        117, 118, 119, 120, 121, 128, 188, 174, 236, 134, 131, 49, 102, 64, 98, 147, 123, 116, 192,
        213,
    ]
    .iter()
    .map(|&i| (lm[i][0].as_f64().unwrap(), lm[i][1].as_f64().unwrap()))
    .collect();
    let (cx, cy) = (
        cheek.iter().map(|p| p.0).sum::<f64>() / cheek.len() as f64,
        cheek.iter().map(|p| p.1).sum::<f64>() / cheek.len() as f64,
    );
    let r = 0.45
        * cheek
            .iter()
            .map(|p| (p.0 - cx).hypot(p.1 - cy))
            .fold(0.0, f64::max);
    (cx, cy, r)
}

#[test]
fn a_zone_blown_out_by_glare_is_left_out_while_the_face_is_measured() {
    // Glare painted over the middle of the right cheek: the face as a whole
    // stays under the clipping limit, the cheek does not.
    let photo = shared("distance/15cm.jpg");
    let (cx, cy, r) = right_cheek_disc(&photo);
    let mut img = image::open(&photo).unwrap().to_rgb8();
    for (x, y, p) in img.enumerate_pixels_mut() {
        if (f64::from(x) - cx).hypot(f64::from(y) - cy) < r {
            *p = image::Rgb([255, 255, 255]);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let glare = dir.path().join("glare.png");
    img.save(&glare).unwrap();
    let rec = one_image(&glare, &[]);
    let q = &rec["quality"];
    // A zone's entry in a list of per-zone objects.
    let in_zones = |list: &Value, name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone"] == name)
            .unwrap()
            .clone()
    };
    let zone = |name: &str| in_zones(&q["zones"], name);
    assert!(
        zone("right_cheek")["reason"]
            .as_str()
            .unwrap()
            .contains("blown out"),
        "{q}"
    );
    assert!(zone("left_cheek")["reason"].is_null());
    assert!(
        q["skin"]["highlight_clipped_fraction"].as_f64().unwrap() < 0.15,
        "{}",
        q["skin"]
    );
    assert_eq!(rec["pigmentation"]["measured"], true);
    let pig = |name: &str| in_zones(&rec["pigmentation"]["zones"], name);
    assert!(pig("right_cheek")["metrics"].is_null());
    assert!(pig("right_cheek")["reason"]
        .as_str()
        .unwrap()
        .contains("blown out"));
    assert!(!pig("left_cheek")["metrics"].is_null());
}

#[test]
fn a_device_profiles_colour_correction_undoes_its_booths_cast() {
    // A booth whose light casts warm: red × 1.12, blue × 0.85 in linear
    // light. Its profile carries the inverse, as a chart would measure it.
    let dir = tempfile::tempdir().unwrap();
    let original = image::open(shared("faces/obama.jpg")).unwrap().to_rgb8();
    let cast = dermascore::measure::colour::relight(&original, [1.12, 1.0, 0.85]);
    let photo = dir.path().join("A_xpol.png");
    cast.save(&photo).unwrap();
    let ita = |rec: &Value| rec["pigmentation"]["colour"]["ita_deg"].as_f64().unwrap();
    let reference = ita(&one_image(&shared("faces/obama.jpg"), &[]));
    let uncorrected = ita(&one_image(&photo, &[]));
    let profile = dir.path().join("booth.toml");
    std::fs::write(
        &profile,
        "name = \"warm booth\"\ncolour_matrix = [[0.892857, 0, 0], [0, 1, 0], [0, 0, 1.176471]]\n[[photo]]\npattern = \"*_xpol.png\"\nmodality = \"cross\"\n",
    )
    .unwrap();
    let corrected = one_image(&photo, &["--device-profile", profile.to_str().unwrap()]);
    assert_eq!(corrected["session"]["colour_corrected"], true);
    assert_eq!(corrected["pigmentation"]["colour_calibrated"], true);
    assert_eq!(
        one_image(&photo, &[])["pigmentation"]["colour_calibrated"],
        false
    );
    let fixed = ita(&corrected);
    assert!(
        (uncorrected - reference).abs() > 3.0,
        "the cast moves ITA: {uncorrected} vs {reference}"
    );
    assert!(
        (fixed - reference).abs() < 1.5,
        "corrected {fixed} vs {reference}"
    );
    // A matrix that would collapse colours is refused.
    std::fs::write(
        &profile,
        "name = \"x\"\ncolour_matrix = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]\n",
    )
    .unwrap();
    let o = run(&["--device-profile", profile.to_str().unwrap()], &[&photo]);
    assert_eq!(o.status.code(), Some(2));
}

/// An unclipped sheen (bright, colourless, no channel at the sensor's
/// limit) over a zone leaves the zone out as glare; real shiny foreheads
/// (tones/042, flash on oily skin) are found, a matte face is not.
/// `tones/`: Face Research Lab London Set, DeBruine & Jones (2017), CC BY
/// 4.0, https://doi.org/10.6084/m9.figshare.5047666.v5.
#[test]
fn a_zone_under_an_unclipped_sheen_is_left_out_as_glare() {
    let photo = shared("distance/15cm.jpg");
    let (cx, cy, r) = right_cheek_disc(&photo);
    let mut img = image::open(&photo).unwrap().to_rgb8();
    for (x, y, p) in img.enumerate_pixels_mut() {
        // A sheen on a small part of the cheek, as on real skin.
        let d = (f64::from(x) - cx).hypot(f64::from(y) - cy) / (0.5 * r);
        if d < 1.0 {
            // Mostly the light's colour, a little of the skin's, under 250.
            let a = 0.85 * (1.0 - d * d).sqrt().min(1.0);
            for (c, light) in p.0.iter_mut().zip([238.0, 238.0, 236.0]) {
                *c = (a * light + (1.0 - a) * f64::from(*c)).round().min(245.0) as u8;
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sheen = dir.path().join("sheen.png");
    img.save(&sheen).unwrap();
    let rec = one_image(&sheen, &[]);
    let zone = |rec: &Value, name: &str| {
        rec["quality"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone"] == name)
            .unwrap()
            .clone()
    };
    let cheek = zone(&rec, "right_cheek");
    assert!(
        cheek["highlight_clipped_fraction"].as_f64().unwrap() < 0.02,
        "{cheek}"
    );
    assert!(
        cheek["reason"]
            .as_str()
            .unwrap_or("")
            .contains("specular glare"),
        "{cheek}"
    );
    assert!(finding_codes(&rec).contains(&"zone_glare".to_string()));
    assert!(zone(&rec, "left_cheek")["reason"].is_null());
    // The same photo untouched: no glare anywhere.
    let plain = one_image(&photo, &[]);
    assert!(!finding_codes(&plain).contains(&"zone_glare".to_string()));
    assert!(
        zone(&plain, "right_cheek")["glare_fraction"]
            .as_f64()
            .unwrap()
            < 0.05
    );
    // A real shiny forehead.
    let shiny = one_image(&shared("tones/042_03.jpg"), &[]);
    let forehead = zone(&shiny, "forehead");
    assert!(
        forehead["reason"]
            .as_str()
            .unwrap_or("")
            .contains("specular glare"),
        "{forehead}"
    );
    assert!(zone(&shiny, "left_cheek")["reason"].is_null());
}

/// A little-endian grey TIFF of 32-bit float samples (what a scientific
/// camera or a depth export writes), built by hand: `w` × `h`, zeros.
fn float_tiff(w: u16, h: u16) -> Vec<u8> {
    let entries: [(u16, u16, u32); 9] = [
        (256, 3, w.into()),                        // width
        (257, 3, h.into()),                        // height
        (258, 3, 32),                              // bits per sample
        (259, 3, 1),                               // no compression
        (262, 3, 1),                               // black is zero
        (273, 4, 8 + 2 + 9 * 12 + 4),              // strip offset: after the IFD
        (277, 3, 1),                               // one sample per pixel
        (279, 4, u32::from(w) * u32::from(h) * 4), // strip bytes
        (339, 3, 3),                               // samples are IEEE floats
    ];
    let mut t = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    t.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        t.extend(tag.to_le_bytes());
        t.extend(kind.to_le_bytes());
        t.extend(1u32.to_le_bytes());
        t.extend(value.to_le_bytes());
    }
    t.extend(0u32.to_le_bytes());
    t.resize(t.len() + usize::from(w) * usize::from(h) * 4, 0);
    t
}

/// Analyses booth sittings: `files` (name in the folder, shared photo) under
/// a profile whose lights are told by the names' endings (`_xpol`, `_ppol`,
/// `_uv`); the records, one per sitting.
fn sittings(files: &[(&str, &str)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    for (name, photo) in files {
        std::fs::copy(shared(photo), dir.path().join(name)).unwrap();
    }
    let profile = dir.path().join("booth.toml");
    let mut toml = String::from("name = \"test booth\"\n");
    for (ending, light) in [
        ("xpol", "cross_polarised"),
        ("ppol", "parallel_polarised"),
        ("uv", "uv"),
    ] {
        toml += &format!("[[photo]]\npattern = \"*_{ending}.jpg\"\nmodality = \"{light}\"\n");
    }
    std::fs::write(&profile, toml).unwrap();
    let o = run(
        &["--device-profile", profile.to_str().unwrap()],
        &[dir.path()],
    );
    expect_ok(&o);
    images(&records(&o)).into_iter().cloned().collect()
}

/// A booth sitting's photos show one face in one place: a photo of another
/// person (or day) saved under the sitting's name is named, nothing is
/// read from it and it gives no scale; a true sitting gets no finding.
#[test]
fn a_photo_of_another_sitting_is_named_and_not_read() {
    let recs = sittings(&[
        ("P1_xpol.jpg", "faces/obama.jpg"),
        ("P1_ppol.jpg", "faces/biden.jpg"),
        ("P2_xpol.jpg", "faces/obama.jpg"),
        ("P2_ppol.jpg", "faces/obama.jpg"),
    ]);
    assert_eq!(recs.len(), 2, "one record per sitting");
    let mismatch = |r: &Value| finding_codes(r).iter().any(|c| c == "sitting_mismatch");
    let (p1, p2) = (&recs[0], &recs[1]);
    assert!(mismatch(p1), "{}", p1["quality"]["findings"]);
    assert!(!mismatch(p2), "{}", p2["quality"]["findings"]);
    let ppol = p1["session"]["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"].as_str().unwrap().ends_with("P1_ppol.jpg"))
        .unwrap();
    assert!(
        ppol["error"].as_str().unwrap().contains("not one sitting"),
        "{ppol}"
    );
    assert!(ppol["read_for"].as_array().unwrap().is_empty(), "{ppol}");
    assert!(
        !p1["scale"]["reason"]
            .as_str()
            .unwrap()
            .contains("P1_ppol.jpg 1."),
        "no scale from it: {}",
        p1["scale"]
    );
}

/// A sitting without a cross-polarised (or standard) photo reads the skin's
/// colour from the parallel-polarised one, and says so; a sitting with one
/// does not.
#[test]
fn colour_read_from_a_parallel_polarised_photo_is_said() {
    let recs = sittings(&[
        ("P1_ppol.jpg", "faces/obama.jpg"),
        ("P1_uv.jpg", "faces/obama.jpg"),
        ("P2_xpol.jpg", "faces/obama.jpg"),
        ("P2_ppol.jpg", "faces/obama.jpg"),
    ]);
    assert_eq!(recs.len(), 2, "one record per sitting");
    let said = |r: &Value| {
        r["quality"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "colour_from_parallel_polarised")
            .map(|f| f["message"].as_str().unwrap().to_string())
    };
    let message = said(&recs[0]).unwrap_or_else(|| panic!("{}", recs[0]["quality"]["findings"]));
    assert!(message.contains("P1_ppol.jpg"), "{message}");
    assert_eq!(said(&recs[1]), None);
}

/// Pores are not read from a cross-polarised photo (the polariser removes
/// the surface reflection that shows them): a sitting with only that light
/// says why; a sitting with a parallel-polarised photo reads them there.
#[test]
fn pores_are_not_read_from_a_cross_polarised_photo() {
    let recs = sittings(&[
        ("P1_xpol.jpg", "faces/obama.jpg"),
        ("P2_xpol.jpg", "faces/obama.jpg"),
        ("P2_ppol.jpg", "faces/obama.jpg"),
    ]);
    assert_eq!(recs.len(), 2, "one record per sitting");
    let reason = |r: &Value| {
        r["pores"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (alone, with_ppol) = (reason(&recs[0]), reason(&recs[1]));
    assert!(alone.contains("cross-polarised"), "{alone}");
    assert!(!with_ppol.contains("cross-polarised"), "{with_ppol}");
    assert_eq!(recs[0]["pores"]["measured"], false);
}

/// A manifest's rows of one patient, visit and view under different
/// declared lights are one booth sitting: one record, colour from the
/// cross-polarised photo, pores from the parallel-polarised one, nothing
/// from the UV one. Two photos under the same light stay two records, with
/// a note saying why.
#[test]
fn a_manifests_exposures_of_one_visit_are_one_sitting() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["A_x.jpg", "A_p.jpg", "A_u.jpg", "B_1.jpg", "B_2.jpg"] {
        std::fs::copy(shared("faces/obama.jpg"), dir.path().join(name)).unwrap();
    }
    let manifest = dir.path().join("m.csv");
    std::fs::write(
        &manifest,
        "path,patient_id,visit_date,view,modality\n\
         A_x.jpg,P1,2026-01-01,front,cross_polarised\n\
         A_p.jpg,P1,2026-01-01,front,parallel_polarised\n\
         A_u.jpg,P1,2026-01-01,front,uv\n\
         B_1.jpg,JaneDoe-4711,2026-01-01,front,cross_polarised\n\
         B_2.jpg,JaneDoe-4711,2026-01-01,front,cross_polarised\n",
    )
    .unwrap();
    let o = run(&["--manifest", manifest.to_str().unwrap()], &[]);
    expect_ok(&o);
    let recs: Vec<Value> = images(&records(&o)).into_iter().cloned().collect();
    assert_eq!(recs.len(), 3, "one sitting and two repeat captures");
    let sitting = recs
        .iter()
        .find(|r| r["subject"]["patient_id"] == "P1")
        .unwrap();
    assert!(sitting["input"]["path"]
        .as_str()
        .unwrap()
        .ends_with("A_x.jpg"));
    let read_for = |name: &str| {
        sitting["session"]["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with(name))
            .unwrap()["read_for"]
            .clone()
    };
    assert_eq!(
        read_for("A_x.jpg"),
        serde_json::json!(["pigmentation", "acne_scars"])
    );
    assert_eq!(read_for("A_p.jpg"), serde_json::json!(["pores"]));
    assert_eq!(read_for("A_u.jpg"), serde_json::json!([]));
    let p2: Vec<&Value> = recs
        .iter()
        .filter(|r| r["subject"]["patient_id"] == "JaneDoe-4711")
        .collect();
    assert_eq!(p2.len(), 2);
    assert!(p2.iter().all(|r| r["session"].is_null()));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("the same light"), "{stderr}");
    // Pseudonymised, the note names the patient by pseudonym.
    let key = dir.path().join("key");
    std::fs::write(&key, "a long enough secret key for the test\n").unwrap();
    let o = run(
        &[
            "--manifest",
            manifest.to_str().unwrap(),
            "--pseudonymise",
            key.to_str().unwrap(),
        ],
        &[],
    );
    expect_ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("the same light") && !stderr.contains("JaneDoe"),
        "{stderr}"
    );
}

/// A zone mostly outside the photo does not stand for the zone, and
/// another visit framed otherwise would measure another part: it is left
/// out with its reason. (The partial face's right cheek, 40 % cut off, is
/// still measured: docs/harm-on-real-skin.md.)
#[test]
fn a_zone_mostly_outside_the_photo_is_left_out() {
    let cheek_outside = |rec: &Value| {
        rec["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["name"] == "left_cheek")
            .unwrap()["outside_frame"]
            .as_f64()
            .unwrap()
    };
    let o = run(&[], &[&shared("faces/obama.jpg")]);
    let rec = &records(&o)[0];
    assert_eq!(cheek_outside(rec), 0.0);
    // Cut the frame through the face's left cheek (the subject's left is
    // the image's right).
    let dir = tempfile::tempdir().unwrap();
    let img = image::open(shared("faces/obama.jpg")).unwrap().to_rgb8();
    let bx = &rec["face"]["box_px"];
    let right = bx["x"].as_f64().unwrap() + 0.7 * bx["width"].as_f64().unwrap();
    let cut = image::imageops::crop_imm(&img, 0, 0, right as u32, img.height()).to_image();
    let photo = dir.path().join("cut.jpg");
    cut.save(&photo).unwrap();
    let o = run(&[], &[&photo]);
    expect_ok(&o);
    let rec = &records(&o)[0];
    let outside = cheek_outside(rec);
    assert!(
        outside > 0.5,
        "the crop must cut most of the cheek: {outside}"
    );
    let codes: Vec<&str> = rec["quality"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"zone_cut_by_frame"), "{codes:?}");
    let zone = rec["pigmentation"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "left_cheek")
        .unwrap();
    assert!(zone["metrics"].is_null(), "{zone}");
    assert!(
        zone["reason"]
            .as_str()
            .unwrap()
            .contains("outside the photo"),
        "{zone}"
    );
}

/// A cut-out: the photo's right part made transparent by its alpha
/// channel, with `under` as the colour kept beneath (`None`: the photo's).
fn cut_out(photo: &Path, from_x: u32, under: Option<[u8; 3]>, to: &Path) {
    let img = image::open(photo).unwrap().to_rgb8();
    let out = image::RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        match (x >= from_x, under) {
            (false, _) => image::Rgba([p[0], p[1], p[2], 255]),
            (true, None) => image::Rgba([p[0], p[1], p[2], 0]),
            (true, Some(c)) => image::Rgba([c[0], c[1], c[2], 0]),
        }
    });
    out.save(to).unwrap();
}

#[test]
fn a_cut_outs_transparent_background_lies_outside_the_photo_whatever_colour_it_hides() {
    let face = shared("faces/obama.jpg");
    let rec = one_image(&face, &[]);
    assert!(
        rec["input"]["transparent_pct"].is_null(),
        "{}",
        rec["input"]
    );
    let bx = &rec["face"]["box_px"];
    let from_x = (bx["x"].as_f64().unwrap() + 0.7 * bx["width"].as_f64().unwrap()) as u32;
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept.png");
    let red = dir.path().join("red.png");
    cut_out(&face, from_x, None, &kept);
    cut_out(&face, from_x, Some([255, 0, 0]), &red);
    let o = run(&[], &[&kept, &red]);
    expect_ok(&o);
    let recs = records(&o);
    let (a, b) = (&recs[0], &recs[1]);
    let width = f64::from(image::image_dimensions(&face).unwrap().0);
    let want = 100.0 * (width - f64::from(from_x)) / width;
    let pct = a["input"]["transparent_pct"].as_f64().unwrap();
    assert!((pct - want).abs() < 0.1, "{pct} vs {want}");
    // Transparent pixels are outside the photo: the cheek they cover is
    // left out, as a frame's edge would leave it out, and the finding says
    // why.
    let cheek = a["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == "left_cheek")
        .unwrap();
    assert!(cheek["outside_frame"].as_f64().unwrap() > 0.5, "{cheek}");
    assert!(finding_codes(a).contains(&"zone_cut_by_frame".to_string()));
    let messages = a["quality"]["findings"].to_string();
    assert!(messages.contains("transparent background"), "{messages}");
    // Whatever colour the file keeps under its transparency, nothing read
    // changes.
    for key in ["face", "zones", "quality", "pigmentation", "scale"] {
        assert_eq!(a[key], b[key], "{key}");
    }
}
