//! wasm-opt (binaryen, linked in through the `wasm-opt` crate) over the linked module.
//!
//! binaryen's default pipeline is used with one pass left out: `memory-packing` splits active
//! data segments at runs of zeros, which would cut the embedded file-system image into pieces
//! that neither the C entry nor `pywasm inspect --verify` can find again. Code gets smaller;
//! data stays byte for byte what the bundle stage wrote.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use wasm_opt::{Feature, OptimizationOptions, Pass};

/// `[tool.pywasm] optimize` and `--optimize`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Optimize {
    /// binaryen `-Oz`: the smallest code.
    Size,
    /// binaryen `-O3`.
    Speed,
    /// No binaryen: the module as clang and wasm-ld optimised it (`-O2`), stripped unless
    /// `--debug`. The default: binaryen's levels saved 2-3.5% of the bytes (under 1% gzipped)
    /// but started no faster, and on node slower (the README has the figures).
    #[default]
    None,
}

impl Optimize {
    pub const NAMES: &'static str = "`size`, `speed` or `none`";

    pub fn parse(text: &str) -> Result<Optimize, String> {
        match text {
            "size" => Ok(Optimize::Size),
            "speed" => Ok(Optimize::Speed),
            "none" => Ok(Optimize::None),
            other => Err(format!(
                "`{other}` is not an optimisation level; use {}",
                Optimize::NAMES
            )),
        }
    }

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

    /// What goes into cache keys: changes whenever the output could. The wasm-opt crate is
    /// pinned by Cargo.lock, so pywasm's own version stands for it.
    pub fn cache_key(self, debug: bool) -> String {
        format!(
            "pywasm-{}-{}-{}-passes{PIPELINE_REVISION}",
            env!("CARGO_PKG_VERSION"),
            self.name(),
            if debug { "names" } else { "stripped" }
        )
    }
}

/// Bumped whenever [`passes`] or the feature set changes, so cached outputs are not reused.
const PIPELINE_REVISION: u32 = 1;

/// Optimises `input` into `output` (both files: binaryen reads and writes paths). Returns false
/// for [`Optimize::None`], leaving `output` unwritten.
pub fn run(level: Optimize, debug: bool, input: &Path, output: &Path) -> Result<bool> {
    let Some((optimize, shrink)) = level.levels() else {
        return Ok(false);
    };
    let mut options = OptimizationOptions::new_opt_level_0();
    options.optimize_level(match optimize {
        3 => wasm_opt::OptimizeLevel::Level3,
        _ => wasm_opt::OptimizeLevel::Level2,
    });
    options.shrink_level(match shrink {
        2 => wasm_opt::ShrinkLevel::Level2,
        _ => wasm_opt::ShrinkLevel::Level0,
    });
    options.debug_info(debug);
    // The linked module has no `target_features` section, so binaryen is told what the code may
    // use: WebAssembly 2.0 without SIMD, the set `postprocess::PORTABLE_FEATURES` checks.
    for feature in [
        Feature::SignExt,
        Feature::MutableGlobals,
        Feature::TruncSat,
        Feature::BulkMemory,
        Feature::Multivalue,
        Feature::ReferenceTypes,
    ] {
        options.enable_feature(feature);
    }
    options.add_default_passes(false);
    for pass in passes(optimize, shrink) {
        options.add_pass(pass);
    }
    if debug {
        // Names survive optimisation; DWARF would describe code that no longer exists (this
        // binaryen is built without DWARF rewriting).
        options.add_pass(Pass::StripDwarf);
    } else {
        options.add_pass(Pass::StripDebug);
        options.add_pass(Pass::StripProducers);
    }
    options
        .run(input, output)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "wasm-opt (optimize = \"{}\") failed on `{}`",
                level.name(),
                input.display()
            )
        })?;
    Ok(true)
}

/// binaryen 116's default optimisation pipeline (`PassRunner::addDefaultOptimizationPasses` in
/// `src/passes/pass.cpp`, for a module without GC) at levels `-O{o}` with shrink level `s`,
/// without `memory-packing`.
fn passes(o: u32, s: u32) -> Vec<Pass> {
    use Pass::*;
    let mut p = vec![DuplicateFunctionElimination];
    if o >= 2 {
        p.push(OnceReduction);
    }
    if o >= 3 || s >= 1 {
        p.push(SsaNomerge);
    }
    if o >= 4 {
        p.extend([Flatten, SimplifyLocalsNoteeNostructure, LocalCse]);
    }
    p.extend([
        Dce,
        RemoveUnusedNames,
        RemoveUnusedBrs,
        RemoveUnusedNames,
        OptimizeInstructions,
    ]);
    if o >= 2 || s >= 2 {
        p.push(PickLoadSigns);
    }
    p.push(precompute(o, s));
    if o >= 2 || s >= 2 {
        p.push(CodePushing);
    }
    p.extend([
        SimplifyLocalsNostructure,
        Vacuum,
        RecorderLocals,
        RemoveUnusedBrs,
    ]);
    if o >= 3 || s >= 2 {
        p.push(MergeLocals);
    }
    p.push(CoalesceLocals);
    if o >= 3 || s >= 1 {
        p.push(LocalCse);
    }
    p.extend([
        SimplifyLocals,
        Vacuum,
        RecorderLocals,
        CoalesceLocals,
        RecorderLocals,
        Vacuum,
    ]);
    if o >= 3 || s >= 1 {
        p.push(CodeFolding);
    }
    p.extend([MergeBlocks, RemoveUnusedBrs, RemoveUnusedNames, MergeBlocks]);
    p.push(precompute(o, s));
    p.push(OptimizeInstructions);
    if o >= 2 || s >= 1 {
        p.push(Rse);
    }
    p.push(Vacuum);
    if o >= 2 || s >= 1 {
        p.push(DaeOptimizing);
    }
    if o >= 2 || s >= 2 {
        p.push(InliningOptimizing);
    }
    p.extend([DuplicateFunctionElimination, DuplicateImportElimination]);
    if s >= 2 {
        p.push(MergeSimilarFunctions);
    }
    p.push(if o >= 2 || s >= 2 {
        SimplifyGlobalsOptimizing
    } else {
        SimplifyGlobals
    });
    p.push(RemoveUnusedModuleElements);
    if o >= 2 || s >= 1 {
        p.push(ReorderGlobals);
    }
    p.push(Directize);
    if o >= 2 || s >= 1 {
        p.extend([GenerateStackIr, OptimizeStackIr]);
    }
    p
}

fn precompute(o: u32, s: u32) -> Pass {
    if o >= 3 || s >= 2 {
        Pass::PrecomputePropagate
    } else {
        Pass::Precompute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_never_packs_memory() {
        for (o, s) in [(2, 2), (3, 0)] {
            let passes = passes(o, s);
            assert!(!passes.iter().any(|p| matches!(p, Pass::MemoryPacking)));
            assert!(
                passes
                    .iter()
                    .any(|p| matches!(p, Pass::OptimizeInstructions))
            );
        }
        assert!(
            passes(2, 2)
                .iter()
                .any(|p| matches!(p, Pass::MergeSimilarFunctions))
        );
        assert!(
            !passes(3, 0)
                .iter()
                .any(|p| matches!(p, Pass::MergeSimilarFunctions))
        );
    }

    #[test]
    fn levels_parse_by_name() {
        for level in [Optimize::Size, Optimize::Speed, Optimize::None] {
            assert_eq!(Optimize::parse(level.name()), Ok(level));
        }
        assert!(
            Optimize::parse("fast")
                .unwrap_err()
                .contains("`size`, `speed` or `none`")
        );
    }
}
