//! `prefscope report`'s work on a study: the effects of its finished runs (the same
//! [`compute_effects`] as `prefscope effects`), their tables, a `runs.csv` and `groups.csv`
//! that let `prefscope effects` redo them, the diagnostics' tables, and `index.html`.

use std::path::{Path, PathBuf};

use prefscope_data::Groups;

use crate::diagnostics;
use crate::effects::{compute_effects, Effects, EffectsConfig};
use crate::error::{ReportError, Result};
use crate::page::{self, Page};
use crate::runs::{write_runs_csv, PairUsers, RunRecord};
use crate::study_input::StudyRuns;
use crate::write::write_effects;

/// What [`write_study_report`] wrote.
#[derive(Debug, Clone)]
pub struct StudyReport {
    /// `DIR/index.html`.
    pub index: PathBuf,
    /// Every file written, `index.html` last.
    pub files: Vec<PathBuf>,
    pub effects: Effects,
}

/// Writes the report of `input` into `out` (created if missing). Errors: those of
/// [`compute_effects`] (naming the split, group, run or file), and unwritable files.
pub fn write_study_report(
    input: &StudyRuns,
    config: &EffectsConfig,
    out: &Path,
) -> Result<StudyReport> {
    std::fs::create_dir_all(out).map_err(|e| ReportError::io(out, e))?;
    let records: Vec<RunRecord> = input.runs.iter().map(|r| r.record.clone()).collect();
    let pairs = PairUsers::from_pairs(&input.pairs);
    let groups = Groups::from_splits(&input.splits);
    let effects = compute_effects(
        &records,
        &pairs,
        &groups,
        input.predictions.as_ref(),
        config,
    )?;
    let mut files = write_effects(out, &effects)?;

    let outcomes: Vec<PathBuf> = input
        .runs
        .iter()
        .map(|r| r.dir.join("eval_pairs.jsonl"))
        .collect();
    let runs_csv = out.join("runs.csv");
    write_runs_csv(&runs_csv, &records, &outcomes)?;
    files.push(runs_csv);
    let groups_csv = out.join("groups.csv");
    write_groups_csv(&groups_csv, input)?;
    files.push(groups_csv);

    if !input.selections.is_empty() {
        let path = out.join("pair_treatments.csv");
        let text = crate::write::csv_text(&crate::write::selection_columns(&input.selections));
        prefscope_data::write_bytes_atomic(&path, text.as_bytes())?;
        files.push(path);
    }

    let diag = diagnostics::diagnose(input, &effects, config)?;
    files.extend(diag.write_tables(out)?);

    let index = out.join("index.html");
    let names = files
        .iter()
        .map(|f| {
            f.strip_prefix(out)
                .unwrap_or(f)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let html = page::render(&Page {
        input,
        effects: &effects,
        files: names,
        sections: crate::diag_page::sections(&diag, input, &effects)?,
    })?;
    prefscope_data::write_bytes_atomic(&index, html.as_bytes())?;
    files.push(index.clone());
    Ok(StudyReport {
        index,
        files,
        effects,
    })
}

/// `groups.csv` as `prefscope splits` writes it (one writer: prefscope-data's).
fn write_groups_csv(path: &Path, input: &StudyRuns) -> Result<()> {
    Ok(prefscope_data::write_splits_groups_csv(
        path,
        &input.splits,
    )?)
}
