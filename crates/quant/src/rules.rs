//! Which type each tensor of a model gets in a file type, as llama.cpp's `llama_model_quantize`
//! decides it without an importance matrix (`llama-quant.cpp`): which tensors are quantized at
//! all, the mixtures' extra bits (attn_v, ffn_down, attn_output, the output/tied embedding), and
//! the fallback for rows whose width is not a multiple of the type's block.

use std::cmp::Ordering;

use tokscope_gguf::GgmlType;

use crate::{FileType, QuantError};

/// The hyperparameters the rules read.
#[derive(Clone, Debug, PartialEq)]
pub struct Hparams {
    /// `general.architecture`.
    pub arch: String,
    pub n_layer: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub n_expert: u32,
}

impl Hparams {
    fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    fn is_falcon(&self) -> bool {
        self.arch == "falcon"
    }

    /// llama.cpp's `LLM_TYPE_70B`: an 80-layer llama with grouped-query attention.
    fn is_70b(&self) -> bool {
        self.arch == "llama" && self.n_layer == 80 && self.n_head != self.n_head_kv
    }
}

/// A type swapped for another because the rows are not a whole number of its blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fallback {
    /// The type the rules chose.
    pub wanted: GgmlType,
    /// Its block size, which the row width is not a multiple of.
    pub block: usize,
}

/// One tensor's outcome, in the order llama.cpp writes the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorPlan {
    /// Index into the tensors given to [`plan_tensors`].
    pub index: usize,
    pub name: String,
    /// The type the file will hold.
    pub ty: GgmlType,
    pub fallback: Option<Fallback>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttnQ,
    AttnV,
    AttnK,
    AttnQkv,
    AttnKvB,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

fn category(name: &str) -> Category {
    use Category as C;
    if name == "output.weight" {
        return C::Output;
    }
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        return C::TokenEmbd;
    }
    let table = [
        ("attn_qkv.weight", C::AttnQkv),
        ("attn_kv_b.weight", C::AttnKvB),
        ("attn_v.weight", C::AttnV),
        ("attn_k.weight", C::AttnK),
        ("attn_q.weight", C::AttnQ),
        ("attn_output.weight", C::AttnOutput),
        ("ffn_up", C::FfnUp),
        ("ffn_gate", C::FfnGate),
        ("ffn_down", C::FfnDown),
    ];
    table
        .iter()
        .find(|(pat, _)| name.contains(pat))
        .map_or(C::Other, |&(_, c)| c)
}

/// attn_v and the tensors that hold it: the most sensitive to quantization.
fn is_attn_v(c: Category) -> bool {
    matches!(c, Category::AttnV | Category::AttnQkv | Category::AttnKvB)
}

/// Dimensions as ggml counts them: trailing 1s do not count.
fn n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1)
}

/// Name parts of tensors llama.cpp never quantizes (norms, routers, small or positional tables).
const KEEP: [&str; 24] = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w",
    "attn_rel_b.weight",
];

/// llama.cpp's `tensor_allows_quantization` (for the text models tokscope knows).
fn allows_quantization(name: &str, dims: &[u64]) -> bool {
    n_dims(dims) >= 2
        && name.ends_with("weight")
        && !KEEP.iter().any(|k| name.contains(k))
        && name != "position_embd.weight"
        && name != "token_types.weight"
        && !name.contains("time_mix_lerp_fused.weight")
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third between.
fn use_more_bits(i: i64, n: i64) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// The block index of a `blk.N.` name, or −1 (llama.cpp's `weight_name_comparer` key).
fn layer_of(name: &str) -> i64 {
    name.strip_prefix("blk.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

/// Counters the rules keep across tensors (`quantize_state_impl`).
struct State<'a> {
    hp: &'a Hparams,
    ftype: FileType,
    tied: bool,
    n_attention_wv: i64,
    n_layer: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
}

impl State<'_> {
    /// `llama_tensor_get_type_impl` for the file types tokscope makes.
    fn choose(&mut self, name: &str, cols: u64, cat: Category, default: GgmlType) -> GgmlType {
        use FileType as F;
        use GgmlType as T;
        let (ft, hp) = (self.ftype, self.hp);
        let mut ty = default;
        if cat == Category::Output || (self.tied && cat == Category::TokenEmbd) {
            let block = ty.block_layout().map_or(1, |l| l.0) as u64;
            if hp.is_falcon() || !cols.is_multiple_of(block) {
                ty = T::Q8_0;
            } else if ty != T::Q8_0 {
                ty = T::Q6_K;
            }
        } else if cat == Category::TokenEmbd {
            // The mixtures tokscope makes keep the default type here.
        } else if is_attn_v(cat) {
            let i = self.i_attention_wv;
            if ft == F::Q2_K {
                ty = if hp.n_gqa() >= 4 { T::Q4_K } else { T::Q3_K };
            } else if ft == F::Q3_K_M {
                ty = if i < 2 { T::Q5_K } else { T::Q4_K };
            } else if ft == F::Q3_K_L || (matches!(ft, F::IQ4_NL | F::IQ4_XS) && hp.n_gqa() >= 4) {
                ty = T::Q5_K;
            } else if matches!(ft, F::Q4_K_M | F::Q5_K_M) && use_more_bits(i, self.n_attention_wv) {
                ty = T::Q6_K;
            } else if ft == F::Q4_K_S && i < 4 {
                ty = T::Q5_K;
            }
            if hp.is_70b() && matches!(ty, T::Q3_K | T::Q4_K) {
                ty = T::Q5_K;
            }
            if hp.n_expert == 8 {
                ty = T::Q8_0;
            }
            self.i_attention_wv += 1;
        } else if cat == Category::AttnK {
            if hp.n_expert == 8 {
                ty = T::Q8_0;
            }
        } else if cat == Category::FfnDown {
            let (i, n) = self.layer(name, self.i_ffn_down);
            if ft == F::Q2_K {
                ty = T::Q3_K;
            } else if ft == F::Q3_K_M {
                ty = if i < n / 16 {
                    T::Q5_K
                } else if !hp.is_falcon() || use_more_bits(i, n) {
                    T::Q4_K
                } else {
                    T::Q3_K
                };
            } else if ft == F::Q3_K_L {
                ty = if hp.is_falcon() { T::Q4_K } else { T::Q5_K };
            } else if ft == F::Q4_K_M {
                if hp.is_falcon() {
                    ty = if i < n / 16 {
                        T::Q6_K
                    } else if use_more_bits(i, n) {
                        T::Q5_K
                    } else {
                        T::Q4_K
                    };
                } else if use_more_bits(i, n) {
                    ty = T::Q6_K;
                }
            } else if i < n / 8 && matches!(ft, F::IQ4_NL | F::IQ4_XS) {
                ty = T::Q5_K;
            } else if ft == F::Q5_K_M && use_more_bits(i, n) {
                ty = T::Q6_K;
            } else if ft == F::Q4_K_S && !hp.is_falcon() && i < n / 8 {
                ty = T::Q5_K;
            }
            self.i_ffn_down += 1;
        } else if cat == Category::AttnOutput {
            if !hp.is_falcon() {
                if hp.n_expert == 8 {
                    if matches!(
                        ft,
                        F::Q2_K
                            | F::Q3_K_S
                            | F::Q3_K_M
                            | F::IQ4_NL
                            | F::Q4_K_S
                            | F::Q4_K_M
                            | F::IQ4_XS
                    ) {
                        ty = T::Q5_K;
                    }
                } else if ft == F::Q2_K {
                    ty = T::Q3_K;
                } else if ft == F::Q3_K_M {
                    ty = T::Q4_K;
                } else if ft == F::Q3_K_L {
                    ty = T::Q5_K;
                }
            } else if ft == F::Q3_K_L {
                ty = T::Q4_K;
            }
        } else if cat == Category::AttnQkv {
            if matches!(ft, F::Q3_K_M | F::Q3_K_L) {
                ty = T::Q4_K;
            } else if ft == F::Q4_K_M {
                ty = T::Q5_K;
            } else if ft == F::Q5_K_M {
                ty = T::Q6_K;
            }
        }
        ty
    }

    /// `layer_info`: the running count of this kind of tensor, or with experts the `blk.N` of the
    /// name (experts' tensors are not stored layer by layer).
    fn layer(&self, name: &str, counter: i64) -> (i64, i64) {
        if self.hp.n_expert > 1 {
            (layer_of(name), self.n_layer)
        } else {
            (counter, self.n_layer)
        }
    }
}

/// The type a tensor falls back to when its rows do not hold whole blocks of `ty`, as
/// llama.cpp's `tensor_type_fallback` maps it (F16 where even that does not fit); None where
/// llama.cpp defines no fallback (a 32-wide format on rows that are not a multiple of 32).
fn fallback(ty: GgmlType, cols: u64) -> Option<(GgmlType, Option<Fallback>)> {
    use GgmlType as T;
    let block = ty.block_layout().map_or(1, |l| l.0);
    if cols.is_multiple_of(block as u64) {
        return Some((ty, None));
    }
    let mut to = match ty {
        T::IQ4_XS => T::IQ4_NL,
        T::Q2_K | T::Q3_K => T::Q4_0,
        T::Q4_K => T::Q5_0,
        T::Q5_K => T::Q5_1,
        T::Q6_K => T::Q8_0,
        _ => return None,
    };
    if !cols.is_multiple_of(to.block_layout().map_or(1, |l| l.0) as u64) {
        to = T::F16;
    }
    Some((to, Some(Fallback { wanted: ty, block })))
}

/// Plans every tensor of a model (`(name, dims, current type)`, dims in ggml order) for
/// `ftype`: in the order llama.cpp writes them (tensors outside blocks first, then block by
/// block, by name within each), the type each gets and the fallbacks taken. `pure` skips the
/// mixture's extra bits (llama-quantize's `--pure`); fallbacks still apply.
pub fn plan_tensors(
    hp: &Hparams,
    tensors: &[(&str, &[u64], GgmlType)],
    ftype: FileType,
    pure: bool,
) -> Result<Vec<TensorPlan>, QuantError> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (na, nb) = (tensors[a].0, tensors[b].0);
        match layer_of(na).cmp(&layer_of(nb)) {
            Ordering::Equal => na.cmp(nb),
            o => o,
        }
    });
    let mut state = State {
        hp,
        ftype,
        tied: !tensors.iter().any(|t| category(t.0) == Category::Output),
        n_attention_wv: tensors.iter().filter(|t| is_attn_v(category(t.0))).count() as i64,
        n_layer: hp.n_layer as i64,
        i_attention_wv: 0,
        i_ffn_down: 0,
    };
    let default = ftype.default_type();
    order
        .into_iter()
        .map(|index| {
            let (name, dims, current) = tensors[index];
            let cols = dims.first().copied().unwrap_or(1);
            let (ty, fb) = if !allows_quantization(name, dims) {
                (current, None)
            } else if !ftype.is_quantized() {
                (default, None)
            } else {
                let cat = category(name);
                let chosen = if pure {
                    default
                } else {
                    state.choose(name, cols, cat, default)
                };
                fallback(chosen, cols).ok_or_else(|| QuantError::NoFallback {
                    tensor: name.to_string(),
                    ty: chosen,
                    cols,
                })?
            };
            Ok(TensorPlan {
                index,
                name: name.to_string(),
                ty,
                fallback: fb,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_bits_go_to_the_first_and_last_eighth_and_every_third() {
        let more: Vec<i64> = (0..30).filter(|&i| use_more_bits(i, 30)).collect();
        assert_eq!(more, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
    }

    #[test]
    fn fallbacks_follow_llama_cpp() {
        use GgmlType as T;
        let to = |t, cols| fallback(t, cols).unwrap().0;
        assert_eq!(to(T::Q4_K, 576), T::Q5_0);
        assert_eq!(to(T::Q5_K, 576), T::Q5_1);
        assert_eq!(to(T::Q6_K, 640), T::Q8_0);
        assert_eq!(to(T::Q2_K, 576), T::Q4_0);
        assert_eq!(to(T::IQ4_XS, 576), T::IQ4_NL);
        assert_eq!(fallback(T::Q4_K, 1536), Some((T::Q4_K, None)));
        assert_eq!(to(T::Q4_K, 100), T::F16);
        assert_eq!(fallback(T::Q8_0, 100), None);
        assert_eq!(
            fallback(T::Q3_K, 576).unwrap().1,
            Some(Fallback {
                wanted: T::Q3_K,
                block: 256
            })
        );
    }

    #[test]
    fn block_order_is_numeric_and_norms_stay() {
        let hp = Hparams {
            arch: "llama".into(),
            n_layer: 11,
            n_head: 4,
            n_head_kv: 4,
            n_expert: 0,
        };
        let d2: &[u64] = &[256, 256];
        let d1: &[u64] = &[256];
        let t = [
            ("blk.10.attn_v.weight", d2, GgmlType::F32),
            ("blk.2.attn_v.weight", d2, GgmlType::F32),
            ("blk.2.attn_norm.weight", d1, GgmlType::F32),
            ("token_embd.weight", d2, GgmlType::F32),
        ];
        let plan = plan_tensors(&hp, &t, FileType::Q3_K_M, false).unwrap();
        let names: Vec<&str> = plan.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "token_embd.weight",
                "blk.2.attn_norm.weight",
                "blk.2.attn_v.weight",
                "blk.10.attn_v.weight"
            ]
        );
        let types: Vec<GgmlType> = plan.iter().map(|p| p.ty).collect();
        // Tied embedding → Q6_K; the first two attn_v → Q5_K; the norm keeps F32.
        assert_eq!(
            types,
            [
                GgmlType::Q6_K,
                GgmlType::F32,
                GgmlType::Q5_K,
                GgmlType::Q5_K
            ]
        );
    }
}
