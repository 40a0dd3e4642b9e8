//! The JSON Schema of every output, generated from the Rust types; the
//! committed copies in `schema/` are tested to be current.

use schemars::schema_for;

/// The outputs that have a schema, by the name their file is committed
/// under (`schema/NAME.schema.json`).
pub const OUTPUTS: [&str; 5] = ["results", "plan", "compare", "cohort", "mdc"];

/// The schema of output `name` (one of [`OUTPUTS`]): `results` for
/// `analyze`'s records, `plan` for `plan`'s lines, `compare` for
/// `compare.json`, `cohort` for `cohort.json`, `mdc` for `repeatability`'s
/// table.
pub fn of(name: &str) -> Option<serde_json::Value> {
    let schema = match name {
        "results" => return Some(crate::report::json_schema()),
        "plan" => schema_for!(crate::plan::PlanLine),
        "compare" => schema_for!(crate::compare::CompareDocument),
        "cohort" => schema_for!(crate::cohort::CohortDocument<'static>),
        "mdc" => schema_for!(crate::compare::repeatability::MdcTable),
        _ => return None,
    };
    serde_json::to_value(schema).ok()
}
