//! The library ABI (docs/abi.md) under random bytes: every export of the library modules named in
//! `PYWASM_FUZZ_LIBRARIES` (paths separated by `:`; `cargo xtask fuzz` builds `examples/udf`
//! and `examples/file-analyzer`) is called with the input on one live instance per module, as
//! hosts keep them. Each call must answer with a result or an error, never trap; after it, a
//! fixed call to the same export must answer exactly as it did before any input: the instance
//! is still usable and its state intact. The input's first byte picks the module and export.
#![no_main]

use std::sync::{Mutex, OnceLock};

use pywasm_tests::library::{Answer, WasmtimeLibrary};

/// What every export is probed with before and after each input.
const PROBE: &[u8] = br#"{"id": 7, "name": "probe", "text": "caf\u00e9 <a href='x'>"}"#;

struct Library {
    name: String,
    instance: WasmtimeLibrary,
    /// Each export, and its answer to [`PROBE`] on the fresh instance.
    exports: Vec<(String, Answer)>,
}

fn libraries() -> &'static Mutex<Vec<Library>> {
    static LIBRARIES: OnceLock<Mutex<Vec<Library>>> = OnceLock::new();
    LIBRARIES.get_or_init(|| {
        let paths = std::env::var("PYWASM_FUZZ_LIBRARIES")
            .expect("PYWASM_FUZZ_LIBRARIES names the library modules to call");
        // Winch, wasmtime's baseline compiler: with the fuzz build's instrumentation and
        // assertions, cranelift takes minutes over the two 20 MB modules.
        let mut config = pywasm_tests::wasmtime::Config::new();
        config.strategy(pywasm_tests::wasmtime::Strategy::Winch);
        let engine = pywasm_tests::wasmtime::Engine::new(&config).expect("an engine");
        let libraries = paths.split(':').map(|path| {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("`{path}`: {e}"));
            let manifest = pywasm_core::module::describe::read(&bytes)
                .expect("a module pywasm built")
                .expect("a pywasm manifest");
            let library = manifest.library.expect("a library module");
            let module = pywasm_tests::wasmtime::Module::new(&engine, &bytes).expect("compile");
            let mut instance = WasmtimeLibrary::new(&engine, &module, None).expect("instantiate");
            let exports = library
                .exports
                .into_iter()
                .map(|(name, _)| {
                    let answer = instance.call(&name, PROBE).expect("the probe call");
                    (name, answer)
                })
                .collect();
            Library {
                name: path.to_owned(),
                instance,
                exports,
            }
        });
        Mutex::new(libraries.collect())
    })
}

libfuzzer_sys::fuzz_target!(
    // Compiling and starting the modules takes seconds: before the first input's clock starts.
    init: {
        libraries();
    },
    |data: &[u8]| {
    let Some((&pick, argument)) = data.split_first() else {
        return;
    };
    let mut libraries = libraries().lock().unwrap_or_else(|e| e.into_inner());
    let count = libraries.len();
    let library = &mut libraries[usize::from(pick) % count];
    let (name, expected) = &library.exports[usize::from(pick) / count % library.exports.len()];
    let (name, expected) = (name.clone(), expected.clone());
    if let Err(err) = library.instance.call(&name, argument) {
        panic!("`{name}` of `{}` trapped: {err:#}", library.name);
    }
    let again = library.instance.call(&name, PROBE);
    let again = again.unwrap_or_else(|e| panic!("`{name}` trapped on the probe: {e:#}"));
    assert_eq!(again, expected, "`{name}` answers the probe differently after the input");
    }
);
