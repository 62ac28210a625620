//! The JSON schema of `pyproject.toml`'s `[tool.pywasm]` table, generated from the Rust types
//! that read it ([`crate::settings::PywasmConfig`]) and checked in as
//! `crates/pywasm-core/schema/pyproject.schema.json` for editors (taplo, Even Better TOML). A
//! test fails when the two drift apart.

use serde_json::{Map, Value, json};

use crate::settings::{PywasmConfig, Settings};

/// Where the schema is checked in, relative to this crate.
pub const CHECKED_IN: &str = "schema/pyproject.schema.json";

/// A draft-07 schema for a whole `pyproject.toml` that checks `[tool.pywasm]` and lets every
/// other table through, so that it can be associated with the file itself.
pub fn pyproject_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut tool = generator.into_root_schema_for::<PywasmConfig>().to_value();
    let mut definitions = tool
        .as_object_mut()
        .and_then(|o| o.remove("definitions"))
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    if let Some(object) = tool.as_object_mut() {
        object.remove("$schema");
    }
    add_defaults(&mut tool, &mut definitions);
    definitions.insert("ToolPywasm".into(), tool);
    let definitions: Map<String, Value> = definitions.into_iter().collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": "Generated from pywasm's Rust types; do not edit. The test schema::tests::the_checked_in_schema_is_current regenerates it with PYWASM_UPDATE_SCHEMA=1.",
        "title": "pyproject.toml with [tool.pywasm]",
        "type": "object",
        "properties": {
            "tool": {
                "type": "object",
                "properties": { "pywasm": { "$ref": "#/definitions/ToolPywasm" } }
            }
        },
        "definitions": definitions,
    })
}

/// Gives each key the default [`Settings::default`] has for it, the one place defaults live; a
/// table's keys (`wheel-limits`) get theirs in the table's definition.
fn add_defaults(tool: &mut Value, definitions: &mut Map<String, Value>) {
    let Ok(Value::Object(defaults)) = serde_json::to_value(Settings::default()) else {
        return;
    };
    let Some(properties) = tool.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, value) in defaults {
        let Some(Value::Object(property)) = properties.get_mut(&key) else {
            continue;
        };
        if let (Value::Object(inner), Some(name)) = (&value, definition_of(property))
            && let Some(Value::Object(table)) = definitions
                .get_mut(&name)
                .and_then(|d| d.get_mut("properties"))
        {
            for (inner_key, inner_value) in inner {
                if let Some(Value::Object(p)) = table.get_mut(inner_key) {
                    p.insert("default".into(), inner_value.clone());
                }
            }
        }
        property.insert("default".into(), value);
    }
}

/// The definition a property refers to, directly or as one branch of `anyOf`.
fn definition_of(property: &Map<String, Value>) -> Option<String> {
    let direct = property.get("$ref").into_iter();
    let branches = property
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let refs = direct.chain(branches.filter_map(|b| b.get("$ref")));
    refs.filter_map(Value::as_str)
        .find_map(|r| r.strip_prefix("#/definitions/"))
        .map(str::to_owned)
}

/// The schema as it is checked in: pretty JSON with a final newline.
pub fn pyproject_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&pyproject_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKED_IN);
        let expected = pyproject_schema_text();
        if std::env::var_os("PYWASM_UPDATE_SCHEMA").is_some() {
            fs_err::write(&path, &expected).unwrap();
        }
        let found = fs_err::read_to_string(&path).unwrap_or_default();
        assert!(
            found == expected,
            "`{}` is not what the Rust types generate; run `PYWASM_UPDATE_SCHEMA=1 cargo test -p pywasm-core schema` and commit it",
            path.display()
        );
    }

    #[test]
    fn the_schema_knows_every_key_and_rejects_others() {
        let schema = pyproject_schema();
        let tool = &schema["definitions"]["ToolPywasm"];
        assert_eq!(tool["additionalProperties"], false);
        for key in [
            "entry",
            "preinit",
            "preinit-imports",
            "stdlib-sources",
            "optimize",
        ] {
            assert!(tool["properties"].get(key).is_some(), "{key} missing");
        }
    }

    /// The defaults the schema gives are the ones builds use, and the descriptions say the same.
    #[test]
    fn defaults_come_from_the_settings_and_the_docs_agree() {
        let schema = pyproject_schema();
        let properties = &schema["definitions"]["ToolPywasm"]["properties"];
        let Ok(Value::Object(defaults)) = serde_json::to_value(Settings::default()) else {
            panic!("settings serialise to an object");
        };
        assert!(defaults.len() >= 10, "{defaults:?}");
        let mut documented: Vec<(String, &Value, &Value)> = Vec::new();
        for (key, value) in &defaults {
            let property = &properties[key];
            assert_eq!(&property["default"], value, "{key}");
            match (value, property.as_object().and_then(definition_of)) {
                (Value::Object(inner), Some(name)) => {
                    let table = &schema["definitions"][&name]["properties"];
                    for (inner_key, inner_value) in inner {
                        let key = format!("{key}.{inner_key}");
                        documented.push((key, inner_value, &table[inner_key]));
                    }
                }
                _ => documented.push((key.clone(), value, property)),
            }
        }
        for (key, value, property) in documented {
            assert_eq!(&property["default"], value, "{key}");
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let description = property["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("Default: `{text}`"))
                    || description.contains(&format!("Default: `\"{text}\"`"))
                    || description.contains(&format!("`{text}` (the default")),
                "the description of `{key}` does not give its default `{text}`: {description}"
            );
        }
    }
}
