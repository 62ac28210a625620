//! Running and looking into built modules: the embedded wasmtime (`runtime`), `pywasm run`
//! (`run`), `pywasm test` (`testing`) and `pywasm inspect` (`inspect`).

pub mod inspect;
pub mod run;
pub mod runtime;
pub mod testing;
