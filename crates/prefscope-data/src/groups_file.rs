//! Group membership per split, as `prefscope splits` writes it to `groups.csv`: a header naming
//! at least `split`, `user_id` and `group` (any order, other columns such as `label` ignored),
//! then one row per user and split with `group` `A` or `B`. Users excluded from a split have
//! no row for it. [`write_groups_csv`] is the one writer (`split,user_id,group,label`, fields
//! quoted by the csv crate where they need it).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{Error, Result};
use crate::splits::{Group, Split};

/// Split name → user id → group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    splits: BTreeMap<String, HashMap<String, Group>>,
}

/// Writes `groups.csv` atomically: the header `split,user_id,group,label`, then one row per
/// `(split, user, group, label)` in the order given.
pub fn write_groups_csv<'a>(
    path: &Path,
    rows: impl IntoIterator<Item = (&'a str, &'a str, Group, &'a str)>,
) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let memory = "writing CSV to memory cannot fail";
    w.write_record(["split", "user_id", "group", "label"])
        .expect(memory);
    for (split, user, group, label) in rows {
        w.write_record([split, user, group.as_str(), label])
            .expect(memory);
    }
    crate::write_bytes_atomic(path, &w.into_inner().expect(memory))
}

/// [`write_groups_csv`] of applied splits, each group labelled as its split definition names
/// it.
pub fn write_splits_groups_csv(path: &Path, splits: &[Split]) -> Result<()> {
    write_groups_csv(
        path,
        splits.iter().flat_map(|s| {
            s.groups.iter().map(move |(user, &g)| {
                let label = match g {
                    Group::A => s.def.a_label.as_str(),
                    Group::B => s.def.b_label.as_str(),
                };
                (s.def.name.as_str(), user.as_str(), g, label)
            })
        }),
    )
}

impl Groups {
    /// The groups of applied splits (what `prefscope splits` writes, without the file).
    pub fn from_splits(splits: &[Split]) -> Groups {
        let mut g = Groups::default();
        for s in splits {
            for (user, &group) in &s.groups {
                g.insert(&s.def.name, user, group);
            }
        }
        g
    }

    /// Sets `user`'s group in `split`, replacing any earlier one.
    pub fn insert(&mut self, split: &str, user: &str, group: Group) {
        self.splits
            .entry(split.to_string())
            .or_default()
            .insert(user.to_string(), group);
    }

    /// The group of `user` in `split`; `None` for an unknown split or a user outside both
    /// groups.
    pub fn group_of(&self, split: &str, user: &str) -> Option<Group> {
        self.splits.get(split)?.get(user).copied()
    }

    /// The users of one split, `None` for an unknown split.
    pub fn split(&self, split: &str) -> Option<&HashMap<String, Group>> {
        self.splits.get(split)
    }

    /// Split names, sorted.
    pub fn split_names(&self) -> impl Iterator<Item = &str> {
        self.splits.keys().map(String::as_str)
    }

    /// Reads a `groups.csv`. Errors name the file and line: a missing column, a group that is
    /// not `A` or `B`, an empty split or user id, a user listed twice in one split.
    pub fn read(path: &Path) -> Result<Groups> {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| csv_error(path, e))?;
        let header = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
        let col = |name: &str| {
            csv_column(&header, name).map_err(|message| Error::record(path, 1, None, message))
        };
        let (cs, cu, cg) = (col("split")?, col("user_id")?, col("group")?);
        let mut groups = Groups::default();
        let mut first_line: HashMap<(String, String), usize> = HashMap::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| csv_error(path, e))?;
            let line = rec.position().map_or(0, |p| p.line() as usize);
            let field = |c: usize, name: &str| {
                let v = rec.get(c).unwrap_or("");
                if v.is_empty() {
                    Err(Error::record(
                        path,
                        line,
                        Some(name),
                        "expected a value, found an empty field",
                    ))
                } else {
                    Ok(v)
                }
            };
            let (split, user) = (field(cs, "split")?, field(cu, "user_id")?);
            let group = match field(cg, "group")? {
                "A" => Group::A,
                "B" => Group::B,
                other => {
                    return Err(Error::record(
                        path,
                        line,
                        Some("group"),
                        format!("expected A or B, found {other:?}"),
                    ))
                }
            };
            if let Some(first) = first_line.insert((split.to_string(), user.to_string()), line) {
                return Err(Error::record(
                    path,
                    line,
                    Some("user_id"),
                    format!(
                        "expected each user once per split, found user {user:?} of split {split:?} again (first at line {first})"
                    ),
                ));
            }
            groups.insert(split, user, group);
        }
        Ok(groups)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line() as usize);
    match (e.kind(), line) {
        (csv::ErrorKind::Io(_), _) => Error::file(path, e.to_string()),
        (_, Some(line)) => Error::record(path, line, None, e.to_string()),
        (_, None) => Error::file(path, e.to_string()),
    }
}

/// The index of column `name` in a CSV header, or the message of a bad-input error naming
/// what was expected and found (the caller adds the file and line 1).
pub fn csv_column(header: &csv::StringRecord, name: &str) -> std::result::Result<usize, String> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        format!(
            "expected a column {name:?}, found {:?}",
            header.iter().collect::<Vec<_>>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Groups> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.csv");
        std::fs::write(&path, text).unwrap();
        Groups::read(&path)
    }

    #[test]
    fn reads_what_splits_writes() {
        let g =
            read("split,user_id,group,label\nage,u1,A,18-34\nage,u2,B,35+\nregion,u1,B,\"x, y\"\n")
                .unwrap();
        assert_eq!(g.group_of("age", "u1"), Some(Group::A));
        assert_eq!(g.group_of("age", "u2"), Some(Group::B));
        assert_eq!(g.group_of("region", "u1"), Some(Group::B));
        assert_eq!(g.group_of("region", "u2"), None);
        assert_eq!(g.group_of("safety", "u1"), None);
        assert_eq!(g.split_names().collect::<Vec<_>>(), ["age", "region"]);
    }

    /// The writer quotes what needs quoting, and the reader reads back what it wrote.
    #[test]
    fn write_round_trips_through_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.csv");
        let rows = [
            ("age", "u1", Group::A, "18-34"),
            ("region", "u,2", Group::B, "say \"x, y\""),
        ];
        write_groups_csv(&path, rows).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "split,user_id,group,label\nage,u1,A,18-34\nregion,\"u,2\",B,\"say \"\"x, y\"\"\"\n"
        );
        let g = Groups::read(&path).unwrap();
        assert_eq!(g.group_of("age", "u1"), Some(Group::A));
        assert_eq!(g.group_of("region", "u,2"), Some(Group::B));
    }

    #[test]
    fn errors_name_file_line_expected_and_found() {
        let msg = |text: &str| read(text).unwrap_err().to_string();
        let m = msg("split,user,group\nage,u1,A\n");
        assert!(
            m.ends_with(
                ":1: expected a column \"user_id\", found [\"split\", \"user\", \"group\"]"
            ),
            "{m}"
        );
        let m = msg("split,user_id,group\nage,u1,A\nage,u2,C\n");
        assert!(
            m.ends_with(":3: field \"group\": expected A or B, found \"C\""),
            "{m}"
        );
        let m = msg("split,user_id,group\nage,u1,A\nage,u1,B\n");
        assert!(
            m.contains(":3: field \"user_id\": expected each user once per split"),
            "{m}"
        );
        assert!(m.ends_with("(first at line 2)"), "{m}");
        let m = msg("split,user_id,group\nage,,A\n");
        assert!(
            m.ends_with(":2: field \"user_id\": expected a value, found an empty field"),
            "{m}"
        );
        let m = msg("split,user_id,group\nage,u1\n");
        assert!(m.contains(":2:"), "{m}");
    }
}
