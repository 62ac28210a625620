//! Turns the linked module into the artifact that is published: checked (it must validate with
//! the WebAssembly features every WASI runtime has, export `_start`, and import nothing but WASI
//! preview1), optimised ([`optimize`]), stripped of debug information and names unless asked to
//! keep them, and optionally wrapped into a WASI component ([`component`]).

mod binaryen;
pub mod component;
pub mod optimize;
pub mod typed;

use anyhow::{Context, Result, bail};
use wasm_encoder::{Module, RawSection};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

use crate::diagnostic::Diagnostic;
use crate::module::library::Library;

/// WebAssembly 2.0 without SIMD: what wasmtime, wasmer, wazero and node 20 all run, and what
/// [`optimize`] lets binaryen use.
pub const PORTABLE_FEATURES: WasmFeatures = WasmFeatures::WASM2.difference(WasmFeatures::SIMD);

/// What the validator saw; reported in the build's status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleFacts {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

pub const WASI_PREVIEW1: &str = "wasi_snapshot_preview1";
/// The one import besides preview1's a module may have: the exit call with a status code that
/// component builds make (`templates/exit_code.c`), which wit-component resolves.
pub const EXIT_WITH_CODE: (&str, &str) = ("wasi:cli/exit@0.2.12", "exit-with-code");

/// Checks a module pywasm made: valid, portable WebAssembly; only WASI preview1 imports (plus a
/// library's host functions and a component's `exit-with-code`); the export a host starts it
/// with (`_start` for a command, `_initialize` for a library).
pub fn validate(bytes: &[u8], library: Option<&Library>) -> Result<ModuleFacts> {
    // One full validation when the module is fine (each takes a quarter of a second on hello,
    // and a build validates twice); the second, with every feature wasmparser knows, only tells
    // an invalid module from one that needs more than the portable features.
    if let Err(portable) = Validator::new_with_features(PORTABLE_FEATURES).validate_all(bytes) {
        Validator::new()
            .validate_all(bytes)
            .context("the linked module does not validate")?;
        return Err(Diagnostic::new(
            "the module uses a WebAssembly feature beyond 2.0 without SIMD, which not every WASI runtime has",
        )
        .note(portable.to_string())
        .help("build C and Rust code in the link without `-msimd128` and other post-2.0 target features")
        .into());
    }
    let mut facts = ModuleFacts {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import?;
                    facts
                        .imports
                        .push(format!("{}::{}", import.module, import.name));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    facts.exports.push(export?.name.to_string());
                }
            }
            _ => {}
        }
    }
    let foreign: Vec<&String> = facts
        .imports
        .iter()
        .filter(|i| {
            !i.starts_with(&format!("{WASI_PREVIEW1}::"))
                && **i != format!("{}::{}", EXIT_WITH_CODE.0, EXIT_WITH_CODE.1)
                && !library.is_some_and(|l| l.imports.iter().any(|h| is_host_import(i, h)))
        })
        .collect();
    if !foreign.is_empty() {
        bail!(
            Diagnostic::new(format!(
                "the module imports functions no WASI runtime provides: {}",
                foreign
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .help("a C library in the link is missing a definition")
        );
    }
    let start = if library.is_some() {
        "_initialize"
    } else {
        "_start"
    };
    if !facts.exports.iter().any(|e| e == start) {
        bail!("the linked module has no `{start}` export");
    }
    Ok(facts)
}

/// `module::name` of a host function, as configured or (in a component) as its WIT names.
fn is_host_import(import: &str, host: &crate::module::library::HostImport) -> bool {
    use crate::module::library::wit_name;
    *import == format!("{}::{}", host.module, host.name)
        || wit_name(&host.module)
            .zip(wit_name(&host.name))
            .is_some_and(|(module, name)| *import == format!("{module}::{name}"))
}

/// Whether a custom section is debug information or names, which `--debug` keeps.
fn is_debug_section(name: &str) -> bool {
    name == "name"
        || name == "producers"
        || name.starts_with(".debug_")
        || name == "sourceMappingURL"
}

/// The module without DWARF, the name section and `producers`: section by section, so everything
/// else (code, data, other custom sections) is kept byte for byte.
pub fn strip_debug(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut module = Module::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.context("the module cannot be read")?;
        if let Payload::CustomSection(reader) = &payload
            && is_debug_section(reader.name())
        {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            module.section(&RawSection {
                id,
                data: &bytes[range],
            });
        }
    }
    Ok(module.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal module in the binary format: `(module (import "env" "f" (func)) (func (export "_start")))`.
    fn module(import_module: &str) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        let mut imports = vec![1, import_module.len() as u8];
        imports.extend_from_slice(import_module.as_bytes());
        imports.extend_from_slice(&[1, b'f', 0, 0]);
        m.push(2);
        m.push(imports.len() as u8);
        m.extend_from_slice(&imports);
        m.extend_from_slice(&[3, 2, 1, 0]); // function section
        m.extend_from_slice(&[7, 10, 1, 6]);
        m.extend_from_slice(b"_start");
        m.extend_from_slice(&[0, 1]); // export func 1
        m.extend_from_slice(&[10, 4, 1, 2, 0, 0x0b]); // code section
        m
    }

    #[test]
    fn wasi_imports_pass() {
        let facts = validate(&module(WASI_PREVIEW1), None).unwrap();
        assert_eq!(facts.imports, ["wasi_snapshot_preview1::f"]);
    }

    #[test]
    fn foreign_imports_fail() {
        let err = validate(&module("env"), None).unwrap_err().to_string();
        assert!(err.contains("`env::f`"), "{err}");
    }

    /// `module(WASI_PREVIEW1)` with `_start`'s body (its instructions) replaced.
    fn with_body(body: &[u8]) -> Vec<u8> {
        let mut m = module(WASI_PREVIEW1);
        // The code section is the last six bytes.
        m.truncate(m.len() - 6);
        let mut entry = vec![0]; // no locals
        entry.extend_from_slice(body);
        let mut section = vec![1, entry.len() as u8];
        section.extend_from_slice(&entry);
        m.push(10);
        m.push(section.len() as u8);
        m.extend_from_slice(&section);
        m
    }

    #[test]
    fn post_2_0_features_and_invalid_code_are_told_apart() {
        assert!(validate(&with_body(&[0x0b]), None).is_ok());
        // v128.const 0; drop: valid with SIMD, which the portable features leave out.
        let mut simd = vec![0xfd, 0x0c];
        simd.extend_from_slice(&[0; 16]);
        simd.extend_from_slice(&[0x1a, 0x0b]);
        let err = validate(&with_body(&simd), None).unwrap_err();
        // The shell reads the fix from the diagnostic, and wasmparser's finding stays beside it.
        let diagnostic = Diagnostic::find(&err).expect("a diagnostic");
        assert!(
            diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("-msimd128"))
        );
        assert!(diagnostic.notes.iter().any(|n| n.contains("SIMD")), "{err}");
        let err = format!("{err:#}");
        assert!(err.contains("beyond 2.0 without SIMD"), "{err}");
        // i32.add on an empty stack: invalid with any features.
        let err = format!(
            "{:#}",
            validate(&with_body(&[0x6a, 0x0b]), None).unwrap_err()
        );
        assert!(err.contains("does not validate"), "{err}");
        assert!(!err.contains("SIMD"), "{err}");
    }

    #[test]
    fn garbage_fails() {
        assert!(validate(b"\0asm\x01\0\0\0\x01", None).is_err());
    }
}
