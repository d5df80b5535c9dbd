//! Generic rectangular tables (csv with a header row, or Parquet) for `prefscope fit`: the
//! columns asked for, each cell a number, a text or missing, and the missing-value policy.
//!
//! Missing is an empty cell, `NA`, `NaN`, `nan`, `null`, `None`, a non-finite number, or a
//! Parquet null. [`Table::drop_missing`] is listwise deletion: a row with a missing value in any
//! column read is dropped (and counted); the rows kept remember their place in the file, so a
//! later error still names the file's line (csv, counting the header as line 1) or 1-based row
//! (Parquet). The statistics crate reads no files; this module is where its tables come from.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A finite number.
    Num(f64),
    /// Anything else that is not missing, trimmed.
    Text(String),
    Missing,
}

impl Cell {
    /// A csv cell or Parquet string: trimmed; a missing marker or a non-finite number is
    /// [`Cell::Missing`], a finite number [`Cell::Num`], the rest [`Cell::Text`].
    pub fn parse(s: &str) -> Cell {
        let t = s.trim();
        if t.is_empty() || matches!(t, "NA" | "NaN" | "nan" | "null" | "None") {
            return Cell::Missing;
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Cell::Num(v),
            Ok(_) => Cell::Missing,
            Err(_) => Cell::Text(t.to_string()),
        }
    }

    /// The cell as a label (cluster ids, text outcomes): numbers in Rust's shortest form
    /// (`2.0` is `"2"`), missing as `""`.
    pub fn key(&self) -> String {
        match self {
            Cell::Num(v) => format!("{v}"),
            Cell::Text(s) => s.clone(),
            Cell::Missing => String::new(),
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Cell::Missing)
    }
}

/// Whether row numbers in messages are csv lines or Parquet rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Csv,
    Parquet,
}

/// Named columns of equal length read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    path: PathBuf,
    source: Source,
    names: Vec<String>,
    columns: Vec<Vec<Cell>>,
    /// 0-based data row in the file of each row here.
    rows: Vec<usize>,
}

impl Table {
    /// Reads the columns `wanted` (in that order; a name given twice is read once) of a `.csv`
    /// or `.parquet` file. A missing file, an unknown extension or an absent column is an error
    /// naming the file (and the columns it has).
    pub fn read(path: &Path, wanted: &[&str]) -> Result<Table> {
        let mut names: Vec<String> = Vec::with_capacity(wanted.len());
        for w in wanted {
            if !names.iter().any(|n| n == w) {
                names.push(w.to_string());
            }
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let (source, columns) = match ext.as_str() {
            "csv" => (Source::Csv, read_csv(path, &names)?),
            "parquet" | "pq" => (Source::Parquet, read_parquet(path, &names)?),
            _ => return Err(Error::file(path, "expected a .csv or .parquet file")),
        };
        let n = columns.first().map_or(0, Vec::len);
        Ok(Table {
            path: path.to_path_buf(),
            source,
            names,
            columns,
            rows: (0..n).collect(),
        })
    }

    /// The file the table came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Column names, in the order asked for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The cells of column `name`.
    pub fn column(&self, name: &str) -> Option<&[Cell]> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(&self.columns[i])
    }

    /// The file's line (csv: the header is line 1) or 1-based row (Parquet) of row `i`.
    pub fn line(&self, i: usize) -> usize {
        match self.source {
            Source::Csv => self.rows[i] + 2,
            Source::Parquet => self.rows[i] + 1,
        }
    }

    /// Listwise deletion: the rows with no missing cell in any column, and how many were
    /// dropped.
    pub fn drop_missing(self) -> (Table, usize) {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| self.columns.iter().all(|c| !c[i].is_missing()))
            .collect();
        let dropped = self.len() - keep.len();
        let columns = self
            .columns
            .iter()
            .map(|c| keep.iter().map(|&i| c[i].clone()).collect())
            .collect();
        let rows = keep.iter().map(|&i| self.rows[i]).collect();
        let table = Table {
            columns,
            rows,
            ..self
        };
        (table, dropped)
    }

    /// Column `name` as numbers; a text or missing cell is an error naming the file, its line
    /// and the column, with what was found.
    pub fn numbers(&self, name: &str) -> Result<Vec<f64>> {
        let col = self.existing(name)?;
        col.iter()
            .enumerate()
            .map(|(i, cell)| match cell {
                Cell::Num(v) => Ok(*v),
                other => Err(Error::record(
                    &self.path,
                    self.line(i),
                    Some(name),
                    format!("expected a number, found {:?}", other.key()),
                )),
            })
            .collect()
    }

    /// Column `name` as labels ([`Cell::key`]).
    pub fn labels(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.existing(name)?.iter().map(Cell::key).collect())
    }

    fn existing(&self, name: &str) -> Result<&[Cell]> {
        self.column(name).ok_or_else(|| {
            Error::file(
                &self.path,
                format!(
                    "column {name:?} was not read (read: {})",
                    self.names.join(", ")
                ),
            )
        })
    }
}

fn no_column(path: &Path, name: &str, have: &[&str]) -> Error {
    Error::file(
        path,
        format!("no column {name:?} (columns: {})", have.join(", ")),
    )
}

fn read_csv(path: &Path, names: &[String]) -> Result<Vec<Vec<Cell>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::record(path, 1, None, e.to_string()))?
        .iter()
        .map(String::from)
        .collect();
    let have: Vec<&str> = headers.iter().map(String::as_str).collect();
    let index = names
        .iter()
        .map(|w| {
            have.iter()
                .position(|h| h == w)
                .ok_or_else(|| no_column(path, w, &have))
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); names.len()];
    for (row, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::record(path, row + 2, None, e.to_string()))?;
        for (col, &i) in columns.iter_mut().zip(&index) {
            col.push(Cell::parse(rec.get(i).unwrap_or("")));
        }
    }
    Ok(columns)
}

fn read_parquet(path: &Path, names: &[String]) -> Result<Vec<Vec<Cell>>> {
    use arrow::array::{Array, Float64Array, StringArray};
    use arrow::datatypes::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::table(path, format!("not a Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if let Some(w) = names.iter().find(|w| !have.contains(&w.as_str())) {
        return Err(no_column(path, w, &have));
    }
    let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); names.len()];
    for batch in builder.build().map_err(|e| Error::table(path, e))? {
        let batch = batch.map_err(|e| Error::table(path, e))?;
        for (out, w) in columns.iter_mut().zip(names) {
            let array = batch
                .column_by_name(w)
                .ok_or_else(|| no_column(path, w, &have))?;
            let numeric = array.data_type().is_numeric() || *array.data_type() == DataType::Boolean;
            if numeric {
                let cast = arrow::compute::cast(array, &DataType::Float64)
                    .map_err(|e| Error::table(path, format!("column {w}: {e}")))?;
                let a = cast
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| Error::table(path, format!("column {w}: not Float64")))?;
                out.extend((0..a.len()).map(|i| {
                    if a.is_null(i) || !a.value(i).is_finite() {
                        Cell::Missing
                    } else {
                        Cell::Num(a.value(i))
                    }
                }));
            } else {
                let cast = arrow::compute::cast(array, &DataType::Utf8).map_err(|e| {
                    Error::table(path, format!("column {w}: unsupported type: {e}"))
                })?;
                let a = cast
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| Error::table(path, format!("column {w}: not Utf8")))?;
                out.extend((0..a.len()).map(|i| {
                    if a.is_null(i) {
                        Cell::Missing
                    } else {
                        Cell::parse(a.value(i))
                    }
                }));
            }
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_missing_value_policy() {
        for missing in ["", "  ", "NA", "NaN", "nan", "null", "None", "inf", "-inf"] {
            assert_eq!(Cell::parse(missing), Cell::Missing, "{missing:?}");
        }
        assert_eq!(Cell::parse(" 2.5 "), Cell::Num(2.5));
        assert_eq!(Cell::parse("1e3"), Cell::Num(1000.0));
        assert_eq!(Cell::parse("na"), Cell::Text("na".into()));
        assert_eq!(Cell::Num(2.0).key(), "2");
        assert_eq!(Cell::Num(0.5).key(), "0.5");
        assert_eq!(Cell::Missing.key(), "");
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn csv_listwise_deletion_keeps_file_lines() {
        let dir = tempfile::tempdir().unwrap();
        // Rows (file lines 2..=7): line 3 misses `a`, line 5 misses `b`, line 6 has a missing
        // value only in `unused`, which is not read and so does not drop the row.
        let path = write(
            dir.path(),
            "t.csv",
            "y,a,b,unused\n0,1,x,1\n1,NA,y,1\n0,2,\"z, quoted\",1\n1,3,,1\n0,4,w,\n1,abc,v,1\n",
        );
        let t = Table::read(&path, &["y", "a", "b", "a"]).unwrap();
        assert_eq!(t.names(), ["y", "a", "b"]);
        assert_eq!(t.len(), 6);
        let (kept, dropped) = t.drop_missing();
        assert_eq!(dropped, 2);
        assert_eq!(kept.len(), 4);
        let lines: Vec<usize> = (0..kept.len()).map(|i| kept.line(i)).collect();
        assert_eq!(lines, [2, 4, 6, 7]);
        assert_eq!(kept.numbers("y").unwrap(), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(kept.labels("b").unwrap(), ["x", "z, quoted", "w", "v"]);
        let err = kept.numbers("a").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:7: field \"a\": expected a number, found \"abc\"",
                path.display()
            )
        );
        let err = kept.numbers("unused").unwrap_err().to_string();
        assert!(err.contains("column \"unused\" was not read"), "{err}");
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "y,a\n0,1\n");
        let err = Table::read(&path, &["y", "nope"]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: no column \"nope\" (columns: y, a)", path.display())
        );
        let ragged = write(dir.path(), "r.csv", "y,a\n0,1\n1\n");
        let err = Table::read(&ragged, &["y"]).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:3: ", ragged.display())),
            "{err}"
        );
        let txt = write(dir.path(), "t.txt", "y\n");
        let err = Table::read(&txt, &["y"]).unwrap_err().to_string();
        assert!(err.contains("expected a .csv or .parquet file"), "{err}");
        let fake = write(dir.path(), "t.parquet", "not parquet");
        let err = Table::read(&fake, &["y"]).unwrap_err().to_string();
        assert!(err.contains("not a Parquet file"), "{err}");
        assert!(Table::read(&dir.path().join("absent.csv"), &["y"]).is_err());
    }

    #[test]
    fn parquet_nulls_and_types() {
        use std::sync::Arc;

        use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let batch = RecordBatch::try_from_iter([
            (
                "y",
                Arc::new(Int64Array::from(vec![Some(0), Some(1), None, Some(1)])) as ArrayRef,
            ),
            (
                "x",
                Arc::new(Float64Array::from(vec![1.5, f64::NAN, 2.0, 3.0])) as ArrayRef,
            ),
            (
                "u",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    Some("c"),
                    Some("NA"),
                ])) as ArrayRef,
            ),
        ])
        .unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let t = Table::read(&path, &["u", "x", "y"]).unwrap();
        assert_eq!(
            t.column("x").unwrap(),
            [
                Cell::Num(1.5),
                Cell::Missing,
                Cell::Num(2.0),
                Cell::Num(3.0)
            ]
        );
        assert_eq!(t.column("u").unwrap()[3], Cell::Missing);
        // Row 2 has a NaN, row 3 a null, row 4 the text "NA": only row 1 is complete.
        let (kept, dropped) = t.drop_missing();
        assert_eq!((kept.len(), dropped, kept.line(0)), (1, 3, 1));
        assert_eq!(kept.numbers("y").unwrap(), [0.0]);
        assert_eq!(kept.labels("u").unwrap(), ["a"]);
    }
}
