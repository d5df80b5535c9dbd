//! Writing the small JSON files of a saved model directory (`config.json`,
//! `tokenizer_config.json`), shared by [`crate::load`] and [`crate::chat`].

use std::path::Path;

use crate::error::{ModelError, Result};

/// Writes `value` pretty-printed, with a final newline, as transformers writes its JSON files.
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| ModelError::format(path, e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| ModelError::io(path, e))
}
