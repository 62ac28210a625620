//! `pywasm_core::fuzzing::image`: see there for what it reads and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pywasm_core::fuzzing::image(data));
