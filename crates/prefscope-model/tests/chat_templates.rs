//! Chat templates render byte-identical to transformers' `apply_chat_template`: SmolLM2 (from
//! its GGUF), Qwen2.5, and PRISM's open models Llama-2-chat, Zephyr and Llama-3-Instruct; the
//! prompt/completion split equals TRL's, and `raise_exception` fails where transformers fails.
//! Fixture: `tools/gen_model_fixtures.py templates`.

use std::path::PathBuf;

use prefscope_model::{render_template, Message};

fn fixture() -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat_templates.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's templates, in order.
const TEMPLATES: [&str; 5] = [
    "smollm2",
    "qwen2.5",
    "llama-2-chat",
    "zephyr",
    "llama-3-instruct",
];

/// The fixture's cases, checked to be [`TEMPLATES`].
fn cases(fix: &serde_json::Value) -> &Vec<serde_json::Value> {
    let cases = fix["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, TEMPLATES, "templates in the fixture");
    cases
}

fn messages(v: &serde_json::Value) -> Vec<Message> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn templates_render_like_transformers() {
    let fix = fixture();
    let mut checked = 0;
    for case in cases(&fix) {
        let name = case["name"].as_str().unwrap();
        let template = case["template"].as_str().unwrap();
        let (bos, eos) = (
            case["bos_token"].as_str().unwrap(),
            case["eos_token"].as_str().unwrap(),
        );
        for r in case["renders"].as_array().unwrap() {
            let conv = r["conversation"].as_str().unwrap();
            let agp = r["add_generation_prompt"].as_bool().unwrap();
            let msgs = messages(&fix["conversations"][conv]);
            let got = render_template(template, &msgs, agp, bos, eos).unwrap();
            assert_eq!(
                got,
                r["text"].as_str().unwrap(),
                "{name} {conv} add_generation_prompt={agp}"
            );
            checked += 1;
        }
    }
    // 3 conversations × add_generation_prompt false/true per template
    assert_eq!(checked, 6 * TEMPLATES.len());
}

#[test]
fn qwen_default_system_prompt_appears_only_without_system() {
    let fix = fixture();
    let qwen = &fix["cases"][1];
    assert_eq!(qwen["name"], "qwen2.5");
    let t = qwen["template"].as_str().unwrap();
    let user = vec![Message::new("user", "hi")];
    let out = render_template(t, &user, true, "", "<|im_end|>").unwrap();
    assert!(out.starts_with(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    ));
    assert!(out.ends_with("<|im_start|>assistant\n"));
    let with_sys = vec![
        Message::new("system", "Be brief."),
        Message::new("user", "hi"),
    ];
    let out = render_template(t, &with_sys, false, "", "").unwrap();
    assert!(!out.contains("You are Qwen"));
}

#[test]
fn prompt_completion_split_matches_trl() {
    let fix = fixture();
    let prompt = messages(&fix["conversations"]["no_system"]);
    let response = fix["response"].as_str().unwrap();
    let mut checked = 0;
    for case in cases(&fix) {
        let tok = tokenizers::Tokenizer::new(tokenizers::models::bpe::BPE::default());
        let chat = prefscope_model::ChatTokenizer::new(
            tok,
            Some(case["template"].as_str().unwrap().to_string()),
            case["bos_token"].as_str().unwrap(),
            case["eos_token"].as_str().unwrap(),
            None,
        );
        let (p, c) = chat.split_texts(&prompt, response).unwrap();
        assert_eq!(p, case["trl_prompt"].as_str().unwrap(), "{}", case["name"]);
        assert_eq!(
            c,
            case["trl_completion"].as_str().unwrap(),
            "{}",
            case["name"]
        );
        if case["name"] == "smollm2" || case["name"] == "qwen2.5" {
            assert_eq!(c, format!("{response}<|im_end|>\n"), "ChatML completion");
        }
        checked += 1;
    }
    assert_eq!(checked, TEMPLATES.len());
}

#[test]
fn raise_exception_fails_where_transformers_fails() {
    let fix = fixture();
    let mut checked = 0;
    for case in cases(&fix) {
        let out = render_template(
            case["template"].as_str().unwrap(),
            &[Message::new("assistant", "x")],
            false,
            case["bos_token"].as_str().unwrap(),
            case["eos_token"].as_str().unwrap(),
        );
        match case["assistant_first_error"].as_str() {
            Some(msg) => {
                let err = out.unwrap_err().to_string();
                assert!(err.contains(msg), "{}: {err}", case["name"]);
            }
            None => assert!(out.is_ok(), "{}: {out:?}", case["name"]),
        }
        checked += 1;
    }
    assert_eq!(checked, TEMPLATES.len());
}
