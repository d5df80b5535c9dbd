//! The study spec: one TOML file that names the data, the grid (splits × groups × seeds ×
//! treatments, plus a baseline per seed), the model, the training settings and the executor.
//! Relative paths are relative to the spec file. Everything is checked here, before anything
//! runs: unknown keys, unknown split names, an empty seed list, bad training settings (the
//! merged `[train]` of every treatment is validated as a `prefscope train` config).
//!
//! ```toml
//! name = "v4"
//! dir = "studies/v4"
//! [data]
//! simulate = { users = 600, seed = 7, effects = "default" }
//! [grid]
//! splits = ["age", "region"]
//! seeds = [42, 123]
//! random_splits = 20   # null splits random-1..20, trained like the real ones
//! [model]
//! path = "models/tiny"
//! [train]
//! steps = 20
//! [train.loss]
//! type = "sigmoid"
//! beta = 0.1
//! ```

use std::path::{Path, PathBuf};

use prefscope_config::TrainConfig;
use prefscope_data::{KindFilter, SplitDef, SplitSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StudyError};
use crate::pair_treatment::PairTreatment;

/// A parsed, checked study spec with every path resolved.
#[derive(Debug, Clone)]
pub struct Study {
    /// The spec file it was read from.
    pub spec_path: PathBuf,
    pub name: String,
    /// Run store and run folders.
    pub dir: PathBuf,
    pub data: DataSpec,
    /// The splits of the grid, in spec order, with their rules.
    pub splits: Vec<SplitDef>,
    pub seeds: Vec<u64>,
    pub baseline: bool,
    /// Null splits `random-1` .. `random-K`: users drawn at random into groups of the sizes of
    /// a real split's groups (random-k takes those of real split k, cycling through them), for
    /// the empirical null that calibrates the analysis' p-values.
    pub random_splits: usize,
    /// Model path (absolute when it was a relative path that exists), or an HF cache id.
    pub model: String,
    /// One merged, validated training config per treatment (`out_dir` and `inputs` unset).
    pub treatments: Vec<Treatment>,
    pub executor: ExecutorSpec,
    /// Keep each finished run's final weights (`final/`, written only then: each run's
    /// `save_final`); checkpoints are always removed once a run is done, since 150 runs of a
    /// 0.5B model would fill a disk. Not part of any RunId.
    pub keep_weights: bool,
    /// `[analysis]`: the declared questions of the report. Not part of any RunId.
    pub analysis: AnalysisSpec,
}

/// Whether `name` is that of a null split of `grid.random_splits` (`random-<k>`).
pub fn is_random_split_name(name: &str) -> bool {
    name.strip_prefix("random-")
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

/// A treatment: a name and the training config it runs with.
#[derive(Debug, Clone)]
pub struct Treatment {
    pub name: String,
    pub train: TrainConfig,
    /// Which training pairs it keeps ([`crate::pair_treatment`]).
    pub pairs: PairTreatment,
}

/// `[data]`: where the pairs come from and how evaluation users are held out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A PRISM folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prism: Option<PathBuf>,
    /// Or a simulated one, written into `<dir>/data/prism`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulate: Option<SimulateSpec>,
    /// within | cross | all
    #[serde(default = "d_kind")]
    pub kind: String,
    #[serde(default)]
    pub min_gap: f64,
    #[serde(default = "d_holdout_fraction")]
    pub holdout_fraction: f64,
    #[serde(default = "d_holdout_seed")]
    pub holdout_seed: u64,
}

/// `[data] simulate = { users, seed, effects }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateSpec {
    pub users: usize,
    pub seed: u64,
    /// "none", "default" or the path of an effects TOML.
    #[serde(default = "d_effects")]
    pub effects: String,
}

/// `[executor]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    #[serde(default)]
    pub kind: ExecutorKind,
    /// Runs at a time (local), or array tasks at a time (Slurm's `%N`).
    #[serde(default = "d_jobs")]
    pub jobs: usize,
    #[serde(default)]
    pub slurm: SlurmSpec,
}

impl Default for ExecutorSpec {
    fn default() -> Self {
        ExecutorSpec {
            kind: ExecutorKind::Local,
            jobs: d_jobs(),
            slurm: SlurmSpec::default(),
        }
    }
}

/// local | slurm
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

impl std::str::FromStr for ExecutorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(ExecutorKind::Local),
            "slurm" => Ok(ExecutorKind::Slurm),
            other => Err(format!("expected local or slurm, found {other:?}")),
        }
    }
}

/// `[executor.slurm]`: what `sbatch` is given. Each value is passed as one argument, never
/// through a shell.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    pub partition: Option<String>,
    pub gres: Option<String>,
    /// Wall-clock limit per run, e.g. "04:00:00".
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    /// Further sbatch options, each one argument (e.g. "--account=abc").
    #[serde(default)]
    pub extra: Vec<String>,
}

fn d_kind() -> String {
    "within".into()
}
fn d_holdout_fraction() -> f64 {
    prefscope_data::Holdout::default().fraction
}
fn d_holdout_seed() -> u64 {
    prefscope_data::Holdout::default().seed
}
fn d_effects() -> String {
    "default".into()
}
fn d_jobs() -> usize {
    1
}
fn d_true() -> bool {
    true
}

/// The spec file as written, before its paths are resolved and its training tables merged
/// (what [`Study::from_toml`] reads, and what a program that writes a spec, such as
/// `prefscope demo`, builds and serialises with [`SpecFile::to_toml`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    pub name: String,
    pub dir: PathBuf,
    pub data: DataSpec,
    pub grid: GridSpec,
    pub model: ModelPath,
    /// `[train]`: the keys every treatment starts from (a partial [`TrainConfig`]).
    #[serde(default)]
    pub train: toml::Table,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub treatment: Vec<TreatmentSpec>,
    #[serde(default)]
    pub executor: ExecutorSpec,
    #[serde(default)]
    pub keep_weights: bool,
    #[serde(default)]
    pub analysis: AnalysisSpec,
}

impl SpecFile {
    /// The spec as TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| StudyError::Command {
            command: "writing a study spec".into(),
            message: e.to_string(),
        })
    }
}

/// `[analysis]`: the questions a study declares and the margins its report uses. None of it
/// enters a RunId (it changes the analysis, not the runs).
///
/// ```toml
/// [analysis]
/// strength = "diff_common"   # or "adjusted_diff" (needs grid.baseline)
/// null_tolerance = 2         # accuracy points: a null control is NULL-OK within ±2
/// min_effect = 2             # accuracy points: the smallest effect the power table plans for
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSpec {
    /// The statistic of the strength verdict: `diff_common` or `adjusted_diff`.
    pub strength: String,
    /// Equivalence margin of the null controls, in accuracy points.
    pub null_tolerance: f64,
    /// Smallest effect of interest of the power calculation, in accuracy points.
    pub min_effect: f64,
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        AnalysisSpec {
            strength: "diff_common".into(),
            null_tolerance: 2.0,
            min_effect: 2.0,
        }
    }
}

/// `[grid]`: the splits, seeds, baseline and random null splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    pub splits: Vec<String>,
    /// A split spec file (`prefscope splits --spec` format) whose `[[split]]`s add to the
    /// built-in names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_spec: Option<PathBuf>,
    pub seeds: Vec<u64>,
    #[serde(default = "d_true")]
    pub baseline: bool,
    #[serde(default)]
    pub random_splits: usize,
}

/// `[model]`: a path or an id in the local Hugging Face cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPath {
    pub path: String,
}

/// `[[treatment]]`: a name and the `[train]` keys it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatmentSpec {
    pub name: String,
    #[serde(default)]
    pub train: toml::Table,
    /// The treatment's pair selection and filters ([`crate::pair_treatment`]).
    #[serde(default, skip_serializing_if = "is_default_pairs")]
    pub pairs: PairTreatment,
}

fn is_default_pairs(p: &PairTreatment) -> bool {
    *p == PairTreatment::default()
}

impl Study {
    /// Reads and checks a spec file.
    pub fn from_file(path: &Path) -> Result<Study> {
        let text = std::fs::read_to_string(path).map_err(|e| StudyError::io(path, e))?;
        Study::from_toml(&text, path)
    }

    /// Parses and checks spec text; `path` is where it came from (relative paths in the spec
    /// are relative to its folder).
    pub fn from_toml(text: &str, path: &Path) -> Result<Study> {
        let err = |m: String| StudyError::spec(path, m);
        let raw: SpecFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let a = &raw.analysis;
        if !["diff_common", "adjusted_diff"].contains(&a.strength.as_str()) {
            return Err(err(format!(
                "analysis.strength: expected \"diff_common\" or \"adjusted_diff\", found {:?}",
                a.strength
            )));
        }
        if a.strength == "adjusted_diff" && !raw.grid.baseline {
            return Err(err(
                "analysis.strength = \"adjusted_diff\" compares each group's model with the baseline of its seed; set grid.baseline = true".into(),
            ));
        }
        for (key, v) in [
            ("analysis.null_tolerance", a.null_tolerance),
            ("analysis.min_effect", a.min_effect),
        ] {
            if !(v > 0.0 && v < 100.0) {
                return Err(err(format!(
                    "{key}: expected accuracy points in (0, 100), found {v}"
                )));
            }
        }
        if !is_plain_name(&raw.name) {
            return Err(err(format!(
                "name: expected letters, digits, '-', '_' or '.', found {:?}",
                raw.name
            )));
        }
        let mut data = raw.data;
        match (&data.prism, &data.simulate) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(err(
                    "data: expected exactly one of `prism` (a folder) and `simulate`".into(),
                ))
            }
            _ => {}
        }
        data.prism = data.prism.as_deref().map(resolve);
        if let Some(sim) = &mut data.simulate {
            if sim.users == 0 {
                return Err(err(
                    "data.simulate.users: expected at least 1, found 0".into()
                ));
            }
            if !matches!(sim.effects.as_str(), "none" | "default") {
                sim.effects = resolve(Path::new(&sim.effects)).display().to_string();
            }
        }
        data.kind
            .parse::<KindFilter>()
            .map_err(|e| err(format!("data.kind: {e}")))?;
        if !(0.0..1.0).contains(&data.holdout_fraction) || data.holdout_fraction == 0.0 {
            return Err(err(format!(
                "data.holdout_fraction: expected a share in (0, 1), found {}",
                data.holdout_fraction
            )));
        }
        if !data.min_gap.is_finite() || data.min_gap < 0.0 {
            return Err(err(format!(
                "data.min_gap: expected a number >= 0, found {}",
                data.min_gap
            )));
        }

        let splits = resolve_splits(&raw.grid, &resolve, path)?;
        if raw.grid.seeds.is_empty() {
            return Err(err(
                "grid.seeds: expected at least one seed, found none".into()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = raw.grid.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(err(format!("grid.seeds: seed {s} is listed twice")));
        }
        if raw.grid.random_splits > 0 && splits.is_empty() {
            return Err(err(
                "grid.random_splits: null splits take their sizes from the real splits; list at least one in grid.splits".into(),
            ));
        }
        if let Some(s) = splits.iter().find(|s| is_random_split_name(&s.name)) {
            return Err(err(format!(
                "grid.splits: {:?} is the name of a null split (random-1, random-2, ...: grid.random_splits makes them); rename it",
                s.name
            )));
        }
        if splits.is_empty() && !raw.grid.baseline {
            return Err(err(
                "grid: no splits and no baseline: the study has no runs".into(),
            ));
        }

        for key in ["out_dir", "inputs", "seed"] {
            if raw.train.contains_key(key) {
                return Err(err(format!(
                    "train.{key}: set by the study for each run; remove it from [train]"
                )));
            }
        }
        if raw.train.contains_key("save_final") {
            return Err(err(
                "train.save_final: set by the study from keep_weights; remove it from [train]"
                    .into(),
            ));
        }
        let raw_treatments = if raw.treatment.is_empty() {
            vec![TreatmentSpec {
                name: "dpo".into(),
                train: toml::Table::new(),
                pairs: PairTreatment::default(),
            }]
        } else {
            raw.treatment
        };
        let mut treatments = Vec::new();
        for (i, t) in raw_treatments.into_iter().enumerate() {
            let at = format!("treatment #{} ({:?})", i + 1, t.name);
            if !is_plain_name(&t.name) || t.name == "baseline" {
                return Err(err(format!(
                    "{at}: name: expected letters, digits, '-', '_' or '.' (not \"baseline\")"
                )));
            }
            if treatments.iter().any(|x: &Treatment| x.name == t.name) {
                return Err(err(format!("{at}: the name is used twice")));
            }
            for key in ["out_dir", "inputs", "seed", "save_final"] {
                if t.train.contains_key(key) {
                    return Err(err(format!("{at}: train.{key} is set by the study")));
                }
            }
            t.pairs.check().map_err(|m| err(format!("{at}: {m}")))?;
            let mut merged = raw.train.clone();
            merge(&mut merged, t.train);
            // the log-prob filters need the reference model: the worker applies them
            for (key, value) in [
                ("filter_min_ref_mean_logp", t.pairs.min_ref_logp_per_token),
                ("filter_ref_logp_quantile", t.pairs.ref_logp_quantile),
            ] {
                if let Some(v) = value {
                    if merged.contains_key(key) {
                        return Err(err(format!(
                            "{at}: train.{key} and the pairs table's log-prob filter are set both"
                        )));
                    }
                    merged.insert(key.into(), toml::Value::Float(v));
                }
            }
            merged.insert("out_dir".into(), toml::Value::String(".".into()));
            let train: TrainConfig = toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| err(format!("{at}: train: {}", e.message())))?;
            train
                .validate()
                .map_err(|e| err(format!("{at}: train: {e}")))?;
            treatments.push(Treatment {
                name: t.name,
                train,
                pairs: t.pairs,
            });
        }

        let ex = &raw.executor;
        if ex.jobs == 0 {
            return Err(err("executor.jobs: expected at least 1, found 0".into()));
        }
        let model = {
            let p = Path::new(&raw.model.path);
            if !p.is_absolute() && base.join(p).exists() {
                base.join(p).display().to_string()
            } else {
                raw.model.path.clone()
            }
        };
        Ok(Study {
            spec_path: path.to_path_buf(),
            name: raw.name,
            dir: resolve(&raw.dir),
            data,
            splits,
            seeds: raw.grid.seeds,
            baseline: raw.grid.baseline,
            random_splits: raw.grid.random_splits,
            model,
            treatments,
            executor: raw.executor,
            keep_weights: raw.keep_weights,
            analysis: raw.analysis,
        })
    }

    /// The evaluation hold-out of `[data]`.
    pub fn holdout(&self) -> prefscope_data::Holdout {
        prefscope_data::Holdout {
            fraction: self.data.holdout_fraction,
            seed: self.data.holdout_seed,
        }
    }

    /// The pair kinds of `[data]` (checked when the spec was read).
    pub fn kind(&self) -> KindFilter {
        self.data.kind.parse().unwrap_or_default()
    }

    /// `<dir>/study.sqlite`.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join("study.sqlite")
    }

    /// `<dir>/runs/<run_id>`.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join("runs").join(run_id)
    }

    /// The reference log-prob cache every run of the study shares.
    pub fn ref_cache_dir(&self) -> PathBuf {
        self.dir.join("ref_cache")
    }
}

/// The grid's split names, resolved to definitions: built-ins, or `[[split]]`s of the
/// `split_spec` file.
fn resolve_splits(
    grid: &GridSpec,
    resolve: &dyn Fn(&Path) -> PathBuf,
    path: &Path,
) -> Result<Vec<SplitDef>> {
    let mut known = prefscope_data::splits::builtin_splits();
    if let Some(file) = &grid.split_spec {
        let file = resolve(file);
        let text = std::fs::read_to_string(&file).map_err(|e| StudyError::io(&file, e))?;
        let custom = SplitSpec::from_toml(&text, &file.display().to_string())?;
        for def in custom.splits {
            known.retain(|k| k.name != def.name);
            known.push(def);
        }
    }
    let mut out: Vec<SplitDef> = Vec::new();
    for name in &grid.splits {
        if name == "baseline" {
            return Err(StudyError::spec(
                path,
                "grid.splits: \"baseline\" is not a split; use grid.baseline = true",
            ));
        }
        let def = known.iter().find(|k| &k.name == name).ok_or_else(|| {
            StudyError::spec(
                path,
                format!(
                    "grid.splits: unknown split {name:?}; expected one of: {}",
                    known
                        .iter()
                        .map(|k| k.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if out.iter().any(|d| &d.name == name) {
            return Err(StudyError::spec(
                path,
                format!("grid.splits: {name:?} is listed twice"),
            ));
        }
        out.push(def.clone());
    }
    Ok(out)
}

/// Merges `over` into `base`: tables recursively (but a table with another `type` replaces
/// the base's whole), every other value replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            // a table naming another `type` (another loss or f-divergence) replaces the base's:
            // the base's other keys belong to its own variant
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if o.contains_key("type") && o.get("type") != b.get("type") =>
            {
                base.insert(k, toml::Value::Table(o));
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A name safe as a folder name and a Slurm job name.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
