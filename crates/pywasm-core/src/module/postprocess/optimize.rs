//! wasm-opt's passes (binaryen's C library, see [`super::binaryen`]) over the linked module.
//!
//! binaryen's default pipeline is used with one pass left out: `memory-packing` splits active
//! data segments at runs of zeros, which would cut the embedded file-system image into pieces
//! that neither the C entry nor `pywasm inspect --verify` can find again. Code gets smaller;
//! data stays byte for byte what the bundle stage wrote.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::binaryen::{self, Job};

/// `[tool.pywasm] optimize` and `--optimize`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Optimize {
    /// binaryen `-Oz`: the smallest code.
    Size,
    /// binaryen `-O3`.
    Speed,
    /// No binaryen: the module as clang and wasm-ld optimised it (`-O2`), stripped unless
    /// `--debug`. The dev profile's default.
    #[default]
    None,
}

/// `[tool.pywasm] profile` and `pywasm build --release`: the defaults a build takes where the
/// project and the command line leave a setting out.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Quick rebuilds: no binaryen (`optimize = "none"`).
    #[default]
    Dev,
    /// What gets published: binaryen's `-Oz` (`optimize = "size"`), which costs about 20 s on
    /// a first build and is cached by the module it optimises.
    Release,
}

impl Profile {
    /// `optimize` when neither `--optimize` nor `[tool.pywasm] optimize` sets it.
    pub fn default_optimize(self) -> Optimize {
        match self {
            Profile::Dev => Optimize::None,
            Profile::Release => Optimize::Size,
        }
    }
}

impl Optimize {
    pub fn name(self) -> &'static str {
        match self {
            Optimize::Size => "size",
            Optimize::Speed => "speed",
            Optimize::None => "none",
        }
    }

    /// The wasm-opt flag this corresponds to, for messages.
    pub fn binaryen_flag(self) -> &'static str {
        match self {
            Optimize::Size => "wasm-opt -Oz",
            Optimize::Speed => "wasm-opt -O3",
            Optimize::None => "no wasm-opt",
        }
    }

    /// binaryen's (optimize level, shrink level) for this setting.
    fn levels(self) -> Option<(u32, u32)> {
        match self {
            Optimize::Size => Some((2, 2)),
            Optimize::Speed => Some((3, 0)),
            Optimize::None => None,
        }
    }

    /// What goes into cache keys: changes whenever the output could (`binaryen` is the
    /// library's pinned identity).
    pub fn cache_key(self, debug: bool, binaryen: &str) -> String {
        format!(
            "{binaryen}-{}-{}-passes{PIPELINE_REVISION}",
            self.name(),
            if debug { "names" } else { "stripped" }
        )
    }
}

/// Bumped whenever [`passes`] or the feature set changes, so cached outputs are not reused.
const PIPELINE_REVISION: u32 = 1;

/// The linked module has no `target_features` section, so binaryen is told what the code may
/// use: WebAssembly 2.0 without SIMD, the set `postprocess::PORTABLE_FEATURES` checks.
const FEATURES: &[&str] = &[
    "sign-ext",
    "mutable-globals",
    "nontrapping-float-to-int",
    "bulk-memory",
    "multivalue",
    "reference-types",
];

/// Optimises the module `input` with the binaryen library at `library`. Returns `None` for
/// [`Optimize::None`].
pub fn run(level: Optimize, debug: bool, library: &Path, input: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some((optimize, shrink)) = level.levels() else {
        return Ok(None);
    };
    let mut passes = Vec::new();
    if debug {
        // Names survive optimisation; DWARF would describe code that no longer exists. It goes
        // first, or every pass that cannot keep it up to date warns.
        passes.push("strip-dwarf");
    }
    passes.extend(self::passes(optimize, shrink));
    if !debug {
        passes.extend(["strip-debug", "strip-producers"]);
    }
    let job = Job {
        optimize_level: optimize,
        shrink_level: shrink,
        debug_info: debug,
        features: FEATURES,
        passes: &passes,
    };
    let optimized = binaryen::run(library, input, &job).with_context(|| {
        format!(
            "binaryen (optimize = \"{}\") failed; the module was not changed",
            level.name()
        )
    })?;
    Ok(Some(optimized))
}

/// binaryen 116's default optimisation pipeline (`PassRunner::addDefaultOptimizationPasses` in
/// `src/passes/pass.cpp`, for a module without GC) at levels `-O{o}` with shrink level `s`,
/// without `memory-packing`.
fn passes(o: u32, s: u32) -> Vec<&'static str> {
    let mut p = vec!["duplicate-function-elimination"];
    if o >= 2 {
        p.push("once-reduction");
    }
    if o >= 3 || s >= 1 {
        p.push("ssa-nomerge");
    }
    if o >= 4 {
        p.extend(["flatten", "simplify-locals-notee-nostructure", "local-cse"]);
    }
    p.extend([
        "dce",
        "remove-unused-names",
        "remove-unused-brs",
        "remove-unused-names",
        "optimize-instructions",
    ]);
    if o >= 2 || s >= 2 {
        p.push("pick-load-signs");
    }
    p.push(precompute(o, s));
    if o >= 2 || s >= 2 {
        p.push("code-pushing");
    }
    p.extend([
        "simplify-locals-nostructure",
        "vacuum",
        "reorder-locals",
        "remove-unused-brs",
    ]);
    if o >= 3 || s >= 2 {
        p.push("merge-locals");
    }
    p.push("coalesce-locals");
    if o >= 3 || s >= 1 {
        p.push("local-cse");
    }
    p.extend([
        "simplify-locals",
        "vacuum",
        "reorder-locals",
        "coalesce-locals",
        "reorder-locals",
        "vacuum",
    ]);
    if o >= 3 || s >= 1 {
        p.push("code-folding");
    }
    p.extend([
        "merge-blocks",
        "remove-unused-brs",
        "remove-unused-names",
        "merge-blocks",
    ]);
    p.push(precompute(o, s));
    p.push("optimize-instructions");
    if o >= 2 || s >= 1 {
        p.push("rse");
    }
    p.push("vacuum");
    if o >= 2 || s >= 1 {
        p.push("dae-optimizing");
    }
    if o >= 2 || s >= 2 {
        p.push("inlining-optimizing");
    }
    p.extend([
        "duplicate-function-elimination",
        "duplicate-import-elimination",
    ]);
    if s >= 2 {
        p.push("merge-similar-functions");
    }
    p.push(if o >= 2 || s >= 2 {
        "simplify-globals-optimizing"
    } else {
        "simplify-globals"
    });
    p.push("remove-unused-module-elements");
    if o >= 2 || s >= 1 {
        p.push("reorder-globals");
    }
    p.push("directize");
    if o >= 2 || s >= 1 {
        p.extend(["generate-stack-ir", "optimize-stack-ir"]);
    }
    p
}

fn precompute(o: u32, s: u32) -> &'static str {
    if o >= 3 || s >= 2 {
        "precompute-propagate"
    } else {
        "precompute"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_never_packs_memory() {
        for (o, s) in [(2, 2), (3, 0)] {
            let passes = passes(o, s);
            assert!(!passes.contains(&"memory-packing"));
            assert!(passes.contains(&"optimize-instructions"));
        }
        assert!(passes(2, 2).contains(&"merge-similar-functions"));
        assert!(!passes(3, 0).contains(&"merge-similar-functions"));
    }

    #[test]
    fn levels_are_named_alike_everywhere() {
        use clap::ValueEnum;
        for level in Optimize::value_variants() {
            let name = level.name();
            assert_eq!(Optimize::from_str(name, false).as_ref(), Ok(level));
            assert_eq!(serde_json::to_value(level).unwrap(), name);
        }
    }
}
