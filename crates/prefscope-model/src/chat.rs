//! Tokenization and chat templates: a conversation plus a response becomes prompt token ids and
//! completion token ids, the way TRL prepares DPO pairs.
//!
//! Templates are rendered with `minijinja` under HF semantics: `trim_blocks` and
//! `lstrip_blocks` on, loop controls, Python string methods (`minijinja-contrib` pycompat),
//! `raise_exception(msg)` as an error, `tojson` as Python's `json.dumps`, `strftime_now`, and the
//! variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token`. A template's own
//! default system prompt (Qwen2.5: "You are Qwen, created by Alibaba Cloud. You are a helpful
//! assistant.") appears exactly when the template adds it.
//!
//! The completion text is TRL's (`maybe_apply_chat_template`): render prompt + assistant message,
//! take the longest common prefix with the prompt rendered with `add_generation_prompt=True`;
//! the prompt is that prefix and the completion is the rest. For ChatML templates that is the
//! response, `<|im_end|>` and a newline. Prompt and completion are tokenized separately with no
//! added special tokens (the template writes them).
//!
//! Truncation ([`Truncation`]): first the prompt keeps its LAST `max_prompt_length` tokens; then,
//! if prompt + completion is longer than `max_length`, the completion keeps its FIRST
//! `max_length - prompt` tokens. With `max_length` but no `max_prompt_length`, the prompt may
//! use at most `max_length - 1` tokens, so at least one completion token is left. The prompt's
//! cut depends on the prompt alone, so both sides of a pair keep the same prompt (TRL's
//! `max_prompt_length`, then `max_length` with `truncation_mode="keep_start"`). Each cut is
//! counted in [`Encoded`]. prefscope-train applies the same [`Truncation`] to token ids at
//! collation.

use std::path::Path;

use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};

pub use prefscope_config::Truncation;
pub use prefscope_data::Message;

/// A prompt and one completion as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoded {
    pub prompt_ids: Vec<u32>,
    pub completion_ids: Vec<u32>,
    /// Prompt tokens dropped from the start.
    pub prompt_truncated: usize,
    /// Completion tokens dropped from the end.
    pub completion_truncated: usize,
}

impl Encoded {
    /// Prompt then completion ids, and the completion mask (0 for prompt tokens, 1 for
    /// completion tokens) of the same length.
    pub fn ids_and_completion_mask(&self) -> (Vec<u32>, Vec<u8>) {
        let ids = [self.prompt_ids.as_slice(), self.completion_ids.as_slice()].concat();
        let mut mask = vec![0u8; self.prompt_ids.len()];
        mask.resize(ids.len(), 1);
        (ids, mask)
    }
}

/// Truncation counts over many encoded sequences, for the run log and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruncationStats {
    /// Sequences seen.
    pub sequences: usize,
    /// Sequences whose prompt lost tokens.
    pub prompts_truncated: usize,
    /// Sequences whose completion lost tokens.
    pub completions_truncated: usize,
    /// Prompt tokens dropped in total.
    pub prompt_tokens_dropped: usize,
    /// Completion tokens dropped in total.
    pub completion_tokens_dropped: usize,
}

impl TruncationStats {
    /// Counts one encoded sequence.
    pub fn add(&mut self, e: &Encoded) {
        self.sequences += 1;
        self.prompts_truncated += usize::from(e.prompt_truncated > 0);
        self.completions_truncated += usize::from(e.completion_truncated > 0);
        self.prompt_tokens_dropped += e.prompt_truncated;
        self.completion_tokens_dropped += e.completion_truncated;
    }
}

impl std::fmt::Display for TruncationStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} prompts truncated ({} tokens dropped from their start), {} of {} completions truncated ({} tokens dropped from their end)",
            self.prompts_truncated,
            self.sequences,
            self.prompt_tokens_dropped,
            self.completions_truncated,
            self.sequences,
            self.completion_tokens_dropped
        )
    }
}

/// A tokenizer with its chat template and special tokens.
pub struct ChatTokenizer {
    tokenizer: Tokenizer,
    template: Option<String>,
    bos_token: String,
    eos_token: String,
    pad_token_id: Option<u32>,
}

impl std::fmt::Debug for ChatTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTokenizer")
            .field("vocab", &self.tokenizer.get_vocab_size(true))
            .field("has_template", &self.template.is_some())
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

/// A special-token entry of tokenizer_config.json: a string or `{"content": ...}`.
fn token_string(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl ChatTokenizer {
    /// Builds from parts (GGUF metadata, tests).
    pub fn new(
        tokenizer: Tokenizer,
        template: Option<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
        pad_token_id: Option<u32>,
    ) -> Self {
        Self {
            tokenizer,
            template,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            pad_token_id,
        }
    }

    /// Reads `tokenizer.json`, and `tokenizer_config.json` for the chat template (or
    /// `chat_template.jinja`) and the bos/eos/pad tokens.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", tok_path.display())))?;
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: serde_json::Value = match std::fs::read_to_string(&cfg_path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| ModelError::format(&cfg_path, e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
            Err(e) => return Err(ModelError::io(&cfg_path, e)),
        };
        let jinja_path = dir.join("chat_template.jinja");
        let template = match cfg.get("chat_template") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            // A list of named templates: take "default".
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
            _ if jinja_path.is_file() => Some(
                std::fs::read_to_string(&jinja_path).map_err(|e| ModelError::io(&jinja_path, e))?,
            ),
            _ => None,
        };
        let bos_token = token_string(cfg.get("bos_token")).unwrap_or_default();
        let eos_token = token_string(cfg.get("eos_token")).unwrap_or_default();
        let pad_token_id = token_string(cfg.get("pad_token"))
            .and_then(|p| tokenizer.token_to_id(&p))
            .or_else(|| tokenizer.token_to_id(&eos_token));
        Ok(Self::new(
            tokenizer,
            template,
            bos_token,
            eos_token,
            pad_token_id,
        ))
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` (chat template and special tokens) to
    /// `dir`, so that transformers' `AutoTokenizer.from_pretrained(dir)` reads them. Whether a
    /// BOS/EOS is added lives in tokenizer.json's post-processor, as transformers' own
    /// `save_pretrained` leaves it (no `add_bos_token` key). A model without a BOS (Qwen2,
    /// the tiny model) gets `"bos_token": null`, as Qwen2's own files have it: transformers
    /// reads `""` as a special token that is the empty string (`bos_token == ""`, listed in
    /// `all_special_tokens`), where `null` means none (`bos_token is None`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let tok_path = dir.join("tokenizer.json");
        self.tokenizer
            .save(&tok_path, false)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", tok_path.display())))?;
        let pad = self
            .pad_token_id
            .and_then(|id| self.tokenizer.id_to_token(id));
        let cfg = serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "chat_template": self.template,
            "bos_token": Some(&self.bos_token).filter(|t| !t.is_empty()),
            "eos_token": Some(&self.eos_token).filter(|t| !t.is_empty()),
            "pad_token": pad,
            "clean_up_tokenization_spaces": false,
        });
        crate::files::write_json(&dir.join("tokenizer_config.json"), &cfg)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template source, if the model has one.
    pub fn template(&self) -> Option<&str> {
        self.template.as_deref()
    }

    /// Id used to pad batches (the pad token, else the eos token).
    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad_token_id
    }

    /// The eos token string.
    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// Renders `messages` with the chat template.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .template
            .as_deref()
            .ok_or_else(|| ModelError::Template("the model has no chat template".into()))?;
        render_template(
            template,
            messages,
            add_generation_prompt,
            &self.bos_token,
            &self.eos_token,
        )
    }

    /// Token ids of `text`, with no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of token ids (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))
    }

    /// Prompt text and completion text for `prompt` followed by an assistant message `response`
    /// (TRL's common-prefix rule, see the module doc).
    pub fn split_texts(&self, prompt: &[Message], response: &str) -> Result<(String, String)> {
        if prompt.is_empty() {
            return Err(ModelError::Input("empty prompt conversation".into()));
        }
        let prompt_text = self.render(prompt, true)?;
        let mut full = prompt.to_vec();
        full.push(Message::new("assistant", response));
        let full_text = self.render(&full, false)?;
        let common = prompt_text
            .char_indices()
            .zip(full_text.chars())
            .find(|((_, a), b)| a != b)
            .map(|((i, _), _)| i)
            .unwrap_or_else(|| prompt_text.len().min(full_text.len()));
        Ok((
            full_text[..common].to_string(),
            full_text[common..].to_string(),
        ))
    }

    /// Prompt ids and completion ids of one pair side, truncated by `trunc`.
    pub fn encode_pair(
        &self,
        prompt: &[Message],
        response: &str,
        trunc: &Truncation,
    ) -> Result<Encoded> {
        trunc.validate()?;
        let (p, c) = self.split_texts(prompt, response)?;
        let prompt_ids = self.encode(&p)?;
        let completion_ids = self.encode(&c)?;
        if completion_ids.is_empty() {
            return Err(ModelError::Input(
                "the completion renders to no tokens".into(),
            ));
        }
        Ok(truncate(&prompt_ids, &completion_ids, trunc))
    }
}

fn truncate(prompt: &[u32], completion: &[u32], trunc: &Truncation) -> Encoded {
    let (p, c) = trunc.apply(prompt, completion);
    Encoded {
        prompt_ids: p.to_vec(),
        completion_ids: c.to_vec(),
        prompt_truncated: prompt.len() - p.len(),
        completion_truncated: completion.len() - c.len(),
    }
}

/// Renders a chat template under HF semantics (see the module doc).
pub fn render_template(
    template: &str,
    messages: &[Message],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<Value, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_function(
        "strftime_now",
        |fmt: String| -> Result<String, minijinja::Error> { strftime_now(&fmt) },
    );
    env.add_filter("tojson", tojson);
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| ModelError::Template(format!("{e:#}")))?;
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    };
    tmpl.render(ctx).map_err(|e| {
        if e.kind() == ErrorKind::InvalidOperation {
            ModelError::Template(format!(
                "raised: {}",
                e.detail().unwrap_or("template error")
            ))
        } else {
            ModelError::Template(format!("{e:#}"))
        }
    })
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=indent)`.
fn tojson(
    value: Value,
    kwargs: minijinja::value::Kwargs,
) -> std::result::Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    // HF's tojson also takes ensure_ascii, separators, sort_keys; only their defaults are used
    // by the templates we support.
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|e| JinjaError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    write_py_json(&json, indent, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

fn write_py_json(v: &serde_json::Value, indent: Option<usize>, depth: usize, out: &mut String) {
    use serde_json::Value as J;
    let newline = |out: &mut String, d: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * d));
        }
    };
    let (item_sep, key_sep) = if indent.is_some() {
        (",", ": ")
    } else {
        (", ", ": ")
    };
    match v {
        J::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_py_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        J::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(key_sep);
                write_py_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// `strftime_now` for Llama 3 templates: the current UTC time through `fmt` (chrono's
/// strftime, the specifiers of Python's; an unknown one is an error naming the format).
fn strftime_now(fmt: &str) -> Result<String, minijinja::Error> {
    strftime_at(fmt, chrono::Utc::now())
}

fn strftime_at(fmt: &str, at: chrono::DateTime<chrono::Utc>) -> Result<String, minijinja::Error> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item> = StrftimeItems::new(fmt).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("strftime_now: unsupported format {fmt:?}"),
        ));
    }
    Ok(at.format_with_items(items.into_iter()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against Python's `datetime(2024, 7, 26, tzinfo=utc).strftime(...)` (values by hand: a
    /// Friday, day 208 of a leap year) and a date before the epoch; a bad specifier is an error.
    #[test]
    fn strftime_matches_pythons_specifiers() {
        use chrono::TimeZone;
        let at = chrono::Utc.with_ymd_and_hms(2024, 7, 26, 9, 5, 0).unwrap();
        assert_eq!(strftime_at("%d %b %Y", at).unwrap(), "26 Jul 2024");
        assert_eq!(strftime_at("%d %B %Y", at).unwrap(), "26 July 2024");
        assert_eq!(
            strftime_at("%Y-%m-%d %H:%M (%a, %A, day %j)", at).unwrap(),
            "2024-07-26 09:05 (Fri, Friday, day 208)"
        );
        let old = chrono::Utc.with_ymd_and_hms(1969, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(strftime_at("%d %b %Y", old).unwrap(), "31 Dec 1969");
        let e = strftime_at("%Q", at).unwrap_err();
        assert!(e.to_string().contains("unsupported format"), "{e}");
    }

    #[test]
    fn truncation_keeps_prompt_end_and_completion_start() {
        let t = Truncation {
            max_length: Some(6),
            max_prompt_length: Some(3),
        };
        let e = truncate(&[1, 2, 3, 4, 5], &[10, 11, 12, 13, 14], &t);
        assert_eq!(e.prompt_ids, vec![3, 4, 5]);
        assert_eq!(e.completion_ids, vec![10, 11, 12]);
        assert_eq!((e.prompt_truncated, e.completion_truncated), (2, 2));
        let only_max = Truncation {
            max_length: Some(4),
            max_prompt_length: None,
        };
        let e = truncate(&[1, 2, 3, 4, 5], &[10, 11], &only_max);
        assert_eq!(e.prompt_ids, vec![3, 4, 5]);
        assert_eq!(e.completion_ids, vec![10]);
        let none = truncate(&[1], &[2], &Truncation::default());
        assert_eq!((none.prompt_truncated, none.completion_truncated), (0, 0));
        let (ids, mask) = e.ids_and_completion_mask();
        assert_eq!((ids, mask), (vec![3, 4, 5, 10], vec![0, 0, 0, 1]));
        let mut stats = TruncationStats::default();
        stats.add(&e);
        stats.add(&none);
        assert_eq!(
            (
                stats.sequences,
                stats.prompts_truncated,
                stats.prompt_tokens_dropped
            ),
            (2, 1, 2)
        );
        assert_eq!(
            (stats.completions_truncated, stats.completion_tokens_dropped),
            (1, 1)
        );
        assert!(stats
            .to_string()
            .starts_with("1 of 2 prompts truncated (2 tokens"));
    }

    #[test]
    fn hf_dir_template_forms_and_special_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let mut vocab = tokenizers::models::bpe::Vocab::default();
        vocab.insert("a".into(), 0);
        vocab.insert("<eos>".into(), 1);
        let bpe = tokenizers::models::bpe::BPE::builder()
            .vocab_and_merges(vocab, vec![])
            .build()
            .unwrap();
        Tokenizer::new(bpe)
            .save(dir.path().join("tokenizer.json"), false)
            .unwrap();
        let write_cfg = |v: serde_json::Value| {
            std::fs::write(dir.path().join("tokenizer_config.json"), v.to_string()).unwrap()
        };
        // list of named templates, eos as an AddedToken object, no pad: pad = eos
        write_cfg(serde_json::json!({
            "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ eos_token }}"}],
            "eos_token": {"content": "<eos>", "special": true},
        }));
        let chat = ChatTokenizer::from_hf_dir(dir.path()).unwrap();
        assert_eq!(
            chat.render(&[Message::new("user", "x")], false).unwrap(),
            "D<eos>"
        );
        assert_eq!(chat.pad_token_id(), Some(1));
        // no template in the config: chat_template.jinja
        write_cfg(serde_json::json!({"eos_token": "<eos>", "pad_token": "a"}));
        std::fs::write(
            dir.path().join("chat_template.jinja"),
            "J{{ messages[0].content }}",
        )
        .unwrap();
        let chat = ChatTokenizer::from_hf_dir(dir.path()).unwrap();
        assert_eq!(
            chat.render(&[Message::new("user", "x")], false).unwrap(),
            "Jx"
        );
        assert_eq!(chat.pad_token_id(), Some(0));
        // no template at all: a clear error at use
        std::fs::remove_file(dir.path().join("chat_template.jinja")).unwrap();
        let chat = ChatTokenizer::from_hf_dir(dir.path()).unwrap();
        let err = chat
            .render(&[Message::new("user", "x")], false)
            .unwrap_err();
        assert!(err.to_string().contains("no chat template"), "{err}");
    }

    #[test]
    fn save_writes_a_missing_bos_as_null_and_reads_it_back() {
        let mut vocab = tokenizers::models::bpe::Vocab::default();
        vocab.insert("a".into(), 0);
        vocab.insert("<s>".into(), 1);
        vocab.insert("<eos>".into(), 2);
        let bpe = tokenizers::models::bpe::BPE::builder()
            .vocab_and_merges(vocab, vec![])
            .build()
            .unwrap();
        let template = Some("[{{ bos_token }}]{{ messages[0].content }}".to_string());
        for (bos, written) in [("", serde_json::Value::Null), ("<s>", "<s>".into())] {
            let dir = tempfile::tempdir().unwrap();
            let chat = ChatTokenizer::new(
                Tokenizer::new(bpe.clone()),
                template.clone(),
                bos,
                "<eos>",
                Some(0),
            );
            chat.save(dir.path()).unwrap();
            let text = std::fs::read_to_string(dir.path().join("tokenizer_config.json")).unwrap();
            let cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(cfg["bos_token"], written, "bos {bos:?}");
            assert_eq!(cfg["eos_token"], "<eos>");
            let back = ChatTokenizer::from_hf_dir(dir.path()).unwrap();
            let msg = [Message::new("user", "x")];
            assert_eq!(back.render(&msg, false).unwrap(), format!("[{bos}]x"));
        }
    }

    #[test]
    fn prompt_cut_depends_on_the_prompt_only() {
        // a pair's two sides keep the same prompt whatever their completions' lengths
        let t = Truncation::new(6, 3);
        for completion in 0..10 {
            assert_eq!(t.kept(4, completion).0, 3, "completion of {completion}");
        }
        assert_eq!(t.kept(4, 2), (3, 2));
        assert_eq!(t.kept(4, 5), (3, 3));
        assert_eq!(t.kept(2, 9), (2, 4));
        let (p, c) = t.apply(&[1, 2, 3, 4], &[5, 6, 7, 8]);
        assert_eq!((p, c), (&[2, 3, 4][..], &[5, 6, 7][..]));
        // limits that validate() rejects keep what fits rather than panic
        assert_eq!(Truncation::new(2, 5).kept(4, 3), (4, 0));
        assert_eq!(Truncation::new(0, 0).kept(4, 3), (0, 0));
    }

    #[test]
    fn bad_truncation_is_an_error() {
        let t = Truncation {
            max_length: Some(4),
            max_prompt_length: Some(4),
        };
        assert!(t.validate().is_err());
    }

    #[test]
    fn raise_exception_is_an_error_with_its_message() {
        let tmpl = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
        let err =
            render_template(tmpl, &[Message::new("assistant", "x")], false, "", "").unwrap_err();
        assert!(
            err.to_string()
                .contains("Conversation must start with user"),
            "{err}"
        );
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let tmpl = "{{ x | tojson }}|{{ x | tojson(indent=2) }}";
        let mut env = Environment::new();
        env.add_filter("tojson", tojson);
        let x = serde_json::json!({"a": [1, "é<"], "b": {}});
        let out = env
            .render_str(tmpl, minijinja::context! { x => x })
            .unwrap();
        assert_eq!(out, "{\"a\": [1, \"é<\"], \"b\": {}}|{\n  \"a\": [\n    1,\n    \"é<\"\n  ],\n  \"b\": {}\n}");
    }
}
