//! Installs the resolved wheels into the module's site-packages, as pip would, after checking
//! each against its RECORD. Pure wheels are taken as they are; WASI wheels also bring static
//! extension modules, which go to the linker instead of the image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::diagnostic::Diagnostic;
use crate::fsutil::{slash_path, walk_files};
use crate::limits::ArchiveLimits;
use crate::python::collect::FileEntry;
use crate::python::extensions::Extensions;
use crate::python::lock::Source;
use crate::python::resolve::Resolution;
use crate::python::wheel::{self, Platform, Wheel};

/// A distribution as it went into the module, for `pywasm build --list`.
#[derive(Clone, Debug)]
pub struct InstalledDist {
    pub name: String,
    pub version: String,
    pub platform: Platform,
    pub source: Source,
    pub files: usize,
    pub size: u64,
    /// The wheel's sha256.
    pub sha256: String,
}

#[derive(Clone, Debug, Default)]
pub struct Installed {
    /// Files for the image, below the guest site-packages directory.
    pub files: Vec<FileEntry>,
    pub dists: Vec<InstalledDist>,
    pub extensions: Extensions,
}

/// Where site-packages is on the host while building, and inside the module.
pub struct SiteDirs<'a> {
    pub host: &'a Path,
    pub guest: &'a str,
}

/// Installs every distribution of `resolution`, then the project's own `.dist-info` so that
/// `importlib.metadata.version()` knows the app too.
pub fn install(
    resolution: &Resolution,
    project: &ProjectMetadata,
    site: &SiteDirs,
    python_minor: &str,
    limits: ArchiveLimits,
) -> Result<Installed> {
    fs_err::create_dir_all(site.host)?;
    let mut installed = Installed::default();
    for dist in &resolution.dists {
        let file = &dist.locked.file;
        let wheel =
            Wheel::open(&dist.wheel, limits).with_context(|| format!("refusing `{file}`"))?;
        let platform = wheel.name.platform();
        match &platform {
            Platform::Pure => {
                let native = wheel::native_members(&wheel);
                if let Some(first) = native.first() {
                    bail!(
                        Diagnostic::new(format!(
                            "`{file}` is tagged pure Python but carries native code (`{first}`)"
                        ))
                        .help(format!(
                            "supply a WASI build of `{}` in `[tool.pywasm] wheels`, or list it in `[tool.pywasm] without-extensions`",
                            dist.locked.name
                        ))
                    );
                }
            }
            Platform::Wasi => {}
            Platform::Other(tags) => bail!(
                Diagnostic::new(format!("`{file}` is built for `{tags}`, not for WASI")).help(
                    format!(
                        "supply a WASI build of `{}` (see \"WASI extension wheels\" in pywasm's README)",
                        dist.locked.name
                    )
                )
            ),
        }
        let done = wheel
            .install(site.host)
            .with_context(|| format!("failed to install `{file}`"))?;
        let dist_info = site.host.join(&wheel.dist_info);
        let has_ext = installed.extensions.add_wheel(
            &dist.locked.name,
            &dist_info,
            site.host,
            python_minor,
        )?;
        if platform == Platform::Wasi && !has_ext {
            let native = wheel::native_members(&wheel);
            if let Some(first) = native.first() {
                bail!(
                    Diagnostic::new(format!(
                        "`{file}` carries `{first}`, a dynamically loaded module; a WASI module cannot load shared libraries"
                    ))
                    .help(
                        "build it as a static WASI extension wheel (see \"WASI extension wheels\" in pywasm's README)"
                    )
                );
            }
        }
        let (files, size) = embedded(&done);
        installed.dists.push(InstalledDist {
            name: wheel.metadata_name.clone(),
            version: wheel.metadata_version.clone(),
            platform,
            source: dist.locked.source,
            files,
            size,
            sha256: dist.locked.sha256.clone(),
        });
    }
    installed.extensions.check_unique()?;
    project_metadata(site.host, project)?;
    installed.files = image_files(site)?;
    Ok(installed)
}

/// What the project's own `.dist-info` says.
pub struct ProjectMetadata<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub entry_points: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// Prefix of the stdlib extension wheels `pywasm wheel build` makes (zlib, sqlite3).
pub(crate) const STDLIB_WHEEL_PREFIX: &str = "pywasm_stdlib_";

/// A stdlib extension wheel from pywasm's built-wheel directory, and the modules it provides.
#[derive(Clone, Debug)]
pub struct StdlibWheel {
    pub path: PathBuf,
    pub modules: Vec<String>,
}

/// The stdlib extension wheels in `index` that this CPython can use, newest version of each.
pub fn stdlib_wheels(
    index: &Path,
    python_minor: &str,
    limits: ArchiveLimits,
) -> Result<Vec<StdlibWheel>> {
    if !index.is_dir() {
        return Ok(Vec::new());
    }
    let tag = format!("cp{}", python_minor.replace('.', ""));
    let mut newest: BTreeMap<String, (Vec<u64>, PathBuf)> = BTreeMap::new();
    for entry in fs_err::read_dir(index)? {
        let path = entry?.path();
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(name) = wheel::WheelName::parse(&file) else {
            continue;
        };
        if !file.starts_with(STDLIB_WHEEL_PREFIX) || !name.python_tags.contains(&tag) {
            continue;
        }
        let version: Vec<u64> = name
            .version
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let slot = newest
            .entry(name.distribution.clone())
            .or_insert((version.clone(), path.clone()));
        if version > slot.0 {
            *slot = (version, path);
        }
    }
    let mut out = Vec::new();
    for (_, (_, path)) in newest {
        let wheel =
            Wheel::open(&path, limits).with_context(|| format!("refusing `{}`", path.display()))?;
        let text = wheel.read(&format!(
            "{}/{}",
            wheel.dist_info,
            crate::python::extensions::METADATA_FILE
        ))?;
        let modules = crate::python::extensions::declared_modules(&String::from_utf8_lossy(&text))?;
        out.push(StdlibWheel { path, modules });
    }
    Ok(out)
}

/// Installs stdlib extension wheels chosen after the import scan.
pub fn add_stdlib_wheels(
    installed: &mut Installed,
    wheels: &[&StdlibWheel],
    site: &SiteDirs,
    python_minor: &str,
    limits: ArchiveLimits,
) -> Result<()> {
    for stdlib in wheels {
        let wheel = Wheel::open(&stdlib.path, limits)
            .with_context(|| format!("refusing `{}`", stdlib.path.display()))?;
        let done = wheel.install(site.host)?;
        let dist_info = site.host.join(&wheel.dist_info);
        installed.extensions.add_wheel(
            &wheel.metadata_name,
            &dist_info,
            site.host,
            python_minor,
        )?;
        let (files, size) = embedded(&done);
        installed.dists.push(InstalledDist {
            name: wheel.metadata_name.clone(),
            version: wheel.metadata_version.clone(),
            platform: Platform::Wasi,
            source: Source::Built,
            files,
            size,
            sha256: crate::fsutil::sha256_file(&stdlib.path)?,
        });
    }
    installed.extensions.check_unique()?;
    installed.files = image_files(site)?;
    Ok(())
}

/// A minimal `.dist-info` for the project itself: name, version and entry points.
fn project_metadata(site: &Path, project: &ProjectMetadata) -> Result<()> {
    let (name, version) = (project.name, project.version);
    let dir = site.join(format!(
        "{}-{}.dist-info",
        wheel::escape_name(name),
        version
    ));
    if dir.exists() {
        bail!(
            Diagnostic::new(format!(
                "the project `{name}` is also one of its own dependencies"
            ))
            .help("remove it from `[project].dependencies`")
        );
    }
    fs_err::create_dir_all(&dir)?;
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    let base = slash_path(dir.strip_prefix(site).unwrap_or(&dir));
    let mut entry_points = String::new();
    for (group, entries) in project.entry_points {
        entry_points.push_str(&format!("[{group}]\n"));
        for (key, value) in entries {
            entry_points.push_str(&format!("{key} = {value}\n"));
        }
        entry_points.push('\n');
    }
    let mut files = vec![
        ("METADATA", metadata.into_bytes()),
        ("INSTALLER", b"pywasm\n".to_vec()),
    ];
    if !entry_points.is_empty() {
        files.push(("entry_points.txt", entry_points.into_bytes()));
    }
    let mut record = String::new();
    for (file, bytes) in files {
        fs_err::write(dir.join(file), bytes)?;
        record.push_str(&format!("{base}/{file},,\n"));
    }
    record.push_str(&format!("{base}/RECORD,,\n"));
    fs_err::write(dir.join("RECORD"), record)?;
    Ok(())
}

/// Everything installed except static archives, which are linked, not embedded.
fn image_files(site: &SiteDirs) -> Result<Vec<FileEntry>> {
    let files = walk_files(site.host, &|_, name| name == "__pycache__")?;
    Ok(files
        .into_iter()
        .filter(|rel| !is_link_input(rel))
        .map(|rel| FileEntry {
            guest: format!("{}/{}", site.guest, slash_path(&rel)),
            host: site.host.join(rel),
        })
        .collect())
}

/// The count and size of what a wheel puts into the image (its archives are linked instead).
fn embedded(done: &wheel::Unpacked) -> (usize, u64) {
    let kept: Vec<&wheel::WheelFile> = done
        .files
        .iter()
        .filter(|f| !is_link_input(Path::new(&f.path)))
        .collect();
    (kept.len(), kept.iter().map(|f| f.size).sum())
}

fn is_link_input(rel: &Path) -> bool {
    let in_dist_info = rel
        .components()
        .next()
        .is_some_and(|c| c.as_os_str().to_string_lossy().ends_with(".dist-info"));
    in_dist_info && rel.extension().is_some_and(|e| e == "a")
}

/// The site-packages directory inside a work directory.
pub fn host_site_dir(work: &Path) -> PathBuf {
    work.join("site-packages")
}

/// Total size of the files, for reports.
pub fn total_size(files: &[FileEntry]) -> Result<u64> {
    let mut total = 0;
    for f in files {
        total += fs_err::metadata(&f.host)?.len();
    }
    Ok(total)
}
