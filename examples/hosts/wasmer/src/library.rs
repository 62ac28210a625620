//! A library module (docs/abi.md) on one live instance: the ABI's exports looked up once, each
//! call's argument written into a buffer from `pywasm_alloc`, its result or error read back and
//! freed.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use wasmer::{
    Engine, Function, FunctionEnv, FunctionEnvMut, Instance, Memory, Module, RuntimeError, Store,
    TypedFunction,
};

use crate::Captured;

/// What the host functions need from the instance they serve, filled in once it exists, and
/// what the call running now passed to `host.emit`.
#[derive(Default)]
struct HostState {
    memory: Option<Memory>,
    alloc: Option<TypedFunction<i32, i32>>,
    emitted: Vec<Vec<u8>>,
}

/// Makes every call of `calls` (a JSON list of `[export, argument as base64]`) and prints the
/// answers as one JSON line, after what the module printed: `[true, result as base64, events]`
/// or `[false, error text, events]`, events being what the call passed to `host.emit`.
pub fn call_all(store: &mut Store, engine: &Engine, module: Module, calls: &Path) -> Result<()> {
    let text =
        std::fs::read(calls).with_context(|| format!("cannot read `{}`", calls.display()))?;
    let calls: Vec<(String, String)> = serde_json::from_slice(&text)
        .with_context(|| format!("`{}` is not a list of [name, base64]", calls.display()))?;
    let mut library = Library::new(store, engine, module)?;
    let mut answers = Vec::with_capacity(calls.len());
    for (name, argument) in &calls {
        let argument = B64
            .decode(argument)
            .with_context(|| format!("the argument of `{name}` is not base64"))?;
        let answer = library.call(store, name, &argument)?;
        let events: Vec<String> = std::mem::take(&mut library.env.as_mut(store).emitted)
            .iter()
            .map(|event| B64.encode(event))
            .collect();
        answers.push(match answer {
            Ok(out) => json!([true, B64.encode(out), events]),
            Err(text) => json!([false, text, events]),
        });
    }
    if !library.captured.flush()? {
        println!();
    }
    println!("{}", Value::Array(answers));
    eprintln!("memory: {} pages", library.memory.view(store).size().0);
    Ok(())
}

struct Library {
    memory: Memory,
    alloc: TypedFunction<i32, i32>,
    free: TypedFunction<(i32, i32), ()>,
    error: TypedFunction<(), i64>,
    instance: Instance,
    /// Each export looked up once, as a host keeps it.
    exports: HashMap<String, TypedFunction<(i32, i32), i64>>,
    captured: Captured,
    env: FunctionEnv<HostState>,
}

impl Library {
    /// Instantiates the module; wasmer-wasix calls the reactor's `_initialize` on the way.
    fn new(store: &mut Store, engine: &Engine, module: Module) -> Result<Library> {
        let env = FunctionEnv::new(store, HostState::default());
        let lookup = Function::new_typed_with_env(store, &env, lookup);
        let emit = Function::new_typed_with_env(store, &env, emit);
        let (builder, captured) = Captured::builder("library", engine);
        let (instance, _wasi) = builder
            .import("env", "lookup", lookup)
            .import("host", "emit", emit)
            .instantiate(module, store)
            .context("cannot instantiate the module")?;
        let memory = instance
            .exports
            .get_memory("memory")
            .context("the module exports no memory")?
            .clone();
        let function = |name: &str| -> Result<Function> {
            Ok(instance
                .exports
                .get_function(name)
                .with_context(|| {
                    format!("the module exports no `{name}`: is it a pywasm library?")
                })?
                .clone())
        };
        let alloc = function("pywasm_alloc")?.typed(store)?;
        let free = function("pywasm_free")?.typed(store)?;
        let error = function("pywasm_error")?.typed(store)?;
        let state = env.as_mut(store);
        state.memory = Some(memory.clone());
        state.alloc = Some(alloc.clone());
        Ok(Library {
            memory,
            alloc,
            free,
            error,
            instance,
            exports: HashMap::new(),
            captured,
            env,
        })
    }

    /// Calls export `name` with `argument`: its result, or the text of the exception it
    /// raised. A trap is an error: the instance is then unusable.
    fn call(
        &mut self,
        store: &mut Store,
        name: &str,
        argument: &[u8],
    ) -> Result<std::result::Result<Vec<u8>, String>> {
        let export = match self.exports.get(name) {
            Some(export) => export.clone(),
            None => {
                let export: TypedFunction<(i32, i32), i64> = self
                    .instance
                    .exports
                    .get_typed_function(store, name)
                    .with_context(|| format!("the module exports no function `{name}`"))?;
                self.exports.insert(name.to_owned(), export.clone());
                export
            }
        };
        let (ptr, len) = to_guest(store, &self.memory, &self.alloc, argument)?;
        let packed = export
            .call(store, ptr, len)
            .map_err(|trap| anyhow!("calling `{name}` trapped: {trap}"))?;
        if len > 0 {
            self.free.call(store, ptr, len)?;
        }
        if packed < 0 {
            let packed = self.error.call(store)?;
            let text = self.take(store, packed)?;
            return Ok(Err(String::from_utf8_lossy(&text).into_owned()));
        }
        Ok(Ok(self.take(store, packed)?))
    }

    /// Copies out and frees a buffer the guest returned as `(ptr << 32) | len`.
    fn take(&self, store: &mut Store, packed: i64) -> Result<Vec<u8>> {
        let (ptr, len) = ((packed >> 32) as u32, packed as u32);
        let mut bytes = guest_buffer(&self.memory, store, len)?;
        self.memory
            .view(store)
            .read(u64::from(ptr), &mut bytes)
            .with_context(|| format!("the result ({ptr}, {len}) is outside memory"))?;
        if len > 0 {
            self.free.call(store, ptr as i32, len as i32)?;
        }
        Ok(bytes)
    }
}

/// Copies `data` into a fresh guest buffer; `(0, 0)` for no data.
fn to_guest(
    store: &mut impl wasmer::AsStoreMut,
    memory: &Memory,
    alloc: &TypedFunction<i32, i32>,
    data: &[u8],
) -> Result<(i32, i32)> {
    if data.is_empty() {
        return Ok((0, 0));
    }
    let len = i32::try_from(data.len()).context("an argument over 2 GiB")?;
    let ptr = alloc.call(store, len)?;
    if ptr == 0 {
        bail!("pywasm_alloc({len}) failed");
    }
    memory.view(store).write(ptr as u32 as u64, data)?;
    Ok((ptr, len))
}

/// A zeroed buffer for `len` bytes of guest memory; an error when the guest names more than
/// its memory holds, before anything that size is allocated.
fn guest_buffer(memory: &Memory, store: &impl wasmer::AsStoreRef, len: u32) -> Result<Vec<u8>> {
    let size = memory.view(store).data_size();
    if u64::from(len) > size {
        bail!("the guest named {len} bytes, more than its {size} bytes of memory");
    }
    Ok(vec![0u8; len as usize])
}

/// A host function's argument, copied out of guest memory.
fn read_argument(
    memory: &Memory,
    store: &impl wasmer::AsStoreRef,
    ptr: i32,
    len: i32,
) -> Result<Vec<u8>, RuntimeError> {
    let mut argument = guest_buffer(memory, store, len as u32)
        .map_err(|err| RuntimeError::new(format!("{err:#}")))?;
    memory
        .view(store)
        .read(ptr as u32 as u64, &mut argument)
        .map_err(|err| RuntimeError::new(err.to_string()))?;
    Ok(argument)
}

/// `env.lookup(argument)`: answers `{"len", "text"}` as JSON in a buffer from the guest's
/// `pywasm_alloc`; -1 (the guest raises `HostError`) when the guest has no memory for it.
fn lookup(mut env: FunctionEnvMut<HostState>, ptr: i32, len: i32) -> Result<i64, RuntimeError> {
    let (state, mut store) = env.data_and_store_mut();
    let (Some(memory), Some(alloc)) = (state.memory.clone(), state.alloc.clone()) else {
        return Err(RuntimeError::new(
            "env.lookup was called before the instance was ready",
        ));
    };
    let argument = read_argument(&memory, &store, ptr, len)?;
    let answer = json!({"len": argument.len(), "text": String::from_utf8_lossy(&argument)});
    match to_guest(&mut store, &memory, &alloc, answer.to_string().as_bytes()) {
        Ok((out, size)) => Ok(((u64::from(out as u32) << 32) | u64::from(size as u32)) as i64),
        Err(_) => Ok(-1),
    }
}

/// `host.emit(event)`: keeps the event for the call running now and answers nothing (an empty
/// buffer, packed as 0).
fn emit(mut env: FunctionEnvMut<HostState>, ptr: i32, len: i32) -> Result<i64, RuntimeError> {
    let (state, store) = env.data_and_store_mut();
    let Some(memory) = state.memory.clone() else {
        return Err(RuntimeError::new(
            "host.emit was called before the instance was ready",
        ));
    };
    let event = read_argument(&memory, &store, ptr, len)?;
    state.emitted.push(event);
    Ok(0)
}
