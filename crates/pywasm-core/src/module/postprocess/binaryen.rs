//! binaryen's C API, loaded at run time from the pinned `libbinaryen` (see `[binaryen]` in
//! `wasi-sdk.toml`). Loading the official library, instead of compiling binaryen's C++ into
//! pywasm, keeps `cargo install pywasm` and a cold CI about fifteen CPU-minutes shorter, and
//! only builds that optimise pay for it.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

type ModuleRef = *mut c_void;
type Features = u32;

#[repr(C)]
struct WriteResult {
    binary: *mut c_void,
    binary_bytes: usize,
    source_map: *mut c_char,
}

unsafe extern "C" {
    /// binaryen allocates what it writes with `malloc`.
    fn free(ptr: *mut c_void);
}

/// What a run asks of binaryen.
pub struct Job<'a> {
    pub optimize_level: u32,
    pub shrink_level: u32,
    /// Keep the names section.
    pub debug_info: bool,
    /// binaryen's feature names, as `wasm-opt --enable-NAME` spells them.
    pub features: &'a [&'a str],
    /// Pass names, as `wasm-opt --NAME` spells them, run in order by one pass runner.
    pub passes: &'a [&'a str],
}

/// The loaded library, by path. binaryen keeps its optimisation options in process-wide globals,
/// so the lock also makes runs take turns; and a library is never unloaded, because binaryen's
/// worker threads outlive a run.
static LOADED: Mutex<Option<(PathBuf, &'static libloading::Library)>> = Mutex::new(None);

/// Runs `job` over the module `input` with the library at `library`; returns the new module.
pub fn run(library: &Path, input: &[u8], job: &Job<'_>) -> Result<Vec<u8>> {
    let mut loaded = LOADED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let lib = match &*loaded {
        Some((path, lib)) if path == library => *lib,
        _ => {
            // SAFETY: the library is the pinned, verified libbinaryen; loading it runs its
            // static constructors, which only register passes.
            let lib = unsafe { libloading::Library::new(library) }.with_context(|| {
                format!("failed to load binaryen's library `{}`", library.display())
            })?;
            let lib: &'static libloading::Library = Box::leak(Box::new(lib));
            *loaded = Some((library.to_owned(), lib));
            lib
        }
    };
    let api = Api::load(lib)
        .with_context(|| format!("`{}` is not binaryen's C library", library.display()))?;
    let mut features = 0;
    for name in job.features {
        features |= api.feature(name)?;
    }
    let passes: Vec<CString> = job
        .passes
        .iter()
        .map(|p| CString::new(*p).context("a pass name has a NUL byte"))
        .collect::<Result<_>>()?;
    let pass_ptrs: Vec<*const c_char> = passes.iter().map(|p| p.as_ptr()).collect();
    let count = u32::try_from(pass_ptrs.len()).context("too many passes")?;
    // SAFETY: the signatures are binaryen 116's `binaryen-c.h`; the module is disposed of on
    // every path below, and the buffer binaryen writes is freed after it is copied.
    unsafe {
        (api.set_optimize_level)(job.optimize_level as c_int);
        (api.set_shrink_level)(job.shrink_level as c_int);
        (api.set_debug_info)(job.debug_info);
        let module = (api.read)(input.as_ptr().cast(), input.len());
        if module.is_null() {
            bail!("binaryen could not read the module");
        }
        (api.set_features)(module, features);
        if !(api.validate)(module) {
            (api.dispose)(module);
            bail!("binaryen finds the module invalid (its findings are above)");
        }
        (api.run_passes)(module, pass_ptrs.as_ptr(), count);
        let written = (api.write)(module, std::ptr::null());
        (api.dispose)(module);
        if written.binary.is_null() {
            bail!("binaryen wrote no module");
        }
        let bytes =
            std::slice::from_raw_parts(written.binary.cast::<u8>(), written.binary_bytes).to_vec();
        free(written.binary);
        if !written.source_map.is_null() {
            free(written.source_map.cast());
        }
        Ok(bytes)
    }
}

/// The functions of the C API pywasm calls.
struct Api<'lib> {
    read: libloading::Symbol<'lib, unsafe extern "C" fn(*const c_char, usize) -> ModuleRef>,
    set_features: libloading::Symbol<'lib, unsafe extern "C" fn(ModuleRef, Features)>,
    validate: libloading::Symbol<'lib, unsafe extern "C" fn(ModuleRef) -> bool>,
    set_optimize_level: libloading::Symbol<'lib, unsafe extern "C" fn(c_int)>,
    set_shrink_level: libloading::Symbol<'lib, unsafe extern "C" fn(c_int)>,
    set_debug_info: libloading::Symbol<'lib, unsafe extern "C" fn(bool)>,
    run_passes:
        libloading::Symbol<'lib, unsafe extern "C" fn(ModuleRef, *const *const c_char, u32)>,
    write: libloading::Symbol<'lib, unsafe extern "C" fn(ModuleRef, *const c_char) -> WriteResult>,
    dispose: libloading::Symbol<'lib, unsafe extern "C" fn(ModuleRef)>,
    lib: &'lib libloading::Library,
}

impl<'lib> Api<'lib> {
    fn load(lib: &'lib libloading::Library) -> Result<Self> {
        // SAFETY: each symbol is looked up with its type from `binaryen-c.h` (binaryen 116).
        unsafe {
            Ok(Api {
                read: symbol(lib, "BinaryenModuleRead")?,
                set_features: symbol(lib, "BinaryenModuleSetFeatures")?,
                validate: symbol(lib, "BinaryenModuleValidate")?,
                set_optimize_level: symbol(lib, "BinaryenSetOptimizeLevel")?,
                set_shrink_level: symbol(lib, "BinaryenSetShrinkLevel")?,
                set_debug_info: symbol(lib, "BinaryenSetDebugInfo")?,
                run_passes: symbol(lib, "BinaryenModuleRunPasses")?,
                write: symbol(lib, "BinaryenModuleAllocateAndWrite")?,
                dispose: symbol(lib, "BinaryenModuleDispose")?,
                lib,
            })
        }
    }

    /// The bit of a feature: binaryen exports each as a function (`BinaryenFeatureSignExt`).
    fn feature(&self, name: &str) -> Result<Features> {
        let function = match name {
            "sign-ext" => "BinaryenFeatureSignExt",
            "mutable-globals" => "BinaryenFeatureMutableGlobals",
            "nontrapping-float-to-int" => "BinaryenFeatureNontrappingFPToInt",
            "bulk-memory" => "BinaryenFeatureBulkMemory",
            "multivalue" => "BinaryenFeatureMultivalue",
            "reference-types" => "BinaryenFeatureReferenceTypes",
            other => bail!("internal error: no binaryen feature `{other}`"),
        };
        // SAFETY: every `BinaryenFeature*` function takes nothing and returns the feature's bit.
        unsafe {
            let get: libloading::Symbol<'lib, unsafe extern "C" fn() -> Features> =
                symbol(self.lib, function)?;
            Ok(get())
        }
    }
}

/// # Safety
/// `T` must be the symbol's true type.
unsafe fn symbol<'lib, T>(
    lib: &'lib libloading::Library,
    name: &str,
) -> Result<libloading::Symbol<'lib, T>> {
    // SAFETY: the caller vouches for the type.
    unsafe { lib.get(name.as_bytes()) }.with_context(|| format!("no `{name}` in the library"))
}
