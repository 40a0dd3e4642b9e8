//! Times the image crate's JPEG decoder (zune-jpeg) on one file: the
//! median and minimum of 15 decodes to RGB, in ms. `benches/jpeg_decoders.sh`
//! runs it beside libjpeg-turbo on the same photo (issue #24's evaluation).

use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: jpeg_decode_time FILE.jpg");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let mut ms = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        match image::load_from_memory(&bytes) {
            Ok(img) => {
                std::hint::black_box(img.into_rgb8());
            }
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "image crate (zune-jpeg): median {:.1} ms, min {:.1} ms",
        ms[7], ms[0]
    );
}
