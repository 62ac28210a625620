//! Renders the C entry point and the image assembly from `templates/`. Every value lands in a
//! `#define` as a C string literal; the program only ever concatenates those constants.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::diagnostic::Located;
use crate::module::library::{Library, ModuleKind, WitNames};
use crate::module::preinit::Teardown;
use crate::plan::{BuildPlan, OutputKind};
use crate::python::builtins::Builtin;
use crate::python::extensions::ExtensionModule;

/// main.c, in three parts that share its static state: start and run, the snapshot, the library.
const MAIN_TEMPLATE: &str = concat!(
    include_str!("../../templates/main.c.in"),
    include_str!("../../templates/main_snapshot.c.in"),
    include_str!("../../templates/main_library.c.in"),
);
const IMAGE_TEMPLATE: &str = include_str!("../../templates/image.S.in");
/// The header every generated C source includes.
pub const FS_H: (&str, &str) = ("pywasm_fs.h", include_str!("../../templates/pywasm_fs.h"));
/// The image layout, generated from bundle.rs (`crate::module::bundle::c_header`); embedfs.c includes it.
pub const IMAGE_FORMAT_H: &str = "pywasm_image_format.h";
/// Linked into library builds only: the ABI of docs/abi.md, and the header main.c shares with it.
const LIBRARY_C: (&str, &str) = ("library.c", include_str!("../../templates/library.c"));
pub const LIBRARY_H: (&str, &str) = (
    "pywasm_library.h",
    include_str!("../../templates/pywasm_library.h"),
);
/// Linked into component builds only: non-zero exit statuses through `exit-with-code`.
const EXIT_CODE_C: (&str, &str) = ("exit_code.c", include_str!("../../templates/exit_code.c"));
/// Linked into libraries built as components only: their typed exports (docs/abi.md).
const COMPONENT_C: (&str, &str) = ("component.c", include_str!("../../templates/component.c"));
/// Linked into pre-initialised builds only: the build-time read of the image they link none of.
const BUILD_IMAGE_C: (&str, &str) = (
    "build_image.c",
    include_str!("../../templates/build_image.c"),
);
/// The module's own runtime below wasi-libc, the same in every build: file calls routed to the
/// embedded image, the in-memory /tmp or the host; absolute-time sleeps made relative, for hosts
/// that ignore the flag (node).
const RUNTIME_C: [(&str, &str); 5] = [
    ("wasi_fs.c", include_str!("../../templates/wasi_fs.c")),
    (
        "embedfs.c",
        concat!(
            include_str!("../../templates/embedfs.c"),
            include_str!("../../templates/embedfs_calls.c"),
        ),
    ),
    ("inflate.c", include_str!("../../templates/inflate.c")),
    (
        "memfs.c",
        concat!(
            include_str!("../../templates/memfs.c"),
            include_str!("../../templates/memfs_calls.c"),
        ),
    ),
    ("clock.c", include_str!("../../templates/clock.c")),
];

/// The C and assembly sources of one build, written into the work directory.
#[derive(Clone, Debug)]
pub struct Generated {
    pub main_c: PathBuf,
    /// The sources of `RUNTIME_C`.
    pub runtime_c: Vec<PathBuf>,
    /// The image's assembly; none when pre-initialised, as the snapshot takes the image in from
    /// the build (`templates/build_image.c`).
    pub image_s: Option<PathBuf>,
    pub include_dir: PathBuf,
}

/// The entry point for `plan`, with `builtins` as the interpreter's C modules and registering
/// `extensions` as built-in modules.
pub fn render_main(
    plan: &BuildPlan,
    extensions: &[ExtensionModule],
    builtins: &[Builtin],
) -> Result<String> {
    let (entry, library) = match &plan.kind {
        ModuleKind::Command(entry) => (Some(entry), None),
        ModuleKind::Library(library) => (None, Some(library)),
    };
    render(
        MAIN_TEMPLATE,
        &[
            ("project_name", c_string(&plan.name)),
            (
                "entry_module",
                c_string(entry.map_or("", |e| e.module.as_str())),
            ),
            (
                "entry_attr",
                c_string(entry.map_or("", |e| e.attr.as_str())),
            ),
            ("export_specs", c_string(&export_specs(library))),
            ("exports", exports(library)),
            (
                "host_imports",
                host_imports(library, plan.output_kind.wit()),
            ),
            (
                "component_spec",
                c_string(&component_spec(library, plan.output_kind.wit())),
            ),
            ("python_home", c_string(&plan.guest.python_home)),
            ("stdlib_dir", c_string(&plan.guest.stdlib_dir)),
            ("site_dir", c_string(&plan.guest.site_dir)),
            ("extensions", extension_list(extensions)?),
            ("builtins", builtin_list(builtins)?),
            ("app_dir", c_string(&plan.guest.app_dir)),
            (
                "preinit_imports",
                preinit_imports(&plan.settings.preinit_imports),
            ),
            ("tmp_size", format!("{}ull", plan.settings.tmp_size)),
            (
                "always_teardown",
                u8::from(plan.settings.teardown == Teardown::Always).to_string(),
            ),
        ],
    )
}

/// The X-macro body listing every extension module; each init symbol was checked to be a C
/// identifier when its wheel was read, and is checked again here because it is pasted as code.
fn extension_list(extensions: &[ExtensionModule]) -> Result<String> {
    if extensions.is_empty() {
        return Ok("/* none */".into());
    }
    let mut lines = Vec::new();
    for ext in extensions {
        if !(ext.init.is_ascii() && crate::manifest::is_identifier(&ext.init)) {
            bail!(
                "internal error: init symbol `{}` is not a C identifier",
                ext.init
            );
        }
        lines.push(format!(
            "    PYWASM_EXTENSION({}, {})",
            c_string(&ext.name),
            ext.init
        ));
    }
    Ok(x_macro_body(&lines))
}

/// `[("name", "module:function"), ...]`, a Python literal; every part was checked to be an
/// identifier, so nothing needs quoting.
fn export_specs(library: Option<&Library>) -> String {
    let specs: Vec<String> = library
        .map(|l| l.exports.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|e| format!("('{}', '{}')", e.name, e.target.display()))
        .collect();
    format!("[{}]", specs.join(", "))
}

/// The X-macro body of a library's exports: `PYWASM_EXPORT(index, "name")`.
fn exports(library: Option<&Library>) -> String {
    let Some(library) = library else {
        return "/* none */".into();
    };
    let lines: Vec<String> = library
        .exports
        .iter()
        .enumerate()
        .map(|(i, e)| format!("    PYWASM_EXPORT({i}, {})", c_string(&e.name)))
        .collect();
    x_macro_body(&lines)
}

/// The X-macro body of a library's host imports: `PYWASM_HOST_IMPORT(index, "wasm module",
/// "wasm name", "Python name")`; in a component the wasm names are the WIT ones.
fn host_imports(library: Option<&Library>, wit: Option<&WitNames>) -> String {
    let imports = library.map(|l| l.imports.as_slice()).unwrap_or_default();
    if imports.is_empty() {
        return "/* none */".into();
    }
    let lines: Vec<String> = imports
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let (module, name) = match wit {
                Some(wit) => (&wit.imports[i].0, &wit.imports[i].1),
                None => (&h.module, &h.name),
            };
            format!(
                "    PYWASM_HOST_IMPORT({i}, {}, {}, {})",
                c_string(module),
                c_string(name),
                c_string(&h.name)
            )
        })
        .collect();
    x_macro_body(&lines)
}

/// `'world', [('name', 'wit-name'), ...], {'interface': ['wit-name', ...]}`, the arguments of
/// `pywasm._component.register`; every part is an identifier or a WIT name, so nothing needs
/// quoting. Empty outside component libraries.
fn component_spec(library: Option<&Library>, wit: Option<&WitNames>) -> String {
    let (Some(library), Some(wit)) = (library, wit) else {
        return String::new();
    };
    let exports: Vec<String> = library
        .exports
        .iter()
        .zip(&wit.exports)
        .map(|(e, w)| format!("('{}', '{w}')", e.name))
        .collect();
    let mut interfaces: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (interface, name) in &wit.imports {
        interfaces
            .entry(interface)
            .or_default()
            .push(format!("'{name}'"));
    }
    let imports: Vec<String> = interfaces
        .iter()
        .map(|(interface, names)| format!("'{interface}': [{}]", names.join(", ")))
        .collect();
    format!(
        "'{}', [{}], {{{}}}",
        wit.world,
        exports.join(", "),
        imports.join(", ")
    )
}

/// `import a.b` lines as one C string; the names were checked to be dotted identifiers.
fn preinit_imports(modules: &[Located<String>]) -> String {
    let lines: String = modules
        .iter()
        .map(|m| format!("import {}\n", m.value))
        .collect();
    c_string(&lines)
}

/// The X-macro body of `_PyImport_Inittab`.
fn builtin_list(builtins: &[Builtin]) -> Result<String> {
    let mut lines = Vec::new();
    for builtin in builtins {
        match &builtin.init {
            Some(init) if crate::manifest::is_identifier(init) => lines.push(format!(
                "    PYWASM_BUILTIN({}, {init})",
                c_string(&builtin.name)
            )),
            Some(init) => bail!("internal error: init symbol `{init}` is not a C identifier"),
            None => lines.push(format!(
                "    PYWASM_BUILTIN_CORE({})",
                c_string(&builtin.name)
            )),
        }
    }
    Ok(x_macro_body(&lines))
}

/// Entries of an X-macro `#define`, one per continued line.
fn x_macro_body(lines: &[String]) -> String {
    format!("\\\n{}", lines.join(" \\\n"))
}

/// The assembly that places the image file in the module's read-only data.
pub fn render_image(image: &Path, size: usize) -> Result<String> {
    let Some(path) = image.to_str() else {
        bail!(
            "the work directory `{}` is not valid UTF-8; set TMPDIR to a plain path",
            image.display()
        );
    };
    render(
        IMAGE_TEMPLATE,
        &[
            ("image_path", c_string(path)),
            ("image_size", size.to_string()),
        ],
    )
}

/// Writes every generated source into `work`.
pub fn write_sources(
    plan: &BuildPlan,
    extensions: &[ExtensionModule],
    builtins: &[Builtin],
    work: &Path,
    image: &Path,
    image_size: usize,
) -> Result<Generated> {
    let generated = Generated {
        main_c: work.join("main.c"),
        runtime_c: runtime_sources(plan)
            .iter()
            .map(|(name, _)| work.join(name))
            .collect(),
        image_s: (!plan.settings.preinit).then(|| work.join("image.S")),
        include_dir: work.to_path_buf(),
    };
    fs_err::write(&generated.main_c, render_main(plan, extensions, builtins)?)?;
    for (path, (_, text)) in generated.runtime_c.iter().zip(runtime_sources(plan)) {
        fs_err::write(path, text)?;
    }
    fs_err::write(work.join(FS_H.0), FS_H.1)?;
    fs_err::write(work.join(IMAGE_FORMAT_H), crate::module::bundle::c_header())?;
    fs_err::write(work.join(LIBRARY_H.0), LIBRARY_H.1)?;
    if let Some(image_s) = &generated.image_s {
        fs_err::write(image_s, render_image(image, image_size)?)?;
    }
    Ok(generated)
}

fn runtime_sources(plan: &BuildPlan) -> Vec<(&'static str, &'static str)> {
    let mut sources = RUNTIME_C.to_vec();
    if plan.settings.preinit {
        sources.push(BUILD_IMAGE_C);
    }
    if plan.library().is_some() {
        sources.push(LIBRARY_C);
    }
    match &plan.output_kind {
        OutputKind::Module | OutputKind::CommandComponent { exit_codes: false } => {}
        OutputKind::CommandComponent { exit_codes: true } => sources.push(EXIT_CODE_C),
        OutputKind::LibraryComponent(_) => sources.push(COMPONENT_C),
    }
    sources
}

/// Replaces each `{{key}}`; a placeholder left over is a bug in pywasm, reported as such.
fn render(template: &str, values: &[(&str, String)]) -> Result<String> {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    if let Some(start) = out.find("{{") {
        let end = out[start..].find("}}").map_or(out.len(), |e| start + e + 2);
        bail!(
            "internal error: template placeholder `{}` has no value",
            &out[start..end]
        );
    }
    Ok(out)
}

/// A C string literal for `s`: printable ASCII stays, everything else becomes an octal escape
/// (octal, unlike `\x`, stops after three digits, so a following digit cannot join it).
pub fn c_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'?' => out.push_str("\\?"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::EntryPoint;
    use crate::plan::{DEFAULT_SOURCE_DATE_EPOCH, GuestLayout};
    use crate::settings::Settings;

    fn plan() -> BuildPlan {
        BuildPlan {
            project_dir: "/p".into(),
            manifest_path: "/p/pyproject.toml".into(),
            name: "hello".into(),
            version: "1.0".into(),
            kind: ModuleKind::Command(EntryPoint::parse("hello.cli:main").unwrap()),
            sources: vec![],
            output: "/p/dist/hello.wasm".into(),
            source_date_epoch: DEFAULT_SOURCE_DATE_EPOCH,
            guest: GuestLayout::for_python("3.11"),
            output_kind: OutputKind::Module,
            settings: Settings {
                preinit_imports: vec![Located {
                    value: "json".into(),
                    origin: crate::diagnostic::Origin::command_line("test", "json"),
                }],
                ..Settings::default()
            },
            debug: false,
            deps: Default::default(),
            extras: vec![],
            offline: true,
            build_missing: false,
            entry_points: Default::default(),
            lock_dir: PathBuf::from("/p"),
        }
    }

    fn builtins() -> Vec<Builtin> {
        let available = ["_json", "posix", "unicodedata"].map(String::from).into();
        let wanted = ["_json"].map(String::from).into();
        crate::python::builtins::table(&available, Some(&wanted), &[])
    }

    #[test]
    fn main_c_snapshot() {
        insta::assert_snapshot!(render_main(&plan(), &[], &builtins()).unwrap());
    }

    #[test]
    fn main_c_with_extensions_snapshot() {
        let ext = |name: &str, init: &str| ExtensionModule {
            name: name.into(),
            init: init.into(),
            archive: "x.a".into(),
            dist: "pkg".into(),
            imports: vec![],
        };
        let extensions = [
            ext("pkg.sub._multi", "PyInit__multi"),
            ext("pkg._single", "PyInit__single"),
        ];
        insta::assert_snapshot!(render_main(&plan(), &extensions, &builtins()).unwrap());
    }

    #[test]
    fn image_s_snapshot() {
        insta::assert_snapshot!(render_image(Path::new("/work/image.bin"), 1234).unwrap());
    }

    #[test]
    fn no_runtime_formatting_in_the_entry_point() {
        let main = render_main(&plan(), &[], &builtins()).unwrap();
        for banned in [
            "printf", "sprintf", "snprintf", "strcat", "strcpy", "malloc",
        ] {
            assert!(
                !main.contains(&format!("{banned}(")),
                "generated C calls {banned}"
            );
        }
        assert!(main.contains("#define PYWASM_ENTRY_MODULE \"hello.cli\""));
        assert!(
            main.contains("run_entry(PYWASM_RUN_CMD)") && main.contains("\"    \" PYWASM_CALL_CMD")
        );
    }

    #[test]
    fn c_strings_escape_everything_unusual() {
        assert_eq!(c_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(c_string("é1"), r#""\303\2511""#);
        assert_eq!(c_string("??="), r#""\?\?=""#);
    }

    #[test]
    fn leftover_placeholders_are_reported() {
        assert!(render("x {{missing}}", &[]).is_err());
    }
}
