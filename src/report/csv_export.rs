//! Spreadsheet exports: one row per image × zone.

use super::{ImageRecord, Status};

/// A text cell a spreadsheet will not run: ids, paths and names that begin
/// with `=`, `+`, `-`, `@`, a tab or a carriage return are formulas to Excel,
/// LibreOffice and Sheets (`=HYPERLINK(...)`, `+cmd|...`), so they get a
/// leading `'`, which shows the text as typed (OWASP's CSV-injection
/// advice). Numbers are written as numbers and never pass through here.
pub fn text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// Rows of image × zone with the zone's area and its pore and pigmentation figures.
pub fn zones_csv(records: &[ImageRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "input",
        "patient_id",
        "visit_date",
        "zone",
        "area_cm2",
        "pores_count",
        "pores_density_per_cm2",
        "pores_median_diameter_mm",
        "pores_coverage_pct",
        "pores_severity",
        "pigmented_pct",
        "pigmented_area_mm2",
        "pigmented_borderline_mm2",
        "pigmented_area_steady",
        "mean_delta_l",
        "pigmentation_severity",
        "ita_deg",
        "melanin_index",
        "haemoglobin_index",
    ])?;
    let f = |v: Option<f64>| v.map_or(String::new(), super::number_text);
    for r in records.iter().filter(|r| r.status == Status::Ok) {
        let subject = r.subject.clone().unwrap_or_default();
        for z in &r.zones {
            let pores = r
                .pores
                .as_ref()
                .and_then(|p| p.zones.iter().find(|x| x.zone == z.name))
                .and_then(|x| x.metrics.as_ref());
            let pig = r
                .pigmentation
                .as_ref()
                .and_then(|p| p.zones.iter().find(|x| x.zone == z.name));
            let pm = pig.and_then(|x| x.metrics.as_ref());
            let col = pig.and_then(|x| x.colour);
            w.write_record([
                text_cell(&r.input.path),
                text_cell(&subject.patient_id.clone().unwrap_or_default()),
                text_cell(&subject.visit_date.clone().unwrap_or_default()),
                z.name.as_str().to_string(),
                f(z.area_cm2.map(|a| a.get())),
                pores.map_or(String::new(), |p| p.count.to_string()),
                f(pores.map(|p| p.density_per_cm2)),
                f(pores.and_then(|p| p.median_diameter_mm)),
                f(pores.map(|p| p.coverage_pct)),
                f(pores.map(|p| p.severity.value)),
                f(pm.map(|p| p.pigmented_pct)),
                f(pm.map(|p| p.pigmented_area_mm2)),
                f(pm.map(|p| p.borderline_area_mm2)),
                pm.map_or(String::new(), |p| p.area_steady.to_string()),
                f(pm.and_then(|p| p.mean_delta_l)),
                f(pm.map(|p| p.severity.value)),
                f(col.map(|c| c.ita_deg)),
                f(col.map(|c| c.melanin_index)),
                f(col.map(|c| c.haemoglobin_index)),
            ])?;
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::text_cell;

    #[test]
    fn formulas_become_text_and_plain_text_is_untouched() {
        assert_eq!(
            text_cell("=HYPERLINK(\"http://x\",\"y\")"),
            "'=HYPERLINK(\"http://x\",\"y\")"
        );
        assert_eq!(text_cell("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("-2+3"), "'-2+3");
        assert_eq!(text_cell("P001"), "P001");
        assert_eq!(text_cell(""), "");
    }
}
