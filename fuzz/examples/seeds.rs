//! Writes the committed seed corpus, `fuzz/seeds/<target>/`: tiny models of each architecture
//! shape made with the project's writer, the default model's metadata with its vocabulary cut
//! short, the first bytes of the default model, chat templates and quantized blocks.
//!
//! usage (from the repository root, with the default model in models/):
//!     cargo run --manifest-path fuzz/Cargo.toml --example seeds
use std::fs;
use std::path::Path;

use tokscope_gguf::blocks::quantize_row;
use tokscope_gguf::{Array, GgmlType, Gguf, GgufWriter, Metadata, Value};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelFile};
use tokscope_tokenizer::{ChatTemplate, Message, Tokenizer};

const MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
/// Tokens of the default model's vocabulary kept in the seeds (its specials and byte tokens
/// come first, then the most frequent merges).
const KEPT_TOKENS: usize = 400;
/// Bytes of the default model kept as a prefix seed (the header goes on far beyond them).
const PREFIX_BYTES: usize = 4096;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let model = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(MODEL))?;
    let real = Gguf::parse(&model).expect("the default model parses");
    let vocab = short_vocabulary(&real.metadata);

    let models = [
        ("llama_f32_untied.gguf", tiny(Shape::LLAMA, &vocab)),
        ("qwen2_f16_bias_tied.gguf", tiny(Shape::QWEN2, &vocab)),
        ("mistral_quantized_gqa.gguf", tiny(Shape::MISTRAL, &vocab)),
    ];
    for (name, bytes) in &models {
        // A seed that stops at the first check would leave the deeper code to chance.
        let file = ModelFile::from_bytes(ModelBytes::Owned(bytes.clone())).expect(name);
        let mut cpu = CpuBackend::with_context(file, 1, 4).expect(name);
        cpu.forward(&[0, 1], LogitsFor::All).expect(name);
        for target in ["gguf_parse", "gguf_prefix", "model_config"] {
            write(&root.join(target), name, bytes)?;
        }
    }
    let head = header_only(&vocab);
    for target in ["gguf_parse", "gguf_prefix", "tokenizer"] {
        write(&root.join(target), "smollm2_metadata.gguf", &head)?;
    }
    write(
        &root.join("gguf_prefix"),
        "smollm2_prefix.bin",
        &model[..PREFIX_BYTES],
    )?;
    for pre in ["gpt-2", "llama-bpe", "qwen2", "default"] {
        let mut md = vocab.clone();
        md.insert("tokenizer.ggml.pre".into(), Value::String(pre.into()));
        let t = Tokenizer::from_gguf(&md).expect(pre);
        assert!(t.encode("Hello world", false).expect(pre).len() > 2);
        write(
            &root.join("tokenizer"),
            &format!("pre_{pre}.gguf"),
            &header_only(&md),
        )?;
    }

    let templates = root.join("chat_template");
    let smollm2 = real
        .metadata
        .get_str("tokenizer.chat_template")
        .expect("the default model has a chat template");
    write(&templates, "smollm2.jinja", smollm2.as_bytes())?;
    for (name, source) in TEMPLATES {
        let messages = [
            Message::new("system", "Be brief."),
            Message::new("user", "Hi"),
        ];
        let template = ChatTemplate::new(source).expect(name);
        template.render(&messages, true, "<s>", "</s>").expect(name);
        write(&templates, name, source.as_bytes())?;
    }

    let blocks = root.join("dequantize");
    let ramp: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) / 7.0).collect();
    for t in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::F16,
    ] {
        let bytes = quantize_row(t, &ramp).expect("whole blocks");
        write(&blocks, &format!("ramp_{t}.bin"), &bytes)?;
    }
    write(&blocks, "ones.bin", &[0xff; 210])?;
    write(&blocks, "lcg.bin", &lcg_bytes(1024))?;
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)
}

/// The default model's tokenizer metadata and chat template with the first `KEPT_TOKENS` tokens
/// and the merges among them; no architecture keys.
fn short_vocabulary(md: &Metadata) -> Metadata {
    let mut out = Metadata::default();
    let strings = |key: &str| -> Vec<String> {
        md.get_array(key)
            .and_then(Array::as_strings)
            .expect("the default model has this string array")
            .iter()
            .map(str::to_string)
            .collect()
    };
    let tokens: Vec<String> = strings("tokenizer.ggml.tokens")
        .into_iter()
        .take(KEPT_TOKENS)
        .collect();
    let merges: Vec<String> = strings("tokenizer.ggml.merges")
        .into_iter()
        .filter(|m| {
            let (a, b) = m.split_once(' ').expect("merges are pairs");
            [a.to_string(), b.to_string(), format!("{a}{b}")]
                .iter()
                .all(|t| tokens.contains(t))
        })
        .collect();
    let types = md
        .get_array("tokenizer.ggml.token_type")
        .and_then(Array::to_i64s)
        .expect("types");
    for (key, value) in md.iter() {
        if !key.starts_with("tokenizer.") {
            continue;
        }
        let value = match key.as_str() {
            "tokenizer.ggml.tokens" => string_array(&tokens),
            "tokenizer.ggml.merges" => string_array(&merges),
            "tokenizer.ggml.token_type" => Value::Array(Array::I32(
                types[..KEPT_TOKENS].iter().map(|&t| t as i32).collect(),
            )),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    out
}

fn string_array(items: &[String]) -> Value {
    Value::strings(items)
}

fn header_only(md: &Metadata) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in md.iter() {
        w.metadata(k, v.clone());
    }
    w.to_bytes()
}

/// A model's shape and storage: what the tiny models vary.
struct Shape {
    arch: &'static str,
    n_embd: u64,
    n_head: u64,
    n_head_kv: u64,
    n_ff: u64,
    n_vocab: u64,
    weights: GgmlType,
    tied: bool,
    bias: bool,
}

impl Shape {
    const LLAMA: Shape = Shape {
        arch: "llama",
        n_embd: 8,
        n_head: 2,
        n_head_kv: 2,
        n_ff: 16,
        n_vocab: 12,
        weights: GgmlType::F32,
        tied: false,
        bias: false,
    };
    const QWEN2: Shape = Shape {
        arch: "qwen2",
        n_embd: 8,
        n_head: 2,
        n_head_kv: 1,
        n_ff: 12,
        n_vocab: 10,
        weights: GgmlType::F16,
        tied: true,
        bias: true,
    };
    const MISTRAL: Shape = Shape {
        arch: "mistral",
        n_embd: 32,
        n_head: 4,
        n_head_kv: 2,
        n_ff: 32,
        n_vocab: 8,
        weights: GgmlType::Q8_0,
        tied: false,
        bias: false,
    };
}

/// A one-layer model the CPU backend runs, with the first `n_vocab` tokens of `vocab`.
fn tiny(s: Shape, vocab: &Metadata) -> Vec<u8> {
    let arch = s.arch;
    let head_dim = s.n_embd / s.n_head;
    let (q_dim, kv_dim) = (s.n_head * head_dim, s.n_head_kv * head_dim);
    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.metadata("general.architecture", Value::String(arch.into()))
        .metadata(&key("context_length"), Value::U32(64))
        .metadata(&key("embedding_length"), Value::U32(s.n_embd as u32))
        .metadata(&key("block_count"), Value::U32(1))
        .metadata(&key("feed_forward_length"), Value::U32(s.n_ff as u32))
        .metadata(&key("attention.head_count"), Value::U32(s.n_head as u32))
        .metadata(
            &key("attention.head_count_kv"),
            Value::U32(s.n_head_kv as u32),
        )
        .metadata(&key("rope.dimension_count"), Value::U32(head_dim as u32))
        .metadata(&key("rope.freq_base"), Value::F32(10000.0))
        .metadata(&key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    let tokens: Vec<String> = vocab
        .get_array("tokenizer.ggml.tokens")
        .and_then(Array::as_strings)
        .expect("tokens")
        .iter()
        .take(s.n_vocab as usize)
        .map(str::to_string)
        .collect();
    w.metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
        .metadata("tokenizer.ggml.tokens", string_array(&tokens));

    let mut add = |name: &str, dims: &[u64], t: GgmlType| {
        let n = dims.iter().product::<u64>() as usize;
        let values: Vec<f32> = (0..n)
            .map(|i| ((i * 37 + name.len()) % 23) as f32 / 23.0 - 0.5)
            .collect();
        w.tensor_f32(name, dims, t, &values).expect("whole blocks");
    };
    add("token_embd.weight", &[s.n_embd, s.n_vocab], s.weights);
    if !s.tied {
        add("output.weight", &[s.n_embd, s.n_vocab], s.weights);
    }
    add("output_norm.weight", &[s.n_embd], GgmlType::F32);
    add("blk.0.attn_norm.weight", &[s.n_embd], GgmlType::F32);
    add("blk.0.ffn_norm.weight", &[s.n_embd], GgmlType::F32);
    add("blk.0.attn_q.weight", &[s.n_embd, q_dim], s.weights);
    add("blk.0.attn_k.weight", &[s.n_embd, kv_dim], s.weights);
    add("blk.0.attn_v.weight", &[s.n_embd, kv_dim], s.weights);
    add("blk.0.attn_output.weight", &[q_dim, s.n_embd], s.weights);
    add("blk.0.ffn_gate.weight", &[s.n_embd, s.n_ff], s.weights);
    add("blk.0.ffn_up.weight", &[s.n_embd, s.n_ff], s.weights);
    add("blk.0.ffn_down.weight", &[s.n_ff, s.n_embd], s.weights);
    if s.bias {
        add("blk.0.attn_q.bias", &[q_dim], GgmlType::F32);
        add("blk.0.attn_k.bias", &[kv_dim], GgmlType::F32);
        add("blk.0.attn_v.bias", &[kv_dim], GgmlType::F32);
    }
    w.to_bytes()
}

/// Bytes from a fixed linear congruential generator: blocks with every kind of scale.
fn lcg_bytes(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// Templates in the styles models ship (written for these seeds), using the features such
/// templates use: loops and their variables, namespaces, macros, filters, Python string methods,
/// `raise_exception`.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "im_start.jinja",
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}\
{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}\
{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    ),
    (
        "header_ids.jinja",
        "{{- bos_token }}
{%- for m in messages %}
    {%- if m['role'] not in ['system', 'user', 'assistant'] %}
        {{- raise_exception('role ' ~ m['role'] ~ ' is not known') }}
    {%- endif %}
    {{- '<|start|>' + m['role'] + '<|sep|>\\n\\n' + m['content'] | trim + '<|eot|>' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start|>assistant<|sep|>\\n\\n' }}{%- endif %}",
    ),
    (
        "inst_alternating.jinja",
        "{% if messages[0]['role'] == 'system' %}{% set offset = 1 %}{% set sys = messages[0]['content'] %}\
{% else %}{% set offset = 0 %}{% set sys = '' %}{% endif %}{{ bos_token }}\
{% for message in messages[offset:] %}\
{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
{{ raise_exception('roles must alternate user/assistant') }}{% endif %}\
{% if message['role'] == 'user' %}{{ '[INST] ' + (sys + '\\n\\n' if loop.first and sys else '') \
+ message['content'].strip() + ' [/INST]' }}\
{% else %}{{ ' ' + message['content'].strip() + eos_token }}{% endif %}{% endfor %}",
    ),
    (
        "namespace_macro.jinja",
        "{%- set ns = namespace(system='', turns=0) %}
{%- for m in messages %}{% if m.role == 'system' %}{% set ns.system = m.content | trim %}\
{% else %}{% set ns.turns = ns.turns + 1 %}{% endif %}{% endfor %}
{%- macro turn(role, content) -%}<{{ role | upper }}>{{ content | tojson }}</{{ role }}>{%- endmacro %}
{%- if ns.system %}{{ turn('system', ns.system) }}{% endif %}
{%- for m in messages if m.role != 'system' %}{{ turn(m.role, m.content) }}\
{% if not loop.last %}\\n{% endif %}{% endfor %}
{{- ns.turns }}{{ messages | length }}{{ messages[-1].content.startswith('é') if messages else '' }}
{%- if add_generation_prompt %}<ASSISTANT>{% endif %}",
    ),
    (
        "filters_loops.jinja",
        "{% for i in range(3) %}{{ i }}{% if loop.last %};{% else %},{% endif %}{% endfor %}\
{{ 'a,b,c'.split(',') | join('-') }}{{ bos_token ~ eos_token }}\
{% set users = messages | selectattr('role', 'equalto', 'user') | list %}{{ users | length }}\
{% for m in messages | reverse %}{% if m.content is string and m.content | length > 3 %}\
{{ m.content[:3] | replace('H', 'h') }}{% break %}{% endif %}{% endfor %}\
{% for k, v in {'x': 1, 'y': [1, 2]}.items() %}{{ k }}={{ v }}{% endfor %}",
    ),
];
