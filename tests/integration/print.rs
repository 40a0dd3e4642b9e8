//! The reports in a real browser: headless Chromium renders them and prints
//! them to PDF on A4 and on Letter paper; the PDFs are read back (lopdf) to
//! count the pages and to check that no figure, card or table is cut by a
//! page break.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Outside
//! CI a missing browser skips these checks with a printed notice; in CI
//! (`CI` set) it is a failure.

use lopdf::{Document, Object, ObjectId};
use std::collections::BTreeSet;
use std::path::Path;

/// The browser, or `None` (with a notice) outside CI when it is missing.
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must render the reports: headless Chromium is missing (apt-get install chromium; .ci/run installs it)"
        );
        eprintln!(
            "notice: headless Chromium not found, the report rendering and printing checks are skipped (apt-get install chromium; CI requires it)"
        );
    }
    found
}

/// Runs headless Chromium on `html` with `what` (e.g. `--print-to-pdf=…`).
pub fn chromium_run(browser: &str, html: &Path, profile: &Path, what: &[String]) {
    let o = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(what)
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Elements that must never be cut by a page break, by their opening tag,
/// and whether markers go inside them (blocks and flex items) or just
/// outside (tables, whose content model has no room for an image, and
/// SVG).
const UNITS: [(&str, bool); 5] = [
    ("<div class=\"card\"", true),
    ("<div class=\"pair\"", true),
    ("<figure", true),
    ("<table", false),
    ("<svg", false),
];

/// Marker widths start here, above any real image's width in a report.
const MARKER_WIDTH0: i64 = 5000;

fn unit_starts(html: &str) -> Vec<(usize, &'static str, bool)> {
    let mut starts: Vec<(usize, &str, bool)> = UNITS
        .iter()
        .flat_map(|&(u, inside)| html.match_indices(u).map(move |(i, _)| (i, u, inside)))
        .collect();
    starts.sort();
    starts
}

/// A copy of `html` with a marker image at the top and at the foot of
/// every unit: a 1-px-high PNG whose width (unique per unit and end) says
/// which unit and which end it marks. A unit is whole on paper when both
/// its markers land on the same page. The markers keep to their unit
/// (`break-after`/`break-before: avoid`), so a unit moved whole to the next
/// page takes them along.
fn with_markers(html: &str) -> (String, usize) {
    let starts = unit_starts(html);
    let mut inserts = Vec::new();
    for (k, &(start, unit, inside)) in starts.iter().enumerate() {
        let name = &unit[1..unit.find(' ').unwrap_or(unit.len())];
        let open_end = start + html[start..].find('>').unwrap() + 1;
        let (open, close) = (format!("<{name}"), format!("</{name}>"));
        let mut depth = 1;
        let mut at = open_end;
        let close_at = loop {
            let next_open = html[at..].find(&open).map(|i| i + at);
            let next_close = at + html[at..].find(&close).expect("unclosed unit");
            match next_open {
                Some(o) if o < next_close => {
                    depth += 1;
                    at = o + open.len();
                }
                _ => {
                    depth -= 1;
                    if depth == 0 {
                        break next_close;
                    }
                    at = next_close + close.len();
                }
            }
        };
        let (top_at, foot_at) = if inside {
            (open_end, close_at)
        } else {
            (start, close_at + close.len())
        };
        inserts.push((top_at, marker_width(k, false), "break-after:avoid"));
        inserts.push((foot_at, marker_width(k, true), "break-before:avoid"));
    }
    inserts.sort();
    let mut out = String::with_capacity(html.len() + inserts.len() * 200);
    let mut last = 0;
    for (at, width, keep) in inserts {
        out.push_str(&html[last..at]);
        out.push_str(&format!(
            "<img alt=\"\" style=\"display:block;width:1px;height:1px;margin:0;border:0;{keep}\" src=\"data:image/png;base64,{}\">",
            marker_png(width)
        ));
        last = at;
    }
    out.push_str(&html[last..]);
    (out, starts.len())
}

fn marker_width(unit: usize, foot: bool) -> i64 {
    MARKER_WIDTH0 + 2 * unit as i64 + i64::from(foot)
}

fn marker_png(width: i64) -> String {
    use base64::Engine;
    let img = image::RgbImage::from_pixel(width as u32, 1, image::Rgb([250, 250, 250]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(png)
}

/// Per page, the widths of the images painted on it (following form
/// XObjects).
fn image_widths_per_page(doc: &Document) -> Vec<BTreeSet<i64>> {
    fn walk(
        doc: &Document,
        content: &[u8],
        resources: Option<&lopdf::Dictionary>,
        seen: &mut BTreeSet<i64>,
        depth: u32,
    ) {
        let Ok(ops) = lopdf::content::Content::decode(content) else {
            return;
        };
        let xobjects = resources
            .and_then(|r| r.get(b"XObject").ok())
            .and_then(|o| resolve(doc, o).as_dict().ok());
        for op in ops.operations.iter().filter(|o| o.operator == "Do") {
            let (Some(xo), Some(Ok(name))) = (xobjects, op.operands.first().map(Object::as_name))
            else {
                continue;
            };
            let Ok(obj) = xo.get(name) else { continue };
            let Ok(stream) = resolve(doc, obj).as_stream() else {
                continue;
            };
            match stream.dict.get(b"Subtype").and_then(Object::as_name) {
                Ok(b"Image") => {
                    if let Ok(w) = stream.dict.get(b"Width").and_then(Object::as_i64) {
                        seen.insert(w);
                    }
                }
                Ok(b"Form") if depth < 8 => {
                    let inner = stream
                        .dict
                        .get(b"Resources")
                        .ok()
                        .and_then(|r| resolve(doc, r).as_dict().ok());
                    let body = stream
                        .decompressed_content()
                        .unwrap_or_else(|_| stream.content.clone());
                    walk(doc, &body, inner, seen, depth + 1);
                }
                _ => {}
            }
        }
    }
    doc.get_pages()
        .values()
        .map(|&page| {
            let mut seen = BTreeSet::new();
            let content = doc.get_page_content(page).unwrap();
            let res = page_resources(doc, page);
            walk(doc, &content, res, &mut seen, 0);
            seen
        })
        .collect()
}

fn resolve<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    match o {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(o),
        _ => o,
    }
}

fn page_resources(doc: &Document, page: ObjectId) -> Option<&lopdf::Dictionary> {
    let dict = doc.get_dictionary(page).ok()?;
    resolve(doc, dict.get(b"Resources").ok()?).as_dict().ok()
}

/// What printing `html` on one paper size gave.
pub struct Printed {
    pub pages: usize,
    /// Units cut by a page break, by their opening tag.
    pub split: Vec<String>,
    /// Units whose markers were not found at all (not printed).
    pub missing: usize,
}

/// Prints `html` on `paper` (`A4` or `letter`) with markers, and reads the
/// PDF back.
pub fn print(browser: &str, html: &Path, paper: &str, work: &Path) -> Printed {
    let text = std::fs::read_to_string(html).unwrap();
    let (marked, units) =
        with_markers(&text.replacen("<style>", &format!("<style>@page{{size:{paper}}}"), 1));
    let copy = html.with_extension(format!("{paper}.html"));
    std::fs::write(&copy, &marked).unwrap();
    let pdf = work.join(format!("{paper}.pdf"));
    chromium_run(
        browser,
        &copy,
        &work.join("profile"),
        &[format!("--print-to-pdf={}", pdf.display())],
    );
    let doc = Document::load(&pdf).unwrap();
    let widths = image_widths_per_page(&doc);
    let page_of = |w: i64| -> BTreeSet<usize> {
        widths
            .iter()
            .enumerate()
            .filter(|(_, s)| s.contains(&w))
            .map(|(i, _)| i)
            .collect()
    };
    let starts = unit_starts(&text);
    let mut split = Vec::new();
    let mut missing = 0;
    for (k, &(at, unit, _)) in starts.iter().enumerate().take(units) {
        let (top, foot) = (
            page_of(marker_width(k, false)),
            page_of(marker_width(k, true)),
        );
        if top.is_empty() || foot.is_empty() {
            missing += 1;
        } else if top != foot {
            split.push(format!("{unit}… (byte {at}) on pages {top:?} to {foot:?}"));
        }
    }
    Printed {
        pages: widths.len(),
        split,
        missing,
    }
}

/// Prints `html` on A4 and on Letter: at most `max_pages` pages each, every
/// unit printed and none cut by a page break.
pub fn assert_prints_whole(browser: &str, html: &Path, max_pages: usize) {
    let work = tempfile::tempdir().unwrap();
    for paper in ["A4", "letter"] {
        let p = print(browser, html, paper, work.path());
        println!(
            "{} on {paper}: {} pages, {} units cut",
            html.display(),
            p.pages,
            p.split.len()
        );
        assert!(
            (1..=max_pages).contains(&p.pages),
            "{} prints on {} {paper} pages (at most {max_pages})",
            html.display(),
            p.pages
        );
        assert_eq!(p.missing, 0, "units missing from the {paper} print");
        assert!(
            p.split.is_empty(),
            "cut by a page break on {paper}: {:?}",
            p.split
        );
    }
}

/// The check itself can fail: cards that the page lets break are found cut,
/// and the same cards kept whole are not.
#[test]
fn the_print_check_finds_a_card_cut_by_a_page_break() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = |keep: &str| {
        format!(
            "<!doctype html><html><head><style>.card{{height:400px;border:1px solid #000;margin:8px}}{keep}</style></head><body>{}</body></html>",
            (0..6)
                .map(|i| format!("<div class=\"card\"><p>card {i}</p><svg width=\"100\" height=\"50\"></svg></div>"))
                .collect::<String>()
        )
    };
    let loose = dir.path().join("loose.html");
    std::fs::write(&loose, page("")).unwrap();
    let p = print(browser, &loose, "A4", dir.path());
    assert_eq!(p.missing, 0);
    assert!(
        !p.split.is_empty(),
        "6 cards of 400 px on A4: some must be cut"
    );
    let kept = dir.path().join("kept.html");
    std::fs::write(&kept, page(".card{break-inside:avoid}")).unwrap();
    let p = print(browser, &kept, "A4", dir.path());
    assert!(p.pages >= 2 && p.split.is_empty(), "{:?}", p.split);
}
