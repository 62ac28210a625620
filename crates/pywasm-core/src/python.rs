//! The Python side of a build: resolving dependencies with the host's pip and the lock file
//! (`resolve`, `pip`, `lock`), reading and installing wheels (`wheel`, `install`) and the static
//! extension modules in them (`extensions`), collecting the app's and the stdlib's files
//! (`collect`), compiling them to bytecode (`pycompile`), and choosing what the bundle keeps
//! from its import graph (`imports`, `stdlib`, `builtins`).

pub(crate) mod builtins;
pub(crate) mod collect;
pub mod extensions;
pub(crate) mod imports;
pub(crate) mod install;
pub mod lock;
pub mod pip;
pub(crate) mod pycompile;
pub mod resolve;
pub(crate) mod stdlib;
pub mod wheel;
