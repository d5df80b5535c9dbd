//! `Loaded::save_pretrained` (the one saver: prefscope-train's final model directory is written
//! by it too) round-trips: a GGUF model saved as an HF directory and that directory saved again
//! load back with the same weights digest, the same logits and the same chat encoding, BOS of the
//! Llama-2-chat template included (an earlier saver in prefscope-train wrote a
//! tokenizer_config.json without `bos_token`, so a reloaded model rendered "" for it).

mod common;

use std::path::Path;

use common::{fixtures, read_json};
use prefscope_model::{load, LoadOptions, Loaded, Message, Truncation};
use tch::Tensor;

fn load_path(path: &Path) -> Loaded {
    load(path.to_str().unwrap(), &LoadOptions::default()).unwrap()
}

/// The fixture's Llama-2-chat exchange, encoded as a pair side.
fn encode(m: &Loaded) -> prefscope_model::Encoded {
    let c = &read_json("tiny-spm.tokenizer.json")["chat"];
    let messages: Vec<Message> = serde_json::from_value(c["messages"].clone()).unwrap();
    m.chat
        .encode_pair(&messages[..1], &messages[1].content, &Truncation::default())
        .unwrap()
}

fn logits(m: &Loaded, ids: &[u32]) -> Tensor {
    let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    tch::no_grad(|| {
        m.model
            .forward_logits(&Tensor::from_slice(&ids).unsqueeze(0), None)
            .unwrap()
    })
}

/// `a` and `b` are the same model for scoring: weights digest, encoding, logits.
fn assert_same_model(a: &Loaded, b: &Loaded, what: &str) {
    assert_eq!(
        a.weights_digest().unwrap(),
        b.weights_digest().unwrap(),
        "{what}: weights digest"
    );
    let (ea, eb) = (encode(a), encode(b));
    assert_eq!(ea, eb, "{what}: encoded pair");
    let (ids, _) = ea.ids_and_completion_mask();
    assert!(
        logits(a, &ids).equal(&logits(b, &ids)),
        "{what}: logits differ"
    );
}

#[test]
fn gguf_to_hf_dir_and_back_keeps_tokenizer_template_and_weights() {
    let gguf = load_path(&fixtures().join("tiny-spm.gguf"));
    let bos = gguf.chat.tokenizer().token_to_id("<s>").unwrap();
    let enc = encode(&gguf);
    assert_eq!(enc.prompt_ids[0], bos, "the template writes one BOS");

    let a = tempfile::tempdir().unwrap();
    gguf.save_pretrained(a.path()).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(a.path().join("tokenizer_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["bos_token"], "<s>");
    assert_eq!(cfg["eos_token"], "</s>");
    let from_dir = load_path(a.path());
    assert_same_model(&gguf, &from_dir, "GGUF → HF dir");

    // an HF directory is saved with its own tokenizer files, byte for byte
    let b = tempfile::tempdir().unwrap();
    from_dir.save_pretrained(b.path()).unwrap();
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        assert_eq!(
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap(),
            "{name} copied"
        );
    }
    assert_same_model(&from_dir, &load_path(b.path()), "HF dir → HF dir");

    // saving over the directory the model came from leaves it whole
    from_dir.save_pretrained(a.path()).unwrap();
    assert_same_model(&from_dir, &load_path(a.path()), "HF dir → itself");
}
