//! Splitting users into two groups per attribute, and holding out evaluation users.
//!
//! A split spec is TOML:
//! ```toml
//! builtin = ["age", "safety", "region"]   # any of the notes' splits, or "all"
//! [holdout]
//! fraction = 0.2
//! seed = 7
//! [[split]]
//! name = "young_women"
//! rule = "category"
//! field = "age"
//! a = ["18-24 years old"]
//! # b omitted: every other known value
//! ```
//! Rules: `category` (values in `a` vs values in `b`, or every other value), `median` (a
//! numeric attribute above vs at-or-below its median among users with pairs), `behavioral`
//! (the user's own mean score gap, above vs at-or-below the median), `random` (a seeded coin
//! per user). Users with a missing or "Prefer not to say" value are excluded from that split and
//! counted. Group A is always the first-named group (18-34, above median, ...): the side the
//! statistical prediction's sign refers to.
//!
//! Random groups and the hold-out draw hash (seed, user id), so a user's group depends only on
//! the user and the seed, never on who else is in the data.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prefscope_stats::quantile_sorted;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attributes::{attribute, check_attribute_name, AttrValue};
use crate::error::{Error, Result};
use crate::pair::Pair;
use crate::prism::Dataset;

/// One of the two groups of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Group {
    A,
    B,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::A => "A",
            Group::B => "B",
        }
    }
}

/// How a split assigns users to groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum SplitRule {
    Category {
        field: String,
        a: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<Vec<String>>,
    },
    Median {
        field: String,
    },
    Behavioral,
    Random {
        seed: u64,
    },
    /// A random split of fixed sizes: users ranked by a seeded draw, the first `size_a` in A,
    /// the next `size_b` in B, the rest excluded (B is smaller when users run out). A study's
    /// null splits take the sizes of its real splits' groups, so the null is of like size.
    #[serde(rename = "random_sized")]
    RandomSized {
        seed: u64,
        size_a: usize,
        size_b: usize,
    },
}

/// A named split with labels for its groups. (serde cannot deny unknown fields through
/// `flatten`; [`SplitSpec::from_toml`] checks the keys itself.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitDef {
    pub name: String,
    #[serde(flatten)]
    pub rule: SplitRule,
    #[serde(default = "default_a")]
    pub a_label: String,
    #[serde(default = "default_b")]
    pub b_label: String,
    /// Marks the null control (the notes' `region`): no difference is expected.
    #[serde(default)]
    pub null_control: bool,
}

fn default_a() -> String {
    "A".into()
}
fn default_b() -> String {
    "B".into()
}

/// The evaluation hold-out: a share of users, drawn by a data seed of its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    pub fraction: f64,
    pub seed: u64,
}

impl Default for Holdout {
    fn default() -> Self {
        Holdout {
            fraction: 0.2,
            seed: 20240501,
        }
    }
}

/// A split spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Names of built-in splits to include, or `["all"]`.
    #[serde(default)]
    pub builtin: Vec<String>,
    #[serde(default)]
    pub holdout: Holdout,
    #[serde(default, rename = "split")]
    pub splits: Vec<SplitDef>,
}

const EDU_HIGH: [&str; 2] = [
    "University Bachelors Degree",
    "Graduate / Professional degree",
];
const EDU_LOW: [&str; 6] = [
    "Some University but no degree",
    "Completed Secondary School",
    "Vocational",
    "Some Secondary",
    "Completed Primary School",
    "Some Primary",
];

/// The notes' splits (RESEARCH.md): age, five stated-preference sliders, familiarity,
/// education, behavioral, the region null control, and a seeded random split.
pub fn builtin_splits() -> Vec<SplitDef> {
    let cat =
        |name: &str, field: &str, a: &[&str], b: Option<&[&str]>, la: &str, lb: &str| SplitDef {
            name: name.into(),
            rule: SplitRule::Category {
                field: field.into(),
                a: a.iter().map(|s| s.to_string()).collect(),
                b: b.map(|b| b.iter().map(|s| s.to_string()).collect()),
            },
            a_label: la.into(),
            b_label: lb.into(),
            null_control: false,
        };
    let median = |slider: &str| SplitDef {
        name: slider.into(),
        rule: SplitRule::Median {
            field: format!("stated_prefs.{slider}"),
        },
        a_label: "above median".into(),
        b_label: "at or below median".into(),
        null_control: false,
    };
    let mut splits = vec![cat(
        "age",
        "age",
        &["18-24 years old", "25-34 years old"],
        Some(&[
            "35-44 years old",
            "45-54 years old",
            "55-64 years old",
            "65+ years old",
        ]),
        "18-34",
        "35+",
    )];
    splits.extend(
        [
            "safety",
            "personalisation",
            "factuality",
            "helpfulness",
            "diversity",
        ]
        .map(median),
    );
    splits.push(cat(
        "familiarity",
        "lm_familiarity",
        &["Very familiar"],
        None,
        "very familiar",
        "less familiar",
    ));
    splits.push(cat(
        "education",
        "education",
        &EDU_HIGH,
        Some(&EDU_LOW),
        "bachelor's or higher",
        "below bachelor's",
    ));
    splits.push(SplitDef {
        name: "behavioral".into(),
        rule: SplitRule::Behavioral,
        a_label: "large own gaps".into(),
        b_label: "small own gaps".into(),
        null_control: false,
    });
    let mut region = cat(
        "region",
        "location.special_region",
        &["Europe", "UK"],
        Some(&["US", "Northern America", "Latin America and the Caribbean"]),
        "Europe",
        "the Americas",
    );
    region.null_control = true;
    splits.push(region);
    splits.push(SplitDef {
        name: "random".into(),
        rule: SplitRule::Random { seed: 0 },
        a_label: "heads".into(),
        b_label: "tails".into(),
        null_control: true,
    });
    splits
}

impl SplitSpec {
    /// Parses and checks a spec; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<SplitSpec> {
        let raw: toml::Table =
            toml::from_str(text).map_err(|e| Error::Spec(format!("{origin}: {e}")))?;
        const KEYS: [&str; 11] = [
            "name",
            "rule",
            "field",
            "a",
            "b",
            "seed",
            "size_a",
            "size_b",
            "a_label",
            "b_label",
            "null_control",
        ];
        for (i, split) in raw
            .get("split")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            for key in split.as_table().into_iter().flat_map(|t| t.keys()) {
                if !KEYS.contains(&key.as_str()) {
                    return Err(Error::Spec(format!(
                        "{origin}: split #{}: unknown key {key:?}; expected one of {}",
                        i + 1,
                        KEYS.join(", ")
                    )));
                }
            }
        }
        let spec: SplitSpec =
            toml::from_str(text).map_err(|e| Error::Spec(format!("{origin}: {e}")))?;
        spec.resolve()
            .map_err(|e| Error::Spec(format!("{origin}: {e}")))?;
        Ok(spec)
    }

    /// The spec used when none is given: every built-in split, default hold-out.
    pub fn builtin_all() -> SplitSpec {
        SplitSpec {
            builtin: vec!["all".into()],
            ..Default::default()
        }
    }

    /// The splits this spec names, built-ins first, with every field checked.
    pub fn resolve(&self) -> Result<Vec<SplitDef>> {
        let builtins = builtin_splits();
        let mut out = Vec::new();
        for name in &self.builtin {
            if name == "all" {
                out.extend(builtins.iter().cloned());
            } else {
                let b = builtins.iter().find(|b| &b.name == name).ok_or_else(|| {
                    Error::Spec(format!(
                        "unknown built-in split {name:?}; expected \"all\" or one of: {}",
                        builtins
                            .iter()
                            .map(|b| b.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                out.push(b.clone());
            }
        }
        out.extend(self.splits.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        for s in &out {
            if !seen.insert(s.name.as_str()) {
                return Err(Error::Spec(format!("split {:?} is defined twice", s.name)));
            }
            match &s.rule {
                SplitRule::Category { field, a, .. } => {
                    check_attribute_name(field)?;
                    if a.is_empty() {
                        return Err(Error::Spec(format!(
                            "split {:?}: expected at least one value in `a`, found none",
                            s.name
                        )));
                    }
                }
                SplitRule::Median { field } => check_attribute_name(field)?,
                SplitRule::Behavioral
                | SplitRule::Random { .. }
                | SplitRule::RandomSized { .. } => {}
            }
        }
        if !(0.0..1.0).contains(&self.holdout.fraction) {
            return Err(Error::Spec(format!(
                "holdout.fraction: expected a share in [0, 1), found {}",
                self.holdout.fraction
            )));
        }
        Ok(out)
    }
}

/// Users assigned to groups by one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    pub def: SplitDef,
    pub groups: BTreeMap<String, Group>,
    /// Users with pairs whose attribute was missing or outside both groups' values.
    pub excluded: usize,
    /// The median used by `median` and `behavioral` rules.
    pub threshold: Option<f64>,
}

impl Split {
    pub fn group_of(&self, user_id: &str) -> Option<Group> {
        self.groups.get(user_id).copied()
    }

    pub fn size(&self, g: Group) -> usize {
        self.groups.values().filter(|&&x| x == g).count()
    }
}

/// A uniform number in [0, 1) from (seed, key): the same inputs, the same number.
pub fn seeded_unit(seed: u64, salt: &str, key: &str) -> f64 {
    let digest = Sha256::digest(format!("{seed}\u{1f}{salt}\u{1f}{key}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Applies one split to the users that have pairs.
pub fn apply_split(def: &SplitDef, data: &Dataset, pairs: &[Pair]) -> Split {
    let users = users_with_pairs(pairs);
    let mut groups = BTreeMap::new();
    let mut excluded = 0;
    let mut threshold = None;
    let mut assign = |user: &str, g: Option<Group>| match g {
        Some(g) => {
            groups.insert(user.to_string(), g);
        }
        None => excluded += 1,
    };
    match &def.rule {
        SplitRule::Category { field, a, b } => {
            for u in users.keys() {
                let g = data.user(u).and_then(|rec| match attribute(rec, field) {
                    AttrValue::Text(t) if a.contains(&t) => Some(Group::A),
                    AttrValue::Text(t) if b.as_ref().is_none_or(|b| b.contains(&t)) => {
                        Some(Group::B)
                    }
                    _ => None,
                });
                assign(u, g);
            }
        }
        SplitRule::Median { field } => {
            let values: Vec<(String, Option<f64>)> = users
                .keys()
                .map(|u| {
                    let v = data.user(u).and_then(|rec| match attribute(rec, field) {
                        AttrValue::Number(x) => Some(x),
                        _ => None,
                    });
                    (u.clone(), v)
                })
                .collect();
            threshold = median_split(&values, &mut assign);
        }
        SplitRule::Behavioral => {
            let values: Vec<(String, Option<f64>)> = users
                .iter()
                .map(|(u, (sum, n))| (u.clone(), Some(sum / *n as f64)))
                .collect();
            threshold = median_split(&values, &mut assign);
        }
        SplitRule::Random { seed } => {
            for u in users.keys() {
                let g = if seeded_unit(*seed, "random-split", u) < 0.5 {
                    Group::A
                } else {
                    Group::B
                };
                assign(u, Some(g));
            }
        }
        SplitRule::RandomSized {
            seed,
            size_a,
            size_b,
        } => {
            let mut ranked: Vec<(f64, &String)> = users
                .keys()
                .map(|u| (seeded_unit(*seed, "random-split", u), u))
                .collect();
            ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then_with(|| x.1.cmp(y.1)));
            for (i, (_, u)) in ranked.into_iter().enumerate() {
                let g = match i {
                    i if i < *size_a => Some(Group::A),
                    i if i < size_a + size_b => Some(Group::B),
                    _ => None,
                };
                assign(u, g);
            }
        }
    }
    Split {
        def: def.clone(),
        groups,
        excluded,
        threshold,
    }
}

/// Above the median → A, at or below → B; missing → excluded. Returns the median.
fn median_split(
    values: &[(String, Option<f64>)],
    assign: &mut impl FnMut(&str, Option<Group>),
) -> Option<f64> {
    let mut known: Vec<f64> = values.iter().filter_map(|(_, v)| *v).collect();
    known.sort_by(f64::total_cmp);
    // `known` is sorted and finite, so the only refusal is no data: no median.
    let median = quantile_sorted(&known, 0.5).ok();
    for (u, v) in values {
        assign(
            u,
            v.zip(median)
                .map(|(x, m)| if x > m { Group::A } else { Group::B }),
        );
    }
    median
}

/// Sum of score gaps and pair count per user.
pub fn users_with_pairs(pairs: &[Pair]) -> BTreeMap<String, (f64, usize)> {
    let mut users: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for p in pairs {
        let e = users.entry(p.user_id.clone()).or_default();
        e.0 += p.score_gap;
        e.1 += 1;
    }
    users
}

/// Whether a user is held out for evaluation under `holdout`.
pub fn is_eval_user(holdout: &Holdout, user_id: &str) -> bool {
    seeded_unit(holdout.seed, "holdout", user_id) < holdout.fraction
}

/// Per group: users and pairs, split into train and eval by the hold-out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupCounts {
    pub users: usize,
    pub pairs: usize,
    pub train_users: usize,
    pub train_pairs: usize,
    pub eval_users: usize,
    pub eval_pairs: usize,
}

/// Counts users and pairs per group of a split.
pub fn group_counts(
    split: &Split,
    pairs: &[Pair],
    holdout: &Holdout,
) -> BTreeMap<Group, GroupCounts> {
    let mut counts: BTreeMap<Group, GroupCounts> = BTreeMap::from([
        (Group::A, Default::default()),
        (Group::B, Default::default()),
    ]);
    let per_user = users_with_pairs(pairs);
    for (user, g) in &split.groups {
        let n = per_user.get(user).map_or(0, |x| x.1);
        let c = counts.entry(*g).or_default();
        c.users += 1;
        c.pairs += n;
        if is_eval_user(holdout, user) {
            c.eval_users += 1;
            c.eval_pairs += n;
        } else {
            c.train_users += 1;
            c.train_pairs += n;
        }
    }
    counts
}

/// Source-model counts of each grouped user's pairs: a pair counts for the model of its chosen
/// and (if different) its rejected response.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceModelCounts {
    /// The models that appear, sorted.
    pub models: Vec<String>,
    /// One row per grouped user with pairs, in user order: its group and its count per model.
    pub users: Vec<(Group, Vec<f64>)>,
}

impl SourceModelCounts {
    /// The 2 x models table of pair counts, group A first: the notes' source-model confound
    /// check.
    pub fn table(&self) -> [Vec<f64>; 2] {
        let mut table = [vec![0.0; self.models.len()], vec![0.0; self.models.len()]];
        for (g, counts) in &self.users {
            let row = &mut table[usize::from(*g == Group::B)];
            for (c, x) in row.iter_mut().zip(counts) {
                *c += x;
            }
        }
        table
    }
}

/// Counts each grouped user's pairs per source model (see [`SourceModelCounts`]).
pub fn source_model_counts(split: &Split, pairs: &[Pair]) -> SourceModelCounts {
    let models: BTreeSet<&str> = pairs
        .iter()
        .filter(|p| split.group_of(&p.user_id).is_some())
        .flat_map(|p| [p.chosen_model.as_str(), p.rejected_model.as_str()])
        .collect();
    let column: HashMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut by_user: BTreeMap<&str, (Group, Vec<f64>)> = BTreeMap::new();
    for p in pairs {
        let Some(g) = split.group_of(&p.user_id) else {
            continue;
        };
        let (_, counts) = by_user
            .entry(&p.user_id)
            .or_insert_with(|| (g, vec![0.0; models.len()]));
        counts[column[p.chosen_model.as_str()]] += 1.0;
        if p.rejected_model != p.chosen_model {
            counts[column[p.rejected_model.as_str()]] += 1.0;
        }
    }
    SourceModelCounts {
        models: models.into_iter().map(str::to_string).collect(),
        users: by_user.into_values().collect(),
    }
}
