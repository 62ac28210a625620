//! The WebAssembly side of a build: the embedded file system image (`bundle`), the C entry point
//! generated from `templates/` (`codegen`) and its link with libpython (`link`), the build-time
//! snapshot (`preinit`), binaryen, validation and components (`postprocess`), the module's
//! description of itself (`describe`), the library ABI and its WIT world (`library`, `wit`), and
//! publishing with a checksum (`checksum`).

pub mod bundle;
pub(crate) mod checksum;
pub(crate) mod codegen;
pub mod describe;
pub mod library;
pub mod link;
pub mod postprocess;
pub(crate) mod preinit;
pub mod wit;
