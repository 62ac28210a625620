//! Libraries built as components (docs/abi.md, "Components"): called from wasmtime through
//! its dynamic `Val` API with values written as JSON, and natively by `component_native.py`,
//! so that a test can compare every call of any world without generating bindings for it.
//!
//! JSON for WIT values: records are objects keyed by the Python field names (`first_name` for
//! the WIT field `first-name`), `list<u8>` is a list of ints, `option` is null or the value.
//! Each call's outcome is `{"ok": VALUE}` or `{"err": "Type: message"}`, the first line of the
//! error text.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use wasmtime::component::types::Type;
use wasmtime::component::{Component, Linker, ResourceTable, Val};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::library::{lookup_answer, run_native_script};
use crate::repo;

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Makes every call on one instance of the component; `env.lookup` answers with
/// [`lookup_answer`].
pub fn call_component(wasm: &Path, calls: &[(&str, Value)]) -> Result<Vec<Value>> {
    call_component_capped(wasm, calls, None)
}

/// [`call_component`] with the instance's linear memory capped at `max_memory` bytes.
pub fn call_component_capped(
    wasm: &Path,
    calls: &[(&str, Value)],
    max_memory: Option<usize>,
) -> Result<Vec<Value>> {
    let engine = Engine::default();
    let component = Component::from_file(&engine, wasm).map_err(anyhow::Error::from)?;
    let mut linker: Linker<Host> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
    linker
        .root()
        .instance("env")
        .and_then(|mut env| {
            env.func_new("lookup", |_, _, params, results| {
                let Val::List(bytes) = &params[0] else {
                    wasmtime::bail!("lookup takes list<u8>");
                };
                let bytes: Vec<u8> = bytes
                    .iter()
                    .map(|b| match b {
                        Val::U8(b) => *b,
                        _ => 0,
                    })
                    .collect();
                results[0] = Val::List(lookup_answer(&bytes).into_iter().map(Val::U8).collect());
                Ok(())
            })
        })
        .map_err(anyhow::Error::from)?;
    let limits = match max_memory {
        Some(bytes) => StoreLimitsBuilder::new().memory_size(bytes).build(),
        None => StoreLimits::default(),
    };
    let host = Host {
        wasi: WasiCtxBuilder::new().inherit_stderr().build(),
        table: ResourceTable::new(),
        limits,
    };
    let mut store = Store::new(&engine, host);
    store.limiter(|host| &mut host.limits);
    let instance = linker
        .instantiate(&mut store, &component)
        .map_err(anyhow::Error::from)?;
    let mut out = Vec::new();
    for (name, arguments) in calls {
        let func = instance
            .get_func(&mut store, *name)
            .with_context(|| format!("the component exports no `{name}`"))?;
        let ty = func.ty(&store);
        let arguments = arguments.as_array().context("arguments are a JSON array")?;
        let params: Vec<Val> = ty
            .params()
            .zip(arguments)
            .map(|((_, t), v)| to_val(v, &t))
            .collect::<Result<_>>()?;
        let mut results = vec![Val::Bool(false)];
        func.call(&mut store, &params, &mut results)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("calling `{name}` trapped"))?;
        out.push(outcome(&results[0])?);
    }
    Ok(out)
}

fn outcome(result: &Val) -> Result<Value> {
    Ok(match result {
        Val::Result(Ok(value)) => json!({"ok": value.as_deref().map_or(Ok(Value::Null), to_json)?}),
        Val::Result(Err(Some(text))) => match &**text {
            Val::String(text) => json!({"err": text.lines().next().unwrap_or_default()}),
            other => bail!("an export's error is not a string: {other:?}"),
        },
        other => bail!("an export returned {other:?}, not a result"),
    })
}

fn to_val(value: &Value, ty: &Type) -> Result<Val> {
    Ok(match ty {
        Type::Bool => Val::Bool(value.as_bool().context("expected a bool")?),
        Type::S64 => Val::S64(value.as_i64().context("expected an integer")?),
        Type::U8 => Val::U8(u8::try_from(value.as_u64().context("expected a byte")?)?),
        Type::Float64 => Val::Float64(value.as_f64().context("expected a number")?),
        Type::String => Val::String(value.as_str().context("expected text")?.into()),
        Type::List(list) => Val::List(
            value
                .as_array()
                .context("expected a list")?
                .iter()
                .map(|v| to_val(v, &list.ty()))
                .collect::<Result<_>>()?,
        ),
        Type::Option(option) => Val::Option(match value {
            Value::Null => None,
            v => Some(Box::new(to_val(v, &option.ty())?)),
        }),
        Type::Record(record) => Val::Record(
            record
                .fields()
                .map(|field| {
                    let v = &value[field.name.replace('-', "_")];
                    Ok((field.name.to_string(), to_val(v, &field.ty)?))
                })
                .collect::<Result<_>>()?,
        ),
        other => bail!("no JSON form for {other:?} in these tests"),
    })
}

fn to_json(value: &Val) -> Result<Value> {
    Ok(match value {
        Val::Bool(b) => json!(b),
        Val::S64(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::Float64(x) => json!(x),
        Val::String(s) => json!(s),
        Val::List(items) => Value::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        Val::Option(v) => v.as_deref().map_or(Ok(Value::Null), to_json)?,
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.replace('-', "_"), to_json(v)?)))
                .collect::<Result<Map<_, _>>>()?,
        ),
        other => bail!("no JSON form for {other:?} in these tests"),
    })
}

/// The same calls under native CPython (`component_native.py`), with `path` on `sys.path`.
pub fn call_component_natively(
    path: &[&Path],
    exports: &[(&str, &str)],
    calls: &[(&str, Value)],
    scratch: &Path,
) -> Result<Vec<Value>> {
    call_component_natively_in(&crate::native_python()?, path, exports, calls, scratch)
}

/// [`call_component_natively`] in the given native CPython.
pub fn call_component_natively_in(
    python: &Path,
    path: &[&Path],
    exports: &[(&str, &str)],
    calls: &[(&str, Value)],
    scratch: &Path,
) -> Result<Vec<Value>> {
    let request = json!({
        "exports": exports.iter().map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
        "calls": calls.iter().map(|(n, a)| json!([n, a])).collect::<Vec<_>>(),
    });
    let text = run_native_script(python, "component_native.py", path, request, scratch)?;
    serde_json::from_str(text.trim()).with_context(|| format!("not a list of outcomes: {text}"))
}

/// Calls of `tests/fixtures/typed_library` that cover every WIT type pywasm derives: records,
/// strings, lists, options, results, flags, a parameter block (`sum17`), an exception, the host
/// function, and state kept between calls.
pub struct TypedCalls {
    /// By WIT export name, with their arguments.
    pub calls: Vec<(&'static str, Value)>,
    /// The fixture's `[tool.pywasm.exports]`: Python name, `module:function`.
    exports: Vec<(String, String)>,
}

impl TypedCalls {
    /// The calls, for the fixture's project at `root`.
    pub fn of_fixture(root: &Path) -> Result<TypedCalls> {
        let point = |x: f64, y: f64| json!({"x": x, "y": y});
        let item = |key: &str, weight: f64| json!({"key": key, "weight": weight, "at": point(weight, -weight)});
        let sum17 = json!([
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            15,
            0.25,
            "in memory: "
        ]);
        let calls = vec![
            ("count", json!([])),
            ("describe-point", json!([point(1.5, -2.0), "ünï"])),
            ("count", json!([])),
            ("fail", json!(["bad row"])),
            ("count", json!([])),
            ("invert", json!([[0, 1, 254, 255]])),
            ("invert", json!([[]])),
            ("maybe-double", json!([null])),
            ("maybe-double", json!([-21])),
            ("ask-host", json!(["k1 ✓"])),
            (
                "heaviest",
                json!([[item("a", 1.0), item("b", 2.5), item("c", 0.5)]]),
            ),
            ("heaviest", json!([[]])),
            ("sum17", sum17),
            ("describe-point", json!([point(13.0, 0.0), "refused"])),
            ("stats", json!([[1.0, 2.5, -3.0], "first label"])),
            ("stats", json!([[], ""])),
            ("toggle", json!([[true, false, false]])),
            ("describe-point", json!([point(0.0, 1e300), ""])),
        ];
        let pyproject = root.join("pyproject.toml");
        let exports = fs_err::read_to_string(&pyproject)?
            .lines()
            .filter_map(|l| l.split_once(" = \"typed.api:"))
            .map(|(name, attr)| {
                (
                    name.to_string(),
                    format!("typed.api:{}", attr.trim_end_matches('"')),
                )
            })
            .collect();
        Ok(TypedCalls { calls, exports })
    }

    /// What native CPython `python` answers to every call, the fixture's sources on its path.
    pub fn natively(&self, python: &Path, root: &Path) -> Result<Vec<Value>> {
        let by_python_name = self
            .calls
            .iter()
            .map(|(name, args)| {
                let (python, _) = self
                    .exports
                    .iter()
                    .find(|(n, _)| n.replace('_', "-") == *name)
                    .with_context(|| format!("the fixture exports no `{name}`"))?;
                Ok((python.as_str(), args.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        let exports: Vec<(&str, &str)> = self
            .exports
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .collect();
        call_component_natively_in(
            python,
            &[&root.join("src")],
            &exports,
            &by_python_name,
            root,
        )
    }
}

/// The same calls on one instance in node 20, through jco
/// (`tests/support/js/component-host.mjs`): the arguments are tagged with their WIT types,
/// read from the component, because JavaScript needs a BigInt for `s64` and a Uint8Array for
/// `list<u8>`.
pub fn call_component_in_node(
    wasm: &Path,
    calls: &[(&str, Value)],
    scratch: &Path,
) -> Result<Vec<Value>> {
    let engine = Engine::default();
    let component = Component::from_file(&engine, wasm).map_err(anyhow::Error::from)?;
    let ty = component.component_type();
    let mut tagged = Vec::new();
    for (name, arguments) in calls {
        let export = ty
            .get_export(&engine, name)
            .with_context(|| format!("the component exports no `{name}`"))?;
        let wasmtime::component::types::ComponentItem::ComponentFunc(func) = export.ty else {
            bail!("`{name}` is not a function");
        };
        let arguments = arguments.as_array().context("arguments are a JSON array")?;
        let arguments: Vec<Value> = func
            .params()
            .zip(arguments)
            .map(|((_, t), v)| for_js(v, &t))
            .collect::<Result<_>>()?;
        tagged.push(json!([name, arguments]));
    }
    let file = scratch.join("component-calls.json");
    fs_err::write(&file, Value::Array(tagged).to_string())?;
    let out = Command::new(crate::node()?)
        .arg(repo().join("tests/support/js/component-host.mjs"))
        .arg(wasm)
        .arg(&file)
        .output()?;
    if !out.status.success() {
        bail!("node failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("not JSON: {line}")))
        .collect()
}

/// A JSON value in the form `component-host.mjs` turns into what jco expects for `ty`.
fn for_js(value: &Value, ty: &Type) -> Result<Value> {
    Ok(match ty {
        Type::S64 => json!({"$s64": value.as_i64().context("expected an integer")?.to_string()}),
        Type::List(list) if matches!(list.ty(), Type::U8) => json!({"$bytes": value}),
        Type::List(list) => Value::Array(
            value
                .as_array()
                .context("expected a list")?
                .iter()
                .map(|v| for_js(v, &list.ty()))
                .collect::<Result<_>>()?,
        ),
        Type::Option(option) => match value {
            Value::Null => Value::Null,
            v => for_js(v, &option.ty())?,
        },
        Type::Record(record) => Value::Object(
            record
                .fields()
                .map(|field| {
                    let python = field.name.replace('-', "_");
                    let camel = lower_camel(field.name);
                    Ok((camel, for_js(&value[python], &field.ty)?))
                })
                .collect::<Result<Map<_, _>>>()?,
        ),
        _ => value.clone(),
    })
}

/// `max-value` as jco names it: `maxValue`.
fn lower_camel(kebab: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in kebab.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` with every number as an f64: JavaScript has one number type, so an f64 with no
/// fraction comes back from node as an integer.
pub fn numbers_as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
