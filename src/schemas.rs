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
        "results" => {
            let mut value = crate::report::json_schema();
            close_objects(&mut value);
            require_present(&mut value);
            tie_error_to_status(&mut value);
            return Some(value);
        }
        "plan" => schema_for!(crate::plan::PlanLine),
        "compare" => schema_for!(crate::compare::CompareDocument),
        "cohort" => schema_for!(crate::cohort::CohortDocument<'static>),
        "mdc" => schema_for!(crate::compare::repeatability::MdcTable),
        _ => return None,
    };
    let mut value = serde_json::to_value(schema).ok()?;
    close_objects(&mut value);
    require_present(&mut value);
    Some(value)
}

/// The fields serde leaves out when they are empty
/// (`skip_serializing_if`), by the type that holds them. Every other field
/// is always written (`null` when it has no value).
const MAY_BE_ABSENT: [(&str, &[&str]); 4] = [
    ("FaceReport", &["landmarks_px", "landmarks_depth_px"]),
    ("ImageRecord", &["session", "plan"]),
    ("RunInfo", &["working_directory"]),
    ("SummaryRecord", &["device_profile"]),
];

/// Every property is `required` except those in [`MAY_BE_ABSENT`]: serde
/// writes each field, as `null` when it holds nothing, so an integrator's
/// generated types can say "present, maybe null" rather than "maybe
/// missing" (schemars leaves `Option` fields out of `required`). The demo's
/// outputs are validated against this in the test suite.
fn require_present(value: &mut serde_json::Value) {
    fn require(def: Option<&str>, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(props) = map.get("properties").and_then(|p| p.as_object()) {
                    let absent: &[&str] = MAY_BE_ABSENT
                        .iter()
                        .find(|(name, _)| Some(*name) == def)
                        .map_or(&[], |(_, fields)| fields);
                    let required: Vec<serde_json::Value> = props
                        .keys()
                        .filter(|k| !absent.contains(&k.as_str()))
                        .map(|k| k.as_str().into())
                        .collect();
                    map.insert("required".into(), required.into());
                }
                for (key, v) in map.iter_mut() {
                    if key == "$defs" {
                        if let Some(defs) = v.as_object_mut() {
                            for (name, d) in defs.iter_mut() {
                                require(Some(name), d);
                            }
                        }
                    } else if key != "properties" {
                        require(None, v);
                    } else if let Some(props) = v.as_object_mut() {
                        props.values_mut().for_each(|p| require(None, p));
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| require(None, v)),
            _ => {}
        }
    }
    let root = value
        .get("title")
        .and_then(|t| t.as_str())
        .map(str::to_string);
    require(root.as_deref(), value);
}

/// An image record's `error` is an object exactly when its `status` is
/// `error` (null otherwise): a record that says `ok` with an error, or
/// `error` without one, is refused by the schema, not only by convention.
fn tie_error_to_status(value: &mut serde_json::Value) {
    if let Some(record) = value
        .pointer_mut("/$defs/ImageRecord")
        .and_then(|r| r.as_object_mut())
    {
        record.insert(
            "if".into(),
            serde_json::json!({"properties": {"status": {"const": "error"}}, "required": ["status"]}),
        );
        record.insert(
            "then".into(),
            serde_json::json!({"properties": {"error": {"$ref": "#/$defs/ErrorInfo"}}, "required": ["error"]}),
        );
        record.insert(
            "else".into(),
            serde_json::json!({"properties": {"error": {"type": "null"}}}),
        );
    }
}

/// Every object with named properties admits no others, so that an
/// integrator's validator catches a misspelt or renamed field instead of
/// passing it silently (a new field is a schema change, SCHEMA_VERSION, as
/// a removed one is). Plain objects get `additionalProperties: false`. A
/// tagged enum's branch (`$ref` to a struct plus its tag in `properties`)
/// gets `unevaluatedProperties: false`, which sees through the `$ref`; the
/// struct it names is left open, or the tag would be refused there.
fn close_objects(value: &mut serde_json::Value) {
    let mut tagged = std::collections::BTreeSet::new();
    find_tagged(value, &mut tagged);
    close(value);
    if let Some(defs) = value.get_mut("$defs").and_then(|d| d.as_object_mut()) {
        for (name, def) in defs.iter_mut() {
            if tagged.contains(&format!("#/$defs/{name}")) {
                if let Some(map) = def.as_object_mut() {
                    map.remove("additionalProperties");
                }
            }
        }
    }
}

fn find_tagged(value: &serde_json::Value, tagged: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let (Some(r), true) = (
                map.get("$ref").and_then(|r| r.as_str()),
                map.contains_key("properties"),
            ) {
                tagged.insert(r.to_string());
            }
            map.values().for_each(|v| find_tagged(v, tagged));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| find_tagged(v, tagged)),
        _ => {}
    }
}

fn close(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let combined = ["$ref", "allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                if map.contains_key("$ref") {
                    map.insert("unevaluatedProperties".into(), false.into());
                } else if !combined {
                    map.insert("additionalProperties".into(), false.into());
                }
            }
            map.values_mut().for_each(close);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}
