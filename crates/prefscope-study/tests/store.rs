//! The run store on a real SQLite file: plan sync keeps statuses, claims are exclusive across
//! processes' connections, finished runs stay finished, and runs whose process is gone are
//! reported lost.

mod common;

use std::collections::HashSet;

use common::{fixture_model, spec_text, write_spec};
use prefscope_study::store::Owner;
use prefscope_study::{plan_study, reconcile::reconcile, Status, Store, Study, StudyData};

fn study(dir: &std::path::Path) -> (Study, Vec<prefscope_study::PlannedRun>) {
    let path = write_spec(dir, &spec_text(&fixture_model(), 120, ""));
    let study = Study::from_file(&path).unwrap();
    let data = StudyData::load(&study).unwrap();
    let runs = plan_study(&study, &data).unwrap();
    (study, runs)
}

fn me() -> Owner {
    prefscope_study::process::current_owner()
}

#[test]
fn plan_sync_adds_only_new_runs_and_keeps_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let (study, runs) = study(dir.path());
    let mut store = Store::open(&study.store_path()).unwrap();
    assert_eq!(store.sync_plan("t", "", &runs).unwrap(), runs.len());
    let first = store.claim(&[Status::Planned], &me()).unwrap().unwrap();
    assert_eq!(first.run_id, runs[0].id, "plan order");
    assert_eq!(first.attempts, 1);
    assert!(store
        .finish(
            &first.run_id,
            Status::Done,
            None,
            Some(&serde_json::json!({"pref_acc": 0.6}))
        )
        .unwrap());
    assert_eq!(store.sync_plan("t", "", &runs).unwrap(), 0);
    let row = store.run(&first.run_id).unwrap().unwrap();
    assert_eq!(row.status, Status::Done);
    assert_eq!(row.metrics.unwrap()["pref_acc"], 0.6);
    // A finished run cannot be finished again by a late report.
    assert!(!store
        .finish(&first.run_id, Status::Failed, Some("late"), None)
        .unwrap());
    let c = store.counts().unwrap();
    assert_eq!((c[&Status::Done], c[&Status::Planned]), (1, runs.len() - 1));
    // A smaller plan: only its runs count; the others stay stored.
    assert_eq!(store.sync_plan("t", "", &runs[..3]).unwrap(), 0);
    assert_eq!(store.runs().unwrap().len(), 3);
    assert_eq!(store.counts().unwrap().values().sum::<usize>(), 3);
}

#[test]
fn concurrent_claims_never_hand_out_a_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (study, runs) = study(dir.path());
    Store::open(&study.store_path())
        .unwrap()
        .sync_plan("t", "", &runs)
        .unwrap();
    let path = study.store_path();
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let path = path.clone();
            std::thread::spawn(move || {
                // One connection per thread, as separate processes have.
                let mut store = Store::open(&path).unwrap();
                let owner = Owner {
                    host: "h".into(),
                    pid: 1000 + k,
                    pid_start: 1,
                };
                let mut got = Vec::new();
                while let Some(r) = store.claim(&[Status::Planned], &owner).unwrap() {
                    got.push(r.run_id);
                }
                got
            })
        })
        .collect();
    let all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), runs.len(), "every run claimed once");
    assert_eq!(unique.len(), runs.len());
    let store = Store::open(&path).unwrap();
    assert!(store
        .runs()
        .unwrap()
        .iter()
        .all(|r| r.status == Status::Running && r.attempts == 1));
}

#[test]
fn a_run_whose_process_is_gone_is_lost_then_claimed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (study, runs) = study(dir.path());
    let mut store = Store::open(&study.store_path()).unwrap();
    store.sync_plan("t", "", &runs).unwrap();
    // A child that has exited: its pid is gone (or reused by a process of another start time).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let dead = prefscope_study::process::child_owner(pid);
    child.wait().unwrap();
    let alive = me();
    let a = store.claim(&[Status::Planned], &dead).unwrap().unwrap();
    let b = store.claim(&[Status::Planned], &alive).unwrap().unwrap();
    assert_eq!(reconcile(&study, &mut store).unwrap(), 1);
    let a_row = store.run(&a.run_id).unwrap().unwrap();
    assert_eq!(a_row.status, Status::Lost);
    assert!(a_row.reason.unwrap().contains(&format!("process {pid}")));
    assert_eq!(
        store.run(&b.run_id).unwrap().unwrap().status,
        Status::Running,
        "a live owner keeps its run"
    );
    // `run` takes planned and lost runs: the lost one comes back first (plan order).
    let again = store
        .claim(&[Status::Planned, Status::Lost], &alive)
        .unwrap()
        .unwrap();
    assert_eq!(again.run_id, a.run_id);
    assert_eq!(again.attempts, 2);
    let attempts = store.attempts(&a.run_id).unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].outcome.as_deref(), Some("lost"));
    assert_eq!(
        attempts[1].outcome, None,
        "the second attempt is still running"
    );
}

#[test]
fn opening_a_study_never_planned_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open_existing(&dir.path().join("study.sqlite"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("study plan") || e.contains("study run"), "{e}");
}
