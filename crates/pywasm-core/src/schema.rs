//! The JSON schema of `pyproject.toml`'s `[tool.pywasm]` table, generated from the Rust types
//! that read it ([`crate::manifest::PywasmConfig`]) and checked in as
//! `crates/pywasm-core/schema/pyproject.schema.json` for editors (taplo, Even Better TOML). A
//! test fails when the two drift apart.

use serde_json::{Map, Value, json};

use crate::manifest::PywasmConfig;

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
}
