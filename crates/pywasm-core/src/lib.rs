//! The build pipeline behind `pywasm`.
//!
//! A build is a sequence of typed stages driven by [`pipeline::build`] from a plain-data
//! [`plan::BuildPlan`]; `ARCHITECTURE.md` at the repository's root draws the pipeline and says
//! where each concern lives.

pub mod diagnostic;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod init;
pub mod limits;
pub(crate) mod manifest;
pub mod module;
pub mod pipeline;
pub mod plan;
pub mod process;
pub mod python;
pub mod recipes;
pub mod runner;
pub mod schema;
pub mod sdk;
pub mod settings;
pub mod shell;
pub mod size;

pub use pipeline::{BuildOptions, BuildOutcome, LockOptions, PythonUsed, build, lock};
pub use shell::Shell;

/// The version of this crate, reported by `pywasm --version` and embedded in build outputs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
