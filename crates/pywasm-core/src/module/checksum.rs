//! Publishes the module: written atomically, with `<output>.sha256` in `sha256sum` format so
//! `sha256sum -c` verifies it from the output's directory.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::fsutil::{atomic_write, sha256_hex};

pub struct Published {
    pub path: PathBuf,
    pub checksum_path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

pub fn publish(bytes: &[u8], output: &Path) -> Result<Published> {
    let sha256 = sha256_hex(bytes);
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let checksum_path = PathBuf::from(format!("{}.sha256", output.display()));
    atomic_write(output, bytes)?;
    atomic_write(&checksum_path, format!("{sha256}  {name}\n").as_bytes())?;
    Ok(Published {
        path: output.to_path_buf(),
        checksum_path,
        sha256,
        size: bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_file_is_in_sha256sum_format() {
        let dir = tempfile::tempdir().unwrap();
        let published = publish(b"abc", &dir.path().join("app.wasm")).unwrap();
        let text = fs_err::read_to_string(published.checksum_path).unwrap();
        assert_eq!(
            text,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  app.wasm\n"
        );
        let status = std::process::Command::new("sha256sum")
            .arg("-c")
            .arg("app.wasm.sha256")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
}
