//! Native code in wheels: found for error messages, and stripped when the project says the
//! distribution works without it.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::archive::{is_record_file, open_archive, read_member};
use super::{Wheel, WheelName, WheelWriter, wheel_label};

/// Native code: shared libraries by suffix (versioned `.so.N` too, the way vendored libraries are
/// named), and anything in a top-level `*.libs` / `*.dylibs` directory (auditwheel, delocate).
fn is_native(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let (top, _) = lower.split_once('/').unwrap_or_default();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    let so_version = file.split_once(".so.").map(|(_, version)| version);
    let versioned_so = so_version.is_some_and(|v| v.split('.').all(number));
    let suffix = [".so", ".pyd", ".dylib", ".dll"].map(|s| file.ends_with(s));
    top.ends_with(".libs") || top.ends_with(".dylibs") || versioned_so || suffix.contains(&true)
}

/// Rewrites `wheel` without native extension files, tagged `py3-none-any`, into `out_dir`.
/// RECORD signatures are dropped too (and reported as removed): they sign the old RECORD.
pub fn strip_native(wheel: &Wheel, out_dir: &Path) -> Result<(PathBuf, Vec<String>)> {
    let label = wheel_label(&wheel.path);
    let tag = |tag: &str| vec![tag.to_owned()];
    let mut writer = WheelWriter::new(WheelName {
        python_tags: tag("py3"),
        abi_tags: tag("none"),
        platform_tags: tag("any"),
        ..wheel.name.clone()
    });
    let mut zip = open_archive(&wheel.path, wheel.limits)?;
    let mut removed = Vec::new();
    for path in wheel.files.iter().map(|f| &f.path) {
        if is_native(path) || is_record_file(&wheel.dist_info, path) {
            if *path != wheel.member("RECORD") {
                removed.push(path.clone());
            }
            continue;
        }
        let mut bytes = read_member(&mut zip, &label, path)?;
        if *path == wheel.member("WHEEL") {
            bytes = retag_pure(&String::from_utf8_lossy(&bytes)).into_bytes();
        }
        writer.add(path, bytes)?;
    }
    Ok((writer.write(out_dir)?, removed))
}

fn retag_pure(wheel_meta: &str) -> String {
    let key = |line: &str| line.split_once(':').map(|(k, _)| k.trim().to_lowercase());
    let replaced = |l: &&str| key(l).is_some_and(|k| k == "tag" || k == "root-is-purelib");
    let mut lines: Vec<&str> = wheel_meta.lines().filter(|l| !replaced(l)).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.extend(["Root-Is-Purelib: true", "Tag: py3-none-any"]);
    lines.join("\n") + "\n"
}

/// Members that carry native code for some platform, for error messages.
pub fn native_members(wheel: &Wheel) -> Vec<String> {
    let native = wheel.files.iter().filter(|f| is_native(&f.path));
    native.map(|f| f.path.clone()).collect()
}
