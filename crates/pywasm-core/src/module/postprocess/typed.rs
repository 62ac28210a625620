//! A library built as a component (docs/abi.md, "Components"): typed exports in a WIT world
//! computed from the functions' annotations.
//!
//! The world is known only once the app's modules are imported, so the finished core module
//! describes itself: [`describe`] starts it once and calls `pywasm_describe`
//! (`templates/component.c`), which returns the WIT text and each export's flat core
//! parameters. [`add_exports`] then appends one function per export with that canonical
//! signature, which hands its arguments to the C side one by one and calls into Python, and a
//! `cabi_post_` function that frees the result; the JSON-ABI exports of the same names and the
//! ABI's own helpers are no longer exported. [`encode`] embeds the world and wraps the module
//! with the preview1 reactor adapter. No second link or snapshot is needed.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, Module, RawSection,
    TypeSection, ValType,
};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};
use wit_component::ComponentEncoder;

use crate::module::library::Library;
use crate::module::preinit::{EXIT_PYTHON_FAILED, Sandbox, run_once_engine, unusable_export};
use wasmtime_wasi::I32Exit;

/// What `pywasm_describe` answers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// The WIT package and world.
    pub wit: String,
    pub exports: Vec<TypedExport>,
}

/// One export as the canonical ABI lowers it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TypedExport {
    /// Its WIT name, which is also its core export name.
    pub name: String,
    /// Its index in `pywasm._component`.
    pub index: u32,
    /// Its flat core parameters (one `i32` when they do not fit in 16).
    pub params: Vec<CoreType>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CoreType {
    I32,
    I64,
    F32,
    F64,
}

impl CoreType {
    fn val_type(self) -> ValType {
        match self {
            CoreType::I32 => ValType::I32,
            CoreType::I64 => ValType::I64,
            CoreType::F32 => ValType::F32,
            CoreType::F64 => ValType::F64,
        }
    }

    /// The C function in `templates/component.c` that takes an argument of this type.
    fn setter(self) -> &'static str {
        match self {
            CoreType::I32 => "pywasm_arg_i32",
            CoreType::I64 => "pywasm_arg_i64",
            CoreType::F32 => "pywasm_arg_f32",
            CoreType::F64 => "pywasm_arg_f64",
        }
    }
}

const CALL: &str = "pywasm_component_call";
const POST: &str = "pywasm_component_post";
const DESCRIBE: &str = "pywasm_describe";
const SETTERS: [CoreType; 4] = [CoreType::I32, CoreType::I64, CoreType::F32, CoreType::F64];

/// Starts the finished core module once, as a host would, and asks it for its world.
pub fn describe(module: &[u8], library: &Library) -> Result<Description> {
    let engine = run_once_engine()?;
    let compiled = wasmtime::Module::new(&engine, module)
        .map_err(anyhow::Error::from)
        .context("failed to compile the library to read its exports' types")?;
    let sandbox = Sandbox::new(&engine, &compiled, true, &[], None)?;
    let (mut store, stderr) = (sandbox.store, sandbox.stderr);
    let failed = |what: &str, err: wasmtime::Error| {
        let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
        anyhow::Error::from(err).context(format!(
            "internal error: {what} while reading the exports' types; the module's stderr:\n{stderr}"
        ))
    };
    let instance = sandbox
        .linker
        .instantiate(&mut store, &compiled)
        .map_err(|e| failed("the library did not instantiate", e))?;
    let initialize = instance
        .get_typed_func::<(), ()>(&mut store, "_initialize")
        .map_err(anyhow::Error::from)?;
    if let Err(err) = initialize.call(&mut store, ()) {
        // Without pre-initialisation the exports are typed here, at their first start.
        let traceback = String::from_utf8_lossy(&stderr.contents()).into_owned();
        if let Some(I32Exit(EXIT_PYTHON_FAILED)) = err.downcast_ref::<I32Exit>()
            && let Some(located) = unusable_export(&traceback, library)
        {
            return Err(located);
        }
        return Err(failed("`_initialize` failed", err));
    }
    let describe = instance
        .get_typed_func::<(), i64>(&mut store, DESCRIBE)
        .map_err(anyhow::Error::from)?;
    let packed = describe
        .call(&mut store, ())
        .map_err(|e| failed("`pywasm_describe` failed", e))?;
    if packed < 0 {
        let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
        bail!("internal error: `pywasm_describe` failed; the module's stderr:\n{stderr}");
    }
    let (ptr, len) = (
        (packed as u64 >> 32) as usize,
        (packed as u64 as u32) as usize,
    );
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| anyhow!("the library exports no memory"))?;
    let text = memory
        .data(&store)
        .get(ptr..ptr + len)
        .ok_or_else(|| anyhow!("internal error: `pywasm_describe` answered outside memory"))?;
    serde_json::from_slice(text)
        .context("internal error: `pywasm_describe` answered malformed JSON")
}

/// What the module's sections say about its functions, read before anything is written.
struct Layout<'a> {
    imported_functions: u32,
    defined_functions: u32,
    types: u32,
    /// Function exports by name.
    exports: HashMap<&'a str, u32>,
}

impl<'a> Layout<'a> {
    fn read(module: &'a [u8]) -> Result<Layout<'a>> {
        let mut layout = Layout {
            imported_functions: 0,
            defined_functions: 0,
            types: 0,
            exports: HashMap::new(),
        };
        for payload in Parser::new(0).parse_all(module) {
            match payload? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        layout.types += group?.types().len() as u32;
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader {
                        if let TypeRef::Func(_) = import?.ty {
                            layout.imported_functions += 1;
                        }
                    }
                }
                Payload::FunctionSection(reader) => layout.defined_functions = reader.count(),
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        if export.kind == ExternalKind::Func {
                            layout.exports.insert(export.name, export.index);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(layout)
    }

    fn function(&self, name: &str) -> Result<u32> {
        self.exports.get(name).copied().ok_or_else(|| {
            anyhow!("internal error: the library has no `{name}` export (templates/component.c)")
        })
    }
}

/// The core functions added per export: its typed entry and its post-return.
struct Added {
    /// (type index, body) of every new function, in order.
    functions: Vec<(u32, Function)>,
    /// New types by (params, results).
    types: BTreeMap<(Vec<CoreType>, bool), u32>,
    exports: Vec<(String, u32)>,
}

fn added(layout: &Layout, exports: &[TypedExport]) -> Result<Added> {
    let call = layout.function(CALL)?;
    let post = layout.function(POST)?;
    let mut setters = HashMap::new();
    for t in SETTERS {
        setters.insert(t, layout.function(t.setter())?);
    }
    let mut types = BTreeMap::new();
    let mut type_of = |params: Vec<CoreType>, returns: bool| {
        let next = layout.types + types.len() as u32;
        *types.entry((params, returns)).or_insert(next)
    };
    let first = layout.imported_functions + layout.defined_functions;
    let mut functions = Vec::new();
    let mut names = Vec::new();
    for export in exports {
        if export.params.len() > 16 {
            bail!(
                "internal error: export `{}` has more than 16 flat parameters",
                export.name
            );
        }
        let index = i32::try_from(export.index)?;
        let mut entry = Function::new([]);
        for (k, t) in export.params.iter().enumerate() {
            entry
                .instructions()
                .i32_const(k as i32)
                .local_get(k as u32)
                .call(setters[t]);
        }
        entry.instructions().i32_const(index).call(call).end();
        functions.push((type_of(export.params.clone(), true), entry));
        names.push((export.name.clone(), first + functions.len() as u32 - 1));

        let mut cleanup = Function::new([]);
        cleanup.instructions().i32_const(index).call(post).end();
        functions.push((type_of(vec![CoreType::I32], false), cleanup));
        names.push((
            format!("cabi_post_{}", export.name),
            first + functions.len() as u32 - 1,
        ));
    }
    Ok(Added {
        functions,
        types,
        exports: names,
    })
}

/// Whether an export of the linked library stays in the component's core module: not the
/// JSON-ABI exports (replaced by typed ones) and not the ABI's own helpers.
fn kept(name: &str, typed: &[TypedExport], replaced: &[String]) -> bool {
    !name.starts_with("pywasm_")
        && !typed.iter().any(|e| e.name == name)
        && !replaced.iter().any(|r| r == name)
}

/// The module with a typed core export and a `cabi_post_` function per export of `exports`;
/// the JSON-ABI exports `replaced` are no longer exported.
pub fn add_exports(module: &[u8], exports: &[TypedExport], replaced: &[String]) -> Result<Vec<u8>> {
    let layout = Layout::read(module).context("the library module cannot be read")?;
    let added = added(&layout, exports)?;
    let mut out = Module::new();
    let mut code: Option<CodeSection> = None;
    let mut remaining_bodies = 0u32;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("the library module cannot be read")?;
        match &payload {
            Payload::TypeSection(reader) => {
                let mut types = TypeSection::new();
                RoundtripReencoder.parse_type_section(&mut types, reader.clone())?;
                let mut new: Vec<(&(Vec<CoreType>, bool), &u32)> = added.types.iter().collect();
                new.sort_by_key(|(_, index)| **index);
                for ((params, returns), _) in new {
                    let results: &[ValType] = if *returns { &[ValType::I32] } else { &[] };
                    types
                        .ty()
                        .function(params.iter().map(|t| t.val_type()), results.iter().copied());
                }
                out.section(&types);
            }
            Payload::FunctionSection(reader) => {
                let mut functions = FunctionSection::new();
                RoundtripReencoder.parse_function_section(&mut functions, reader.clone())?;
                for (ty, _) in &added.functions {
                    functions.function(*ty);
                }
                out.section(&functions);
            }
            Payload::ExportSection(reader) => {
                let mut section = ExportSection::new();
                for export in reader.clone() {
                    let export = export?;
                    if export.kind == ExternalKind::Func && !kept(export.name, exports, replaced) {
                        continue;
                    }
                    section.export(
                        export.name,
                        RoundtripReencoder.export_kind(export.kind)?,
                        export.index,
                    );
                }
                for (name, index) in &added.exports {
                    section.export(name, ExportKind::Func, *index);
                }
                out.section(&section);
            }
            Payload::CodeSectionStart { count, .. } => {
                code = Some(CodeSection::new());
                remaining_bodies = *count;
            }
            Payload::CodeSectionEntry(body) => {
                let section = code
                    .as_mut()
                    .context("a function body outside the code section")?;
                section.raw(&module[body.range()]);
                remaining_bodies -= 1;
                if remaining_bodies == 0 {
                    for (_, function) in &added.functions {
                        section.function(function);
                    }
                    out.section(section);
                }
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &module[range],
                    });
                }
            }
        }
    }
    let bytes = out.finish();
    wasmparser::Validator::new()
        .validate_all(&bytes)
        .context("internal error: the library with typed exports does not validate")?;
    Ok(bytes)
}

/// Embeds `wit` as the module's component type and wraps it into a component with the WASI
/// preview1 reactor adapter; wit-component runs `_initialize` as the component starts.
pub fn encode(module: &[u8], wit: &str) -> Result<Vec<u8>> {
    let mut module = module.to_vec();
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("world.wit", wit)
        .with_context(|| format!("internal error: the generated WIT does not parse:\n{wit}"))?;
    let world = resolve.select_world(&[package], None)?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .context("failed to embed the component's world")?;
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("wit-component refused the library module")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("wit-component refused the WASI preview1 reactor adapter")?
        .encode()
        .context("failed to encode the library component")
}

/// The reactor adapter's digest, for the build manifest.
pub fn adapter_sha256() -> String {
    crate::fsutil::sha256_hex(WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
}
