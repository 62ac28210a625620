//! pywasm-core can be published as a crate: everything it embeds (`include_str!`,
//! `include_bytes!`) lies inside its own directory, which is all `cargo package` takes. CI also
//! runs `cargo package -p pywasm-core --allow-dirty --no-verify`.

use std::path::{Path, PathBuf};

#[test]
fn every_embedded_file_is_inside_the_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crate_dir = root.canonicalize().expect("the crate directory");
    let sources =
        pywasm_core::fsutil::walk_files(&root.join("src"), &|_, _| false).expect("walk src/");
    let mut embedded = 0;
    for relative in sources
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let path = root.join("src").join(relative);
        let text = std::fs::read_to_string(&path).expect("a Rust source");
        for target in included(&text) {
            let file = path.parent().expect("a parent").join(&target);
            let resolved = file.canonicalize().unwrap_or_else(|e| {
                panic!("`{}` embeds `{}`: {e}", path.display(), target.display())
            });
            assert!(
                resolved.starts_with(&crate_dir) && resolved.is_file(),
                "`{}` embeds `{}`, outside the crate: `cargo package` would leave it out",
                path.display(),
                target.display()
            );
            embedded += 1;
        }
    }
    assert!(embedded > 20, "found only {embedded} embedded files");
}

/// The literal paths of `include_str!("…")` and `include_bytes!("…")` in `text`.
fn included(text: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for macro_name in ["include_str!(\"", "include_bytes!(\""] {
        let mut rest = text;
        while let Some(at) = rest.find(macro_name) {
            rest = &rest[at + macro_name.len()..];
            if let Some(end) = rest.find('"') {
                found.push(PathBuf::from(&rest[..end]));
            }
        }
    }
    found
}
