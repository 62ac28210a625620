//! The table of C modules built into the interpreter (`_PyImport_Inittab`), generated per build.
//!
//! libpython's own `config.o` lists every C module CPython was configured with, so linking it
//! pulls all of them in: the CJK codecs, `unicodedata`, `_decimal`, the `_test*` modules. pywasm
//! defines the table itself in the generated entry point, which keeps the linker from ever loading
//! `config.o`; a C module then costs bytes only when the import graph reaches it.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The entries of CPython's `Modules/config.c.in`: the interpreter's core, whose init functions
/// do not follow the `PyInit_<name>` pattern or are linked in regardless.
const CORE: &[(&str, Option<&str>)] = &[
    ("marshal", Some("PyMarshal_Init")),
    ("_imp", Some("PyInit__imp")),
    ("_ast", Some("PyInit__ast")),
    ("_tokenize", Some("PyInit__tokenize")),
    ("builtins", None),
    ("sys", None),
    ("gc", Some("PyInit_gc")),
    ("_warnings", Some("_PyWarnings_Init")),
    ("_string", Some("PyInit__string")),
];

/// C modules that the frozen import machinery and the interpreter's start-up import by name,
/// which no Python source in the bundle shows.
const STARTUP: &[&str] = &["posix", "_io", "_thread", "_weakref", "_codecs", "_abc"];

/// Modules that exist only for CPython's own test suite; `stdlib = "full"` leaves them out too,
/// unless something imports them.
fn test_only(name: &str) -> bool {
    name.starts_with("_test") || name == "_xxtestfuzz" || name.starts_with("xx")
}

/// One row of `_PyImport_Inittab`; `init` is `None` for the modules the interpreter creates
/// itself (`sys`, `builtins`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub name: String,
    pub init: Option<String>,
}

/// The C modules an SDK's libpython carries: every `PyInit_<name>` its archive index defines.
pub fn available(libpython: &Path) -> Result<BTreeSet<String>> {
    let symbols = archive_symbols(libpython)
        .with_context(|| format!("cannot read the symbol index of `{}`", libpython.display()))?;
    Ok(symbols
        .iter()
        .filter_map(|s| s.strip_prefix("PyInit_"))
        .map(str::to_string)
        .collect())
}

/// The table for a bundle: the core, what start-up needs, the available modules that `wanted`
/// says are used (`None`: all but the test-only ones, for `stdlib = "full"`), and `included`.
pub fn table(
    available: &BTreeSet<String>,
    wanted: Option<&BTreeSet<String>>,
    included: &[&str],
) -> Vec<Builtin> {
    let mut rows: Vec<Builtin> = CORE
        .iter()
        .map(|(name, init)| Builtin {
            name: name.to_string(),
            init: init.map(str::to_string),
        })
        .collect();
    for name in available {
        if CORE.iter().any(|(core, _)| core == name) {
            continue;
        }
        let used = included.contains(&name.as_str())
            || STARTUP.contains(&name.as_str())
            || match wanted {
                Some(wanted) => wanted.contains(name),
                None => !test_only(name),
            };
        if used {
            rows.push(Builtin {
                name: name.clone(),
                init: Some(format!("PyInit_{name}")),
            });
        }
    }
    rows
}

/// The names in a System V / GNU `ar` archive's symbol index (the first member, `/`): a
/// big-endian count, that many member offsets, then the NUL-terminated names.
fn archive_symbols(path: &Path) -> Result<Vec<String>> {
    let mut file = fs_err::File::open(path)?;
    let mut head = [0u8; 8 + 60];
    file.read_exact(&mut head)?;
    if &head[..8] != b"!<arch>\n" {
        bail!("not an `ar` archive");
    }
    let header = &head[8..];
    if &header[..16] != b"/               " {
        bail!("the archive has no symbol index; run `ranlib` on it");
    }
    let size: usize = std::str::from_utf8(&header[48..58])?
        .trim()
        .parse()
        .context("bad member size in the archive header")?;
    let mut index = vec![0u8; size];
    file.read_exact(&mut index)?;
    let count = u32::from_be_bytes(index[..4].try_into()?) as usize;
    let names = index
        .get(4 + 4 * count..)
        .context("the symbol index is truncated")?;
    Ok(names
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .take(count)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(rows: &[Builtin]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn the_table_keeps_what_is_used_and_the_core() {
        let available: BTreeSet<String> =
            ["_codecs_jp", "_json", "_testcapi", "posix", "unicodedata"]
                .map(String::from)
                .into();
        let wanted: BTreeSet<String> = ["json", "_json"].map(String::from).into();
        let rows = table(&available, Some(&wanted), &[]);
        let got = names(&rows);
        assert!(got.contains(&"_json") && got.contains(&"posix") && got.contains(&"sys"));
        assert!(!got.contains(&"_codecs_jp") && !got.contains(&"_testcapi"));
        let full = table(&available, None, &[]);
        assert!(names(&full).contains(&"unicodedata") && !names(&full).contains(&"_testcapi"));
        let included = table(&available, None, &["_testcapi"]);
        assert!(names(&included).contains(&"_testcapi"));
        let warnings = rows.iter().find(|r| r.name == "_warnings").unwrap();
        assert_eq!(warnings.init.as_deref(), Some("_PyWarnings_Init"));
    }

    #[test]
    fn the_archive_index_names_the_modules() {
        let names = b"PyInit__json\0Py_Initialize\0PyInit_unicodedata\0";
        let mut index = 3u32.to_be_bytes().to_vec();
        index.extend([0u8; 12]);
        index.extend(names);
        let mut archive = b"!<arch>\n".to_vec();
        archive.extend(format!("{:<16}{:<32}{:<10}`\n", "/", "0", index.len()).into_bytes());
        archive.extend(&index);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libpython.a");
        fs_err::write(&path, archive).unwrap();
        let found: Vec<String> = available(&path).unwrap().into_iter().collect();
        assert_eq!(found, ["_json", "unicodedata"]);
        fs_err::write(&path, b"!<arch>\nnot an index").unwrap();
        assert!(available(&path).is_err());
    }
}
