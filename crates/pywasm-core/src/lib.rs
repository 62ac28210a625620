//! The build pipeline behind `pywasm`.
//!
//! A build is a sequence of typed stages driven by [`pipeline::build`] from a plain-data
//! [`plan::BuildPlan`]; `ARCHITECTURE.md` at the repository's root draws the pipeline and says
//! where each concern lives.

pub mod builtins;
pub mod bundle;
pub mod checksum;
pub mod codegen;
pub mod collect;
pub mod describe;
pub mod diagnostic;
pub mod doctor;
pub mod extensions;
pub mod fsutil;
pub mod imports;
pub mod init;
pub mod inspect;
pub mod install;
pub mod library;
pub mod link;
pub mod lock;
pub mod manifest;
pub mod pins;
pub mod pip;
pub mod pipeline;
pub mod plan;
pub mod postprocess;
pub mod preinit;
pub mod prepare;
pub mod process;
pub mod pycompile;
pub mod resolve;
pub mod run;
pub mod runtime;
pub mod schema;
pub mod sdk;
pub mod settings;
pub mod shell;
pub mod size;
pub mod stdlib;
pub mod testing;
pub mod wheel;
pub mod wit;

pub use pipeline::{BuildOptions, BuildOutcome, LockOptions, build, lock};
pub use shell::Shell;

/// The version of this crate, reported by `pywasm --version` and embedded in build outputs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
