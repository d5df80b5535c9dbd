//! `prefscope fit logit|ologit`: a binary or ordered logit (or probit) on a csv or Parquet table,
//! with plain or cluster-robust standard errors, printed as a statsmodels-like summary or JSON.
//!
//! Reading the table lives here (the statistics crate does no I/O). Rows with a missing value
//! (empty cell, `NA`, `NaN`, null) in any used column are dropped and counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use prefscope_stats::{
    brant_test, logit, ordered_logit, BrantTest, Covariance, Design, FitOptions, FitResult, Link,
    OrderedOutcome, ParamKind,
};
use serde_json::{json, Map, Value};

use crate::exit::bad_input;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Model {
    /// Binary outcome (0/1, or two --levels): P(y = 1) = F(const + x'b).
    Logit,
    /// Ordered outcome: P(y <= j) = F(c_j - x'b).
    Ologit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkArg {
    Logit,
    Probit,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which model.
    #[arg(value_enum)]
    pub model: Model,
    /// The table: .csv (with a header row) or .parquet.
    #[arg(long)]
    pub data: PathBuf,
    /// Outcome column.
    #[arg(long)]
    pub y: String,
    /// Regressor columns, comma-separated (numeric).
    #[arg(long, value_delimiter = ',', required = true)]
    pub x: Vec<String>,
    /// Outcome levels, lowest first, comma-separated; without it numeric outcomes are ordered
    /// ascending.
    #[arg(long, value_delimiter = ',')]
    pub levels: Option<Vec<String>>,
    /// Cluster column (e.g. the user id): cluster-robust standard errors as statsmodels'
    /// cov_type='cluster'.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Link function.
    #[arg(long, value_enum, default_value = "logit")]
    pub link: LinkArg,
    /// Also run Brant's proportional-odds test (ologit with at least 3 levels).
    #[arg(long)]
    pub brant: bool,
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Num(f64),
    Text(String),
    Missing,
}

impl Cell {
    fn parse(s: &str) -> Cell {
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

    fn key(&self) -> String {
        match self {
            Cell::Num(v) => format!("{v}"),
            Cell::Text(s) => s.clone(),
            Cell::Missing => String::new(),
        }
    }
}

/// The columns asked for, by name.
struct Table {
    columns: HashMap<String, Vec<Cell>>,
    /// How to name row `i` in messages.
    csv: bool,
}

impl Table {
    fn row_label(&self, i: usize) -> String {
        if self.csv {
            format!("line {}", i + 2)
        } else {
            format!("row {}", i + 1)
        }
    }
}

fn read_table(path: &Path, wanted: &[&str]) -> anyhow::Result<Table> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => read_csv(path, wanted),
        "parquet" | "pq" => read_parquet(path, wanted),
        _ => Err(bad_input(anyhow::anyhow!(
            "{}: expected a .csv or .parquet file",
            path.display()
        ))),
    }
}

fn read_csv(path: &Path, wanted: &[&str]) -> anyhow::Result<Table> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("opening {}", path.display()))
        .map_err(bad_input)?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad_input(anyhow::anyhow!("{}: {e}", path.display())))?
        .iter()
        .map(String::from)
        .collect();
    let mut index = Vec::with_capacity(wanted.len());
    for w in wanted {
        let i = headers.iter().position(|h| h == w).ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "{}: no column {w:?} (columns: {})",
                path.display(),
                headers.join(", ")
            ))
        })?;
        index.push(i);
    }
    let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); wanted.len()];
    for (row, rec) in reader.records().enumerate() {
        let rec = rec
            .map_err(|e| bad_input(anyhow::anyhow!("{}: line {}: {e}", path.display(), row + 2)))?;
        for (c, &i) in index.iter().enumerate() {
            columns[c].push(Cell::parse(rec.get(i).unwrap_or("")));
        }
    }
    Ok(Table {
        columns: wanted.iter().map(|w| w.to_string()).zip(columns).collect(),
        csv: true,
    })
}

fn read_parquet(path: &Path, wanted: &[&str]) -> anyhow::Result<Table> {
    use arrow::array::{Array, Float64Array, StringArray};
    use arrow::datatypes::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let file = std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))
        .map_err(bad_input)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        bad_input(anyhow::anyhow!(
            "{}: not a Parquet file: {e}",
            path.display()
        ))
    })?;
    let schema = builder.schema().clone();
    for w in wanted {
        if schema.field_with_name(w).is_err() {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(bad_input(anyhow::anyhow!(
                "{}: no column {w:?} (columns: {})",
                path.display(),
                names.join(", ")
            )));
        }
    }
    let mut columns: HashMap<String, Vec<Cell>> =
        wanted.iter().map(|w| (w.to_string(), Vec::new())).collect();
    for batch in builder.build()? {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        for w in wanted {
            let array = batch.column_by_name(w).expect("checked above");
            let out = columns.get_mut(*w).expect("inserted above");
            let numeric = array.data_type().is_numeric() || *array.data_type() == DataType::Boolean;
            if numeric {
                let cast = arrow::compute::cast(array, &DataType::Float64)?;
                let a = cast
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("cast to Float64");
                out.extend((0..a.len()).map(|i| {
                    if a.is_null(i) || !a.value(i).is_finite() {
                        Cell::Missing
                    } else {
                        Cell::Num(a.value(i))
                    }
                }));
            } else {
                let cast = arrow::compute::cast(array, &DataType::Utf8).map_err(|e| {
                    bad_input(anyhow::anyhow!(
                        "{}: column {w}: unsupported type: {e}",
                        path.display()
                    ))
                })?;
                let a = cast
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8");
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
    Ok(Table {
        columns,
        csv: false,
    })
}

fn model_name(model: Model) -> &'static str {
    match model {
        Model::Logit => "logit",
        Model::Ologit => "ologit",
    }
}

/// The fitted model plus what the command adds (rows dropped, Brant test).
pub struct Fitted {
    pub fit: FitResult,
    pub dropped_missing: usize,
    pub brant: Option<BrantTest>,
}

/// Reads the table and fits the model.
pub fn compute(args: &Args) -> anyhow::Result<Fitted> {
    let mut wanted: Vec<&str> = vec![args.y.as_str()];
    wanted.extend(args.x.iter().map(String::as_str));
    if let Some(c) = &args.cluster {
        wanted.push(c.as_str());
    }
    let mut dedup = wanted.clone();
    dedup.sort_unstable();
    dedup.dedup();
    if dedup.len() != wanted.len() {
        return Err(bad_input(anyhow::anyhow!(
            "a column appears twice among --y, --x and --cluster"
        )));
    }
    let table = read_table(&args.data, &wanted)?;
    let n_all = table.columns[&args.y].len();
    let keep: Vec<usize> = (0..n_all)
        .filter(|&i| wanted.iter().all(|w| table.columns[*w][i] != Cell::Missing))
        .collect();
    let dropped_missing = n_all - keep.len();
    let file = args.data.display();
    let mut cols = Vec::with_capacity(args.x.len());
    for name in &args.x {
        let col = &table.columns[name];
        let values = keep
            .iter()
            .map(|&i| match &col[i] {
                Cell::Num(v) => Ok(*v),
                other => Err(bad_input(anyhow::anyhow!(
                    "{file}: {}: column {name}: expected a number, found {:?}",
                    table.row_label(i),
                    other.key()
                ))),
            })
            .collect::<anyhow::Result<Vec<f64>>>()?;
        cols.push((name.clone(), values));
    }
    let design = Design::new(cols).map_err(bad_input)?;
    let covariance = match &args.cluster {
        Some(c) => {
            let labels: Vec<String> = keep.iter().map(|&i| table.columns[c][i].key()).collect();
            Covariance::cluster(&labels)
        }
        None => Covariance::Plain,
    };
    let link = match args.link {
        LinkArg::Logit => Link::Logit,
        LinkArg::Probit => Link::Probit,
    };
    let opts = FitOptions {
        link,
        covariance,
        ..Default::default()
    };
    let ycol = &table.columns[&args.y];
    let outcome = match &args.levels {
        Some(levels) => {
            let labels: Vec<String> = keep.iter().map(|&i| ycol[i].key()).collect();
            OrderedOutcome::from_labels(&labels, levels)
                .map_err(|e| bad_input(anyhow::anyhow!("{file}: column {}: {e}", args.y)))?
        }
        None => {
            let values = keep
                .iter()
                .map(|&i| match &ycol[i] {
                    Cell::Num(v) => Ok(*v),
                    other => Err(bad_input(anyhow::anyhow!(
                        "{file}: {}: outcome {} is {:?}, not a number; give --levels to order text outcomes",
                        table.row_label(i),
                        args.y,
                        other.key()
                    ))),
                })
                .collect::<anyhow::Result<Vec<f64>>>()?;
            OrderedOutcome::from_values(&values).map_err(bad_input)?
        }
    };
    let context = || format!("{} fit of {} on {}", model_name(args.model), args.y, file);
    let (fit, brant) = match args.model {
        Model::Logit => {
            if outcome.levels().len() != 2 {
                return Err(bad_input(anyhow::anyhow!(
                    "{file}: logit needs a two-level outcome; {} has levels {}",
                    args.y,
                    outcome.levels().join(", ")
                )));
            }
            if args.levels.is_none() && outcome.levels() != ["0", "1"] {
                return Err(bad_input(anyhow::anyhow!(
                    "{file}: logit outcome {} must be 0/1 (found {}); give --levels LOW,HIGH otherwise",
                    args.y,
                    outcome.levels().join(", ")
                )));
            }
            let y: Vec<f64> = outcome.codes().iter().map(|&c| c as f64).collect();
            (
                logit(&y, &design, &opts)
                    .map_err(bad_input)
                    .with_context(context)?,
                None,
            )
        }
        Model::Ologit => {
            let fit = ordered_logit(&outcome, &design, &opts)
                .map_err(bad_input)
                .with_context(context)?;
            let brant = if args.brant {
                Some(brant_test(&outcome, &design).map_err(bad_input)?)
            } else {
                None
            };
            (fit, brant)
        }
    };
    Ok(Fitted {
        fit,
        dropped_missing,
        brant,
    })
}

fn named(fit: &FitResult, values: impl Iterator<Item = Value>) -> Value {
    Value::Object(
        fit.names
            .iter()
            .cloned()
            .zip(values)
            .collect::<Map<String, Value>>(),
    )
}

/// The JSON report.
pub fn to_json(model: Model, f: &Fitted) -> Value {
    let fit = &f.fit;
    let mut out = json!({
        "model": model_name(model),
        "link": fit.link.name(),
        "cov_type": fit.cov_type,
        "n": fit.n,
        "n_clusters": fit.n_clusters,
        "dropped_missing": f.dropped_missing,
        "params": named(fit, fit.params.iter().map(|v| json!(v))),
        "bse": named(fit, fit.bse.iter().map(|v| json!(v))),
        "zvalues": named(fit, fit.zvalues.iter().map(|v| json!(v))),
        "pvalues": named(fit, fit.pvalues.iter().map(|v| json!(v))),
        "conf_int": named(fit, fit.conf_int.iter().map(|v| json!(v))),
        "odds_ratios": named(fit, fit.odds_ratios.iter().map(|v| json!(v))),
    });
    let obj = out.as_object_mut().expect("object");
    if model == Model::Ologit {
        obj.insert("thresholds".into(), json!(fit.thresholds()));
        obj.insert("threshold_bse".into(), json!(fit.threshold_bse()));
        let names: Vec<&String> = fit
            .names
            .iter()
            .zip(&fit.kinds)
            .filter(|(_, k)| **k == ParamKind::Threshold)
            .map(|(n, _)| n)
            .collect();
        obj.insert("threshold_names".into(), json!(names));
    }
    for (k, v) in [
        ("levels", json!(fit.levels)),
        ("llf", json!(fit.llf)),
        ("llnull", json!(fit.llnull)),
        ("lr_chi2", json!(fit.lr_chi2)),
        ("lr_df", json!(fit.lr_df)),
        ("lr_pvalue", json!(fit.lr_pvalue)),
        ("pseudo_r2", json!(fit.pseudo_r2)),
        ("aic", json!(fit.aic)),
        ("bic", json!(fit.bic)),
        ("converged", json!(fit.convergence.converged)),
        ("iterations", json!(fit.convergence.iterations)),
        ("grad_max_abs", json!(fit.convergence.grad_max_abs)),
        ("warnings", json!(fit.warnings)),
    ] {
        obj.insert(k.into(), v);
    }
    if let Some(b) = &f.brant {
        obj.insert("brant".into(), json!(b));
    }
    out
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let fitted = compute(args)?;
    if json {
        return crate::output::print_json(&to_json(args.model, &fitted));
    }
    print!("{}", fitted.fit.summary());
    if fitted.dropped_missing > 0 {
        println!(
            "{} rows with missing values dropped",
            fitted.dropped_missing
        );
    }
    if let Some(b) = &fitted.brant {
        println!("Brant test of proportional odds");
        println!("{:<20} {:>10} {:>4} {:>10}", "", "chi2", "df", "P>chi2");
        println!(
            "{:<20} {:>10.3} {:>4} {:>10.4}",
            "omnibus", b.omnibus.chi2, b.omnibus.df, b.omnibus.p_value
        );
        for (name, t) in &b.per_variable {
            println!(
                "{:<20} {:>10.3} {:>4} {:>10.4}",
                name, t.chi2, t.df, t.p_value
            );
        }
    }
    Ok(())
}
