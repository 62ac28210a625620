//! Sizes in bytes as users write them, on the command line (`--max-memory 64M`) and in
//! `pyproject.toml` (`tmp-size = "32 MiB"` or a whole number of bytes).

use serde::Deserialize;

/// `64M`, `2G`, `32 MiB`, `1048576`: a size in bytes with an optional K/M/G unit (powers of 1024;
/// `KiB`, `KB` and `K` all mean the same).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 256M or 32 MiB"))?;
    let factor: u64 = match unit
        .trim_start()
        .to_ascii_uppercase()
        .trim_end_matches(['B', 'I'])
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("`{text}` has an unknown unit; use K, M or G")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// A size as `pyproject.toml` would spell it: `"32 MiB"` when it is a whole number of a unit,
/// else bytes. For the defaults the JSON schema states.
pub fn serialize_size<S: serde::Serializer>(bytes: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    match unit_text(*bytes) {
        Some(text) => serializer.serialize_str(&text),
        None => serializer.serialize_u64(*bytes),
    }
}

/// `bytes` as `"32 MiB"` when it is a whole number of a unit.
fn unit_text(bytes: u64) -> Option<String> {
    [(30, "GiB"), (20, "MiB"), (10, "KiB")]
        .into_iter()
        .find(|(shift, _)| bytes != 0 && bytes.is_multiple_of(1 << shift))
        .map(|(shift, unit)| format!("{} {unit}", bytes >> shift))
}

/// `bytes` for a message: `"32 MiB"` when it is a whole number of a unit, else `"1000 bytes"`.
pub fn size_text(bytes: u64) -> String {
    unit_text(bytes).unwrap_or_else(|| format!("{bytes} bytes"))
}

/// `[tool.pywasm]` keys that take a size accept a number of bytes or a string with a unit.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SizeSetting {
    /// Bytes.
    Bytes(u64),
    /// A number and a unit (K, M or G, powers of 1024), as in `"32 MiB"`.
    Text(String),
}

impl SizeSetting {
    /// The number of bytes, or what is wrong with the text.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            SizeSetting::Bytes(n) => Ok(*n),
            SizeSetting::Text(text) => parse_size(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_each_form() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("32 MiB"), Ok(32 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["lots", "-1M", "1.5M", "3 parsecs"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(
            parse_size("99999999999G")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(SizeSetting::Bytes(4096).bytes(), Ok(4096));
        assert_eq!(SizeSetting::Text("1 G".into()).bytes(), Ok(1 << 30));
    }
}
