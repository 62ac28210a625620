//! RECORD (PEP 376 as wheels use it): checked against every member when a wheel is opened, and
//! written for every wheel pywasm installs or writes.

use std::collections::BTreeMap;

use anyhow::Result;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::archive::{Archive, is_record_file, member_text, read_member};
use super::{OUTDATED, TAMPERED, WheelFile, wheel_error};

pub(super) fn verify_record(
    zip: &mut Archive,
    label: &str,
    dist: &str,
    files: &[WheelFile],
) -> Result<()> {
    let text = member_text(zip, label, &format!("{dist}/RECORD"))?;
    let mut record = BTreeMap::new();
    for row in parse_csv(&text).into_iter().filter(|r| !r[0].is_empty()) {
        let field = |i: usize| row.get(i).cloned().unwrap_or_default();
        record.insert(field(0), (field(1), field(2)));
    }
    let mismatch = |what: String, help: &str| {
        wheel_error(label, format!("does not match its RECORD: {what}"), help)
    };
    for file in files.iter().filter(|f| !is_record_file(dist, &f.path)) {
        let path = &file.path;
        let Some((hash, size)) = record.remove(path) else {
            let help = "the file was added after the wheel was built; download it again or \
                        rebuild it";
            return Err(mismatch(format!("`{path}` is not listed in it"), help));
        };
        let bytes = read_member(zip, label, path)?;
        let checked = check_hash(&hash, &bytes);
        checked.map_err(|(why, help)| mismatch(format!("`{path}` {why}"), help))?;
        if !size.is_empty() && size.parse::<usize>().ok() != Some(bytes.len()) {
            let what = format!("`{path}` is {} bytes, RECORD says {size}", bytes.len());
            return Err(mismatch(what, TAMPERED));
        }
    }
    if let Some(absent) = record.keys().find(|p| !is_record_file(dist, p)) {
        let what = format!("it lists `{absent}`, which the archive does not hold");
        let help = "the wheel is incomplete; download it again or rebuild it";
        return Err(mismatch(what, help));
    }
    Ok(())
}

/// Checks a RECORD hash (`algo=urlsafe-b64`); the error is a phrase about the member, and help.
pub(super) fn check_hash(hash: &str, bytes: &[u8]) -> Result<(), (String, &'static str)> {
    let (algo, expected) = hash.split_once('=').unwrap_or((hash, ""));
    let actual = match algo {
        "sha256" => b64_urlsafe_nopad(&Sha256::digest(bytes)),
        "sha384" => b64_urlsafe_nopad(&Sha384::digest(bytes)),
        "sha512" => b64_urlsafe_nopad(&Sha512::digest(bytes)),
        "" => return Err(("has no hash in RECORD".to_owned(), OUTDATED)),
        _ => return Err((format!("has a `{algo}` hash; use sha256/384/512"), OUTDATED)),
    };
    let expected = expected.trim_end_matches('=');
    if actual != expected {
        let why = format!("has {algo} {actual}, RECORD says {expected}");
        return Err((why, TAMPERED));
    }
    Ok(())
}

/// RFC 4180 rows, each with at least one field; quoted fields may hold commas, doubled quotes
/// and line breaks.
pub(super) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
            (_, '"') => in_quotes = !in_quotes,
            (true, c) => field.push(c),
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// A RECORD row; `None` for RECORD itself, which cannot hash itself.
pub(crate) fn record_line(path: &str, bytes: Option<&[u8]>) -> String {
    let path = if path.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", path.replace('"', "\"\""))
    } else {
        path.to_owned()
    };
    let Some(bytes) = bytes else {
        return format!("{path},,");
    };
    let hash = b64_urlsafe_nopad(&Sha256::digest(bytes));
    format!("{path},sha256={hash},{}", bytes.len())
}

pub(super) fn b64_urlsafe_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        // n input bytes carry n + 1 sextets; the rest would only be padding.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
