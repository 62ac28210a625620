//! `__rust_probestack` for wasmer-vm 6 on x86-64 Linux (wasmer issue 5610).
//!
//! wasmer-vm takes the address of `__rust_probestack` on x86-64 (for the stack probes of its
//! optimising compilers; singlepass, the only compiler this host has, never calls it). Rust
//! 1.89 stopped exporting that symbol from compiler-builtins, so the host does not link without
//! one. This one keeps the contract all the same: on entry `rax` holds the frame's size in
//! bytes; it touches each 4 KiB page of the frame below the caller's stack pointer, from the
//! top down, so that a guard page is hit in order, and returns with every register but `r11`
//! and the flags as it found them. x86-64 Linux only (the only host CI builds this on).

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
std::arch::global_asm!(
    ".globl __rust_probestack",
    ".type __rust_probestack, @function",
    "__rust_probestack:",
    "    push rbp",
    "    mov rbp, rsp",
    "    mov r11, rax",
    "2:",
    "    cmp r11, 0x1000",
    "    jbe 3f",
    "    sub rsp, 0x1000",
    "    test qword ptr [rsp], rsp",
    "    sub r11, 0x1000",
    "    jmp 2b",
    "3:",
    "    sub rsp, r11",
    "    test qword ptr [rsp], rsp",
    "    mov rsp, rbp",
    "    pop rbp",
    "    ret",
    ".size __rust_probestack, . - __rust_probestack",
);
