//! What `--build-missing` acts on: the error of a dependency or a lock entry whose wheel one of
//! pywasm's recipes builds, and the retry after building it.

use anyhow::Result;

use super::{WheelOptions, build_all, command};
use crate::Shell;
use crate::diagnostic::Diagnostic;
use crate::sdk::SdkHome;
use crate::sdk::pins::Pins;

/// Dependencies that pywasm's recipes build and that are not built for this CPython yet: what
/// `--build-missing` builds before it resolves again. Users read it as its diagnostic.
#[derive(Debug)]
pub struct MissingWheels {
    /// Recipe names, sorted, without repeats.
    pub recipes: Vec<String>,
    pub diagnostic: Diagnostic,
}

impl MissingWheels {
    /// `what` is each distribution as the error names it (`` `lxml` 6.1.0 ``), with its recipe.
    pub fn new(title: String, missing: &[(String, &str)], minor: &str) -> MissingWheels {
        let mut recipes: Vec<String> = missing.iter().map(|(_, r)| r.to_string()).collect();
        recipes.sort();
        recipes.dedup();
        let commands: Vec<String> = recipes.iter().map(|r| command(r, minor)).collect();
        let mut diagnostic = Diagnostic::new(title).help(format!(
            "run `{}` (once per machine; a recipe takes from seconds to about ten minutes on two \
             cores), or `pywasm build --build-missing` to run it now",
            commands.join(" && ")
        ));
        for (what, recipe) in missing {
            diagnostic = diagnostic.note(format!(
                "{what} has no WASI wheel on the index; pywasm's recipe `{recipe}` builds one \
                 into `$PYWASM_HOME/wheels/index`, which every build offers to pip"
            ));
        }
        MissingWheels {
            recipes,
            diagnostic,
        }
    }

    /// The one an error carries, if any.
    pub fn find(err: &anyhow::Error) -> Option<&MissingWheels> {
        err.chain().find_map(|e| e.downcast_ref::<MissingWheels>())
    }
}

impl std::fmt::Display for MissingWheels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.diagnostic.fmt(f)
    }
}

impl std::error::Error for MissingWheels {}

/// Runs `attempt`; when it fails for want of wheels pywasm's recipes build and `build_missing`
/// is set, builds them for CPython `minor` and runs it once more.
pub fn retry_with_missing<T>(
    shell: &Shell,
    home: &SdkHome,
    minor: &str,
    build_missing: bool,
    mut attempt: impl FnMut() -> Result<T>,
) -> Result<T> {
    let err = match attempt() {
        Ok(done) => return Ok(done),
        Err(err) => err,
    };
    let Some(missing) = MissingWheels::find(&err).filter(|_| build_missing) else {
        return Err(err);
    };
    let built = missing.recipes.clone();
    build_for(shell, home, &built, minor)?;
    attempt().map_err(|err| match MissingWheels::find(&err) {
        Some(again) if again.recipes == built => err.context(format!(
            "the wheels of {} were built for CPython {minor}, and pip still found none it \
             could use",
            built.join(", ")
        )),
        _ => err,
    })
}

/// Builds recipes `names` for CPython `minor`, as `--build-missing` does.
pub fn build_for(shell: &Shell, home: &SdkHome, names: &[String], minor: &str) -> Result<()> {
    shell.status(
        "Building",
        &format!(
            "the missing WASI wheels ({}) for CPython {minor}, as `--build-missing` asks",
            names.join(", ")
        ),
    );
    let pins = Pins::embedded()?.with_python(Some(minor))?;
    build_all(shell, home, names, &[pins], WheelOptions::default())?;
    Ok(())
}
