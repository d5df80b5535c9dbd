//! Line-oriented JSON reading with `file:line: field: expected X, found Y` errors. Lines are
//! parsed in parallel (rayon); the result keeps file order.

use std::path::Path;

use rayon::prelude::*;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads a whole file, transparently gunzipping `.gz` files.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut out)
            .map_err(|e| Error::io(path, e))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Splits `bytes` into (1-based line number, line) for every non-blank line.
pub(crate) fn lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// Decodes one line as UTF-8, naming the byte offset of the first bad byte.
pub(crate) fn utf8<'a>(path: &Path, line_no: usize, line: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(line).map_err(|e| {
        Error::record(
            path,
            line_no,
            None,
            format!(
                "expected UTF-8 text, found invalid byte 0x{:02x} at byte {}",
                line[e.valid_up_to()],
                e.valid_up_to() + 1
            ),
        )
    })
}

/// Parses one JSON line into `T`, naming the field path on a type error. The fast path is a
/// plain parse; only a line that fails is parsed again with field-path tracking for the message.
pub(crate) fn parse_line<T: DeserializeOwned>(
    path: &Path,
    line_no: usize,
    line: &[u8],
) -> Result<T> {
    let text = utf8(path, line_no, line)?;
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let message = describe_json_error(&inner, text);
        let field = (field != "." && !field.is_empty()).then_some(field);
        Error::record(path, line_no, field.as_deref(), message)
    })?;
    de.end()
        .map_err(|e| Error::record(path, line_no, None, describe_json_error(&e, text)))?;
    Ok(value)
}

/// Reads every line of a JSONL file into `T`, returning `(line number, record)` in file order.
pub(crate) fn read_jsonl<T: DeserializeOwned + Send>(path: &Path) -> Result<Vec<(usize, T)>> {
    let bytes = read_bytes(path)?;
    lines(&bytes)
        .into_par_iter()
        .map(|(n, l)| parse_line(path, n, l).map(|v| (n, v)))
        .collect()
}

/// serde_json's messages say "expected X" well; this makes truncation explicit.
fn describe_json_error(e: &serde_json::Error, text: &str) -> String {
    use serde_json::error::Category;
    let msg = e.to_string();
    // serde_json appends " at line L column C"; the line is always 1 here, keep the column.
    let msg = match msg.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &msg[..i], e.column()),
        None => msg,
    };
    match e.classify() {
        Category::Eof => format!("invalid JSON: the record ends early, is the line truncated? ({msg}; line has {} bytes)", text.len()),
        Category::Syntax => format!("invalid JSON: {msg}"),
        _ => msg,
    }
}
