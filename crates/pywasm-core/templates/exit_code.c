/*
 * Exit codes for components (linked only into `component = true` builds).
 *
 * The preview1 adapter turns `proc_exit(n)` into `wasi:cli/exit.exit(err)` for every n != 0,
 * so `sys.exit(3)` would end a component with 1. This definition of the libc-to-host function
 * (the mechanism of wasi_fs.c) calls `wasi:cli/exit.exit-with-code` (WASI 0.2.12) for a
 * non-zero status instead, and leaves status 0 to the adapter. wit-component resolves the import
 * from the `component-type` metadata pywasm embeds before wrapping the module.
 */
#include <stdint.h>

void pywasm_exit_with_code(int32_t code)
    __attribute__((import_module("wasi:cli/exit@0.2.12"), import_name("exit-with-code"),
                   noreturn));
void host_proc_exit(int32_t code)
    __attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_exit"), noreturn));

_Noreturn void __imported_wasi_snapshot_preview1_proc_exit(int32_t code) {
    if (code != 0)
        pywasm_exit_with_code(code & 0xff);
    host_proc_exit(code);
}
