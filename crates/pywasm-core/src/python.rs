//! The Python side of a build: resolving dependencies with the host's pip and the lock file
//! (`resolve`, `pip`, `lock`), reading and installing wheels (`wheel`, `install`) and the static
//! extension modules in them (`extensions`), collecting the app's and the stdlib's files
//! (`collect`), compiling them to bytecode (`pycompile`), and choosing what the bundle keeps
//! from its import graph (`imports`, `stdlib`, `builtins`).

pub mod builtins;
pub mod collect;
pub mod extensions;
pub mod imports;
pub mod install;
pub mod lock;
pub mod pip;
pub mod pycompile;
pub mod resolve;
pub mod stdlib;
pub mod wheel;
