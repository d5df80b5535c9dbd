//! Generic pair import: the real HH-RLHF sample in tests/fixtures/hh-rlhf and TRL's conversational format.

use std::path::PathBuf;

use prefscope_data::{detect_format, import_pairs, PairFormat};

fn hh_sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hh-rlhf/harmless-base-test.jsonl.gz")
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn hh_rlhf_sample_imports_all_2312_pairs_and_round_trips() {
    let path = hh_sample();
    assert_eq!(detect_format(&path).unwrap(), PairFormat::HhRlhf);
    let imported = import_pairs(&path, PairFormat::HhRlhf).unwrap();
    assert_eq!(imported.pairs.len(), 2312);
    let raw: Vec<serde_json::Value> = {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()),
            &mut text,
        )
        .unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut rebuilt = 0;
    for (p, r) in imported.pairs.iter().zip(&raw) {
        assert_eq!(p.prompt.first().unwrap().role, "user");
        assert_eq!(p.prompt.last().unwrap().role, "user");
        // Rendering the prompt and each response back as a transcript gives the original text
        // (up to whitespace).
        let render = |response: &str| {
            let mut t = String::new();
            for m in p.prompt.iter() {
                t += if m.role == "user" {
                    "\n\nHuman: "
                } else {
                    "\n\nAssistant: "
                };
                t += &m.content;
            }
            t + "\n\nAssistant: " + response
        };
        assert_eq!(
            squash(&render(&p.chosen)),
            squash(r["chosen"].as_str().unwrap())
        );
        assert_eq!(
            squash(&render(&p.rejected)),
            squash(r["rejected"].as_str().unwrap())
        );
        rebuilt += 1;
    }
    assert_eq!(rebuilt, 2312);
    // Five records (lines 1255, 1689, 1951, 1953, 2037) hold further turns in a response,
    // counted by a Python check of the file with the same rule.
    assert_eq!(imported.multi_turn_responses, 5);
    let first = &imported.pairs[0];
    assert_eq!(first.prompt.len(), 5);
    assert!(first.chosen.starts_with("No, sorry!"));
}

#[test]
fn trl_conversational_with_and_without_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trl.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"pair_id":"a","prompt":[{"role":"user","content":"Hi"}],"chosen":[{"role":"assistant","content":"Hello!"}],"rejected":"Go away."}"#,
            "\n",
            r#"{"chosen":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"rejected":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"5"}]}"#,
            "\n",
        ),
    )
    .unwrap();
    assert_eq!(detect_format(&path).unwrap(), PairFormat::TrlConversational);
    let pairs = import_pairs(&path, PairFormat::TrlConversational)
        .unwrap()
        .pairs;
    assert_eq!(
        (
            pairs[0].pair_id.as_str(),
            pairs[0].chosen.as_str(),
            pairs[0].rejected.as_str()
        ),
        ("a", "Hello!", "Go away.")
    );
    assert_eq!(pairs[1].pair_id, "2", "without pair_id, the line number");
    assert_eq!(
        (
            pairs[1].prompt.len(),
            pairs[1].chosen.as_str(),
            pairs[1].rejected.as_str()
        ),
        (1, "4", "5")
    );

    std::fs::write(&path, r#"{"prompt":[{"role":"user","content":"Hi"}],"chosen":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}],"rejected":"z"}"#).unwrap();
    let err = import_pairs(&path, PairFormat::TrlConversational)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trl.jsonl:1:")
            && err.contains("expected one assistant message or a string, found 2 messages"),
        "{err}"
    );
}
