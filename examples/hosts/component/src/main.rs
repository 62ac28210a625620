//! Calls `examples/udf` built as a component (`pywasm build --component`) through the types of
//! its world, `examples/udf/wit/udf.wit`, as a database engine would: one instance, a call per
//! row, the engine's own `lookup` as the host function.
//!
//! Usage: `component-host UDF.wasm CALLS.json`. CALLS is a JSON array of calls:
//! `["score", {"id": 1, "name": "widget", "amount": 12.5, "tags": []}]`, `["echo", "text"]` or
//! `["noop"]`. Each call's outcome is printed as one JSON line: `{"ok": VALUE}`, or
//! `{"err": "Type: message"}` when the Python function raised.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../udf/wit/udf.wit",
    world: "udf",
});

struct Database {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Database {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The engine's lookup: what it knows about a name, as JSON.
impl env::Host for Database {
    fn lookup(&mut self, argument: Vec<u8>) -> Vec<u8> {
        json!({"len": argument.len(), "text": String::from_utf8_lossy(&argument)})
            .to_string()
            .into_bytes()
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, module, calls] = args.as_slice() else {
        bail!("usage: component-host UDF.wasm CALLS.json");
    };
    let calls: Vec<Value> = serde_json::from_slice(
        &std::fs::read(calls).with_context(|| format!("cannot read `{calls}`"))?,
    )
    .with_context(|| format!("`{calls}` is not a JSON array of calls"))?;

    let engine = Engine::new(&Config::new())?;
    let component = Component::from_file(&engine, Path::new(module))
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load `{module}`"))?;
    let mut linker: Linker<Database> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Udf::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)?;
    let state = Database {
        wasi: WasiCtxBuilder::new().inherit_stderr().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    let udf = Udf::instantiate(&mut store, &component, &linker)?;

    for call in &calls {
        let outcome = match (call[0].as_str(), &call[1]) {
            (Some("score"), row) => {
                let row = Row {
                    id: row["id"].as_i64().context("a row's id is an integer")?,
                    name: row["name"].as_str().context("a row's name is text")?.into(),
                    amount: row["amount"]
                        .as_f64()
                        .context("a row's amount is a number")?,
                    tags: row["tags"]
                        .as_array()
                        .map(|tags| {
                            tags.iter()
                                .filter_map(|t| t.as_str().map(Into::into))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                udf.call_score(&mut store, &row)?
                    .map(|s| json!({"id": s.id, "score": s.score, "tags": s.tags}))
            }
            (Some("echo"), Value::String(text)) => {
                udf.call_echo(&mut store, text)?.map(Value::from)
            }
            (Some("noop"), _) => udf.call_noop(&mut store)?.map(|()| Value::Null),
            _ => bail!("unknown call {call}"),
        };
        let line = match outcome {
            Ok(value) => json!({"ok": value}),
            // The error text is the exception's headline, a blank line, then its traceback.
            Err(text) => json!({"err": text.lines().next().unwrap_or_default()}),
        };
        println!("{line}");
    }
    Ok(())
}
