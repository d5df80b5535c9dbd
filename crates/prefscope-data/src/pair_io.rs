//! Reading and writing pair tables: Parquet (`.parquet`) or JSON lines (`.jsonl`), chosen by
//! the file extension. Both carry the same columns; in Parquet `prompt` is a
//! `list<struct<role, content>>`, the layout TRL's conversational format uses.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, StructArray, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::jsonl;
use crate::pair::{Message, Pair, PairKind};

/// Table formats, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Parquet,
    Jsonl,
}

impl TableFormat {
    /// The format of a path from its extension (`.parquet`, `.jsonl`, `.jsonl.gz` for reading).
    pub fn from_path(path: &Path) -> Result<TableFormat> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".parquet") {
            Ok(TableFormat::Parquet)
        } else if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") {
            Ok(TableFormat::Jsonl)
        } else {
            Err(Error::file(
                path,
                "expected a file name ending in .parquet or .jsonl",
            ))
        }
    }
}

/// Writes pairs atomically in the format the extension names.
pub fn write_pairs(path: &Path, pairs: &[Pair]) -> Result<()> {
    match TableFormat::from_path(path)? {
        TableFormat::Jsonl => write_atomic(path, |w| {
            for p in pairs {
                serde_json::to_writer(&mut *w, p).map_err(|e| Error::table(path, e))?;
                w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
            }
            Ok(())
        }),
        TableFormat::Parquet => {
            let batch = to_record_batch(pairs).map_err(|e| Error::table(path, e))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            write_atomic(path, |w| {
                let mut writer = ArrowWriter::try_new(w, batch.schema(), Some(props))
                    .map_err(|e| Error::table(path, e))?;
                writer.write(&batch).map_err(|e| Error::table(path, e))?;
                writer.close().map_err(|e| Error::table(path, e))?;
                Ok(())
            })
        }
    }
}

/// Reads a pair table written by [`write_pairs`] (or any table with the same columns).
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    match TableFormat::from_path(path)? {
        TableFormat::Jsonl => Ok(jsonl::read_jsonl::<Pair>(path)?
            .into_iter()
            .map(|(_, p)| p)
            .collect()),
        TableFormat::Parquet => read_parquet(path),
    }
}

fn prompt_fields() -> Fields {
    Fields::from(vec![
        Field::new("role", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, false),
    ])
}

/// The Arrow schema of a pair table.
pub fn pair_schema() -> Schema {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    let f64f = |n: &str| Field::new(n, DataType::Float64, false);
    Schema::new(vec![
        utf8("pair_id"),
        utf8("user_id"),
        utf8("conversation_id"),
        Field::new("turn", DataType::UInt32, false),
        utf8("kind"),
        utf8("chosen_model"),
        utf8("rejected_model"),
        f64f("chosen_score"),
        f64f("rejected_score"),
        f64f("score_gap"),
        Field::new(
            "prompt",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(prompt_fields()),
                false,
            ))),
            false,
        ),
        utf8("chosen"),
        utf8("rejected"),
        utf8("conversation_type"),
    ])
}

fn to_record_batch(pairs: &[Pair]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let s = |f: fn(&Pair) -> &str| {
        Arc::new(StringArray::from_iter_values(pairs.iter().map(f))) as ArrayRef
    };
    let d = |f: fn(&Pair) -> f64| {
        Arc::new(Float64Array::from_iter_values(pairs.iter().map(f))) as ArrayRef
    };
    let messages = || pairs.iter().flat_map(|p| p.prompt.iter());
    let roles = StringArray::from_iter_values(messages().map(|m| m.role.as_str()));
    let contents = StringArray::from_iter_values(messages().map(|m| m.content.as_str()));
    let values = StructArray::try_new(
        prompt_fields(),
        vec![Arc::new(roles), Arc::new(contents)],
        None,
    )?;
    let offsets = OffsetBuffer::from_lengths(pairs.iter().map(|p| p.prompt.len()));
    let item = Arc::new(Field::new("item", DataType::Struct(prompt_fields()), false));
    let prompt = ListArray::try_new(item, offsets, Arc::new(values), None)?;
    let columns: Vec<ArrayRef> = vec![
        s(|p| &p.pair_id),
        s(|p| &p.user_id),
        s(|p| &p.conversation_id),
        Arc::new(UInt32Array::from_iter_values(pairs.iter().map(|p| p.turn))),
        s(|p| p.kind.as_str()),
        s(|p| &p.chosen_model),
        s(|p| &p.rejected_model),
        d(|p| p.chosen_score),
        d(|p| p.rejected_score),
        d(|p| p.score_gap),
        Arc::new(prompt),
        s(|p| &p.chosen),
        s(|p| &p.rejected),
        s(|p| &p.conversation_type),
    ];
    RecordBatch::try_new(Arc::new(pair_schema()), columns)
}

fn read_parquet(path: &Path) -> Result<Vec<Pair>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| Error::table(path, format!("expected a Parquet file: {e}")))?;
    let mut pairs = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::table(path, e))?;
        let first_row = pairs.len();
        pairs.extend(batch_pairs(path, &batch, first_row)?);
    }
    Ok(pairs)
}

fn column<'a, T: 'static>(path: &Path, batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    let col = batch.column_by_name(name).ok_or_else(|| {
        Error::table(
            path,
            format!(
                "expected a column {name:?}, found columns {:?}",
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
            ),
        )
    })?;
    col.as_any().downcast_ref::<T>().ok_or_else(|| {
        Error::table(
            path,
            format!(
                "column {name:?}: expected {}, found {}",
                std::any::type_name::<T>().rsplit("::").next().unwrap_or(""),
                col.data_type()
            ),
        )
    })
}

fn batch_pairs(path: &Path, batch: &RecordBatch, first_row: usize) -> Result<Vec<Pair>> {
    let str_col = |n: &str| column::<StringArray>(path, batch, n);
    let f64_col = |n: &str| column::<Float64Array>(path, batch, n);
    let (pair_id, user_id, conversation_id) = (
        str_col("pair_id")?,
        str_col("user_id")?,
        str_col("conversation_id")?,
    );
    let turn = column::<UInt32Array>(path, batch, "turn")?;
    let kind = str_col("kind")?;
    let (chosen_model, rejected_model) = (str_col("chosen_model")?, str_col("rejected_model")?);
    let (chosen_score, rejected_score, score_gap) = (
        f64_col("chosen_score")?,
        f64_col("rejected_score")?,
        f64_col("score_gap")?,
    );
    let prompt = column::<ListArray>(path, batch, "prompt")?;
    let (chosen, rejected, conversation_type) = (
        str_col("chosen")?,
        str_col("rejected")?,
        str_col("conversation_type")?,
    );
    let messages = prompt
        .values()
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| {
            Error::table(
                path,
                "column \"prompt\": expected list<struct<role, content>>",
            )
        })?;
    let field = |n: &str| {
        messages
            .column_by_name(n)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| {
                Error::table(
                    path,
                    format!("column \"prompt\": expected a string field {n:?} in its messages"),
                )
            })
    };
    let (roles, contents) = (field("role")?, field("content")?);
    let offsets = prompt.value_offsets();
    (0..batch.num_rows())
        .map(|i| {
            let kind = match kind.value(i) {
                "within" => PairKind::Within,
                "cross" => PairKind::Cross,
                other => {
                    return Err(Error::record(
                        path,
                        first_row + i + 1,
                        Some("kind"),
                        format!("expected \"within\" or \"cross\", found {other:?}"),
                    ))
                }
            };
            let (lo, hi) = (offsets[i] as usize, offsets[i + 1] as usize);
            Ok(Pair {
                pair_id: pair_id.value(i).to_string(),
                user_id: user_id.value(i).to_string(),
                conversation_id: conversation_id.value(i).to_string(),
                turn: turn.value(i),
                kind,
                chosen_model: chosen_model.value(i).to_string(),
                rejected_model: rejected_model.value(i).to_string(),
                chosen_score: chosen_score.value(i),
                rejected_score: rejected_score.value(i),
                score_gap: score_gap.value(i),
                prompt: (lo..hi)
                    .map(|j| Message::new(roles.value(j), contents.value(j)))
                    .collect(),
                chosen: chosen.value(i).to_string(),
                rejected: rejected.value(i).to_string(),
                conversation_type: conversation_type.value(i).to_string(),
            })
        })
        .collect()
}
