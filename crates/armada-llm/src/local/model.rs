//! The LLaMA forward pass of the local model, over weights read from a GGUF file, with a KV
//! cache that can be truncated (prefix reuse).
//!
//! Every operation works row by row (one token at a time) in a fixed order, and the matrix
//! products are batch-invariant (see [`super::kernels`]), so the logits of a token are the same
//! bits whether its prompt was computed in one go, in chunks, or on top of a reused cache.
//! Not here: tokenization, the chat template, sampling (see the sibling modules).

use super::kernels::{BlockQ4_1, BlockQ8_0, Kernel, Matrix, QK, Weights, dot_f32, dot_f32_with};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::io::{Read, Seek};

/// The shape of a LLaMA model, from the GGUF metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Transformer blocks (`llama.block_count`).
    pub layers: usize,
    /// Hidden size (`llama.embedding_length`).
    pub hidden: usize,
    /// Attention heads (`llama.attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`), fewer than `heads` with grouped-query attention.
    pub kv_heads: usize,
    /// Size of one head: `hidden / heads`.
    pub head_dim: usize,
    /// Hidden size of the feed-forward block (`llama.feed_forward_length`).
    pub ffn: usize,
    /// Vocabulary size (rows of the embedding table).
    pub vocab: usize,
    /// Longest sequence the model was trained for (`llama.context_length`).
    pub context: usize,
    /// RoPE base frequency (`llama.rope.freq_base`, 10000 when absent).
    pub rope_theta: f32,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// Whether the output projection is the embedding table (no `output.weight` tensor).
    pub tied_embeddings: bool,
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: Matrix,
    wk: Matrix,
    wv: Matrix,
    wo: Matrix,
    ffn_norm: Vec<f32>,
    w_gate: Matrix,
    w_up: Matrix,
    w_down: Matrix,
}

/// The weights of a LLaMA model and its forward pass. Read-only once loaded; shared by threads.
pub(crate) struct Model {
    pub config: ModelConfig,
    pub kernel: Kernel,
    embedding: Matrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// `None` when tied to the embedding table.
    output: Option<Matrix>,
}

/// A metadata value as an unsigned integer, whatever integer type the file used.
pub(crate) fn meta_usize(content: &Content, key: &str) -> Result<usize, String> {
    let value = content.metadata.get(key).ok_or_else(|| format!("metadata key {key} is missing"))?;
    let n: Option<u64> = match value {
        Value::U8(v) => Some(u64::from(*v)),
        Value::U16(v) => Some(u64::from(*v)),
        Value::U32(v) => Some(u64::from(*v)),
        Value::U64(v) => Some(*v),
        Value::I8(v) => u64::try_from(*v).ok(),
        Value::I16(v) => u64::try_from(*v).ok(),
        Value::I32(v) => u64::try_from(*v).ok(),
        Value::I64(v) => u64::try_from(*v).ok(),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("metadata key {key} is not a non-negative integer: {value:?}"))
}

/// A metadata value as a float.
pub(crate) fn meta_f32(content: &Content, key: &str) -> Result<Option<f32>, String> {
    match content.metadata.get(key) {
        None => Ok(None),
        Some(Value::F32(v)) => Ok(Some(*v)),
        Some(Value::F64(v)) => Ok(Some(*v as f32)),
        Some(other) => Err(format!("metadata key {key} is not a float: {other:?}")),
    }
}

impl ModelConfig {
    /// Reads and checks the architecture keys of a GGUF file.
    pub(crate) fn from_gguf(content: &Content) -> Result<ModelConfig, String> {
        let arch = match content.metadata.get("general.architecture") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("general.architecture is not a string: {other:?}")),
            None => return Err("metadata key general.architecture is missing".into()),
        };
        if arch != "llama" {
            return Err(format!("architecture {arch:?} is not supported (only llama)"));
        }
        let layers = meta_usize(content, "llama.block_count")?;
        let hidden = meta_usize(content, "llama.embedding_length")?;
        let heads = meta_usize(content, "llama.attention.head_count")?;
        let kv_heads = match content.metadata.get("llama.attention.head_count_kv") {
            Some(_) => meta_usize(content, "llama.attention.head_count_kv")?,
            None => heads,
        };
        let ffn = meta_usize(content, "llama.feed_forward_length")?;
        let context = meta_usize(content, "llama.context_length")?;
        let rope_theta = meta_f32(content, "llama.rope.freq_base")?.unwrap_or(10_000.0);
        let rms_eps = meta_f32(content, "llama.attention.layer_norm_rms_epsilon")?
            .ok_or("metadata key llama.attention.layer_norm_rms_epsilon is missing")?;
        if layers == 0 || hidden == 0 || heads == 0 || kv_heads == 0 || ffn == 0 || context == 0 {
            return Err("a model dimension is zero".into());
        }
        if hidden % heads != 0 || heads % kv_heads != 0 {
            return Err(format!("{heads} heads and {kv_heads} KV heads do not divide hidden size {hidden}"));
        }
        let head_dim = hidden / heads;
        if head_dim % 2 != 0 {
            return Err(format!("head size {head_dim} is odd (RoPE rotates pairs)"));
        }
        if let Some(Value::U32(rope_dims)) = content.metadata.get("llama.rope.dimension_count")
            && *rope_dims as usize != head_dim
        {
            return Err(format!("partial RoPE ({rope_dims} of {head_dim} dimensions) is not supported"));
        }
        if !(rope_theta.is_finite() && rope_theta > 0.0 && rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(format!("bad RoPE base {rope_theta} or RMSNorm epsilon {rms_eps}"));
        }
        let embd = content.tensor_infos.get("token_embd.weight").ok_or("tensor token_embd.weight is missing")?;
        let vocab = match embd.shape.dims() {
            [v, h] if *h == hidden => *v,
            dims => return Err(format!("token_embd.weight has shape {dims:?}, expected [vocab, {hidden}]")),
        };
        Ok(ModelConfig {
            layers,
            hidden,
            heads,
            kv_heads,
            head_dim,
            ffn,
            vocab,
            context,
            rope_theta,
            rms_eps,
            tied_embeddings: !content.tensor_infos.contains_key("output.weight"),
        })
    }

    /// Floats of K (or V) cached per token and layer.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

fn f16(lo: u8, hi: u8) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}

/// Reads one tensor and checks its shape (`[rows, cols]`, candle's order; `[n]` for vectors).
fn read_tensor<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
    dims: &[usize],
) -> Result<QTensor, String> {
    let info = content.tensor_infos.get(name).ok_or_else(|| format!("tensor {name} is missing"))?;
    if info.shape.dims() != dims {
        return Err(format!("tensor {name} has shape {:?}, expected {dims:?}", info.shape.dims()));
    }
    content.tensor(reader, name, &Device::Cpu).map_err(|e| format!("tensor {name}: {e}"))
}

fn dequantized(t: &QTensor, name: &str) -> Result<Vec<f32>, String> {
    t.dequantize(&Device::Cpu)
        .and_then(|t: Tensor| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| format!("tensor {name}: {e}"))
}

fn read_vector<R: Read + Seek>(content: &Content, reader: &mut R, name: &str, n: usize) -> Result<Vec<f32>, String> {
    let t = read_tensor(content, reader, name, &[n])?;
    dequantized(&t, name)
}

fn read_matrix<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<Matrix, String> {
    let t = read_tensor(content, reader, name, &[rows, cols])?;
    let bad_len = |what: &str| format!("tensor {name}: {what} data has the wrong length");
    let weights = match t.dtype() {
        GgmlDType::Q4_1 if cols.is_multiple_of(QK) => {
            let data = t.data().map_err(|e| format!("tensor {name}: {e}"))?;
            if data.len() != rows * cols / QK * 20 {
                return Err(bad_len("Q4_1"));
            }
            Weights::Q4_1(
                data.chunks_exact(20)
                    .map(|b| BlockQ4_1 {
                        d: f16(b[0], b[1]),
                        m: f16(b[2], b[3]),
                        qs: std::array::from_fn(|i| b[4 + i]),
                    })
                    .collect(),
            )
        }
        GgmlDType::Q8_0 if cols.is_multiple_of(QK) => {
            let data = t.data().map_err(|e| format!("tensor {name}: {e}"))?;
            if data.len() != rows * cols / QK * 34 {
                return Err(bad_len("Q8_0"));
            }
            Weights::Q8_0(
                data.chunks_exact(34)
                    .map(|b| BlockQ8_0 { d: f16(b[0], b[1]), qs: std::array::from_fn(|i| b[2 + i] as i8) })
                    .collect(),
            )
        }
        // Any other type: dequantized once to f32 (slower products, same determinism).
        _ => Weights::F32(dequantized(&t, name)?),
    };
    Ok(Matrix { rows, cols, weights })
}

impl Model {
    /// Reads the weights named by the GGUF conventions for llama (`token_embd`, `blk.N.*`,
    /// `output_norm`, `output` unless tied).
    pub(crate) fn load<R: Read + Seek>(
        content: &Content,
        reader: &mut R,
        config: ModelConfig,
    ) -> Result<Model, String> {
        let c = &config;
        let kv = c.kv_dim();
        // Cheap size checks first, so that absurd metadata fails before any allocation.
        let vocab_ok = c.vocab.checked_mul(c.hidden).is_some_and(|n| n < (1 << 34));
        if !vocab_ok || c.hidden.checked_mul(c.ffn).is_none_or(|n| n >= (1 << 34)) {
            return Err("model dimensions are implausibly large".into());
        }
        let embedding = read_matrix(content, reader, "token_embd.weight", c.vocab, c.hidden)?;
        let mut layers = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let p = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: read_vector(content, reader, &p("attn_norm"), c.hidden)?,
                wq: read_matrix(content, reader, &p("attn_q"), c.hidden, c.hidden)?,
                wk: read_matrix(content, reader, &p("attn_k"), kv, c.hidden)?,
                wv: read_matrix(content, reader, &p("attn_v"), kv, c.hidden)?,
                wo: read_matrix(content, reader, &p("attn_output"), c.hidden, c.hidden)?,
                ffn_norm: read_vector(content, reader, &p("ffn_norm"), c.hidden)?,
                w_gate: read_matrix(content, reader, &p("ffn_gate"), c.ffn, c.hidden)?,
                w_up: read_matrix(content, reader, &p("ffn_up"), c.ffn, c.hidden)?,
                w_down: read_matrix(content, reader, &p("ffn_down"), c.hidden, c.ffn)?,
            });
        }
        let output_norm = read_vector(content, reader, "output_norm.weight", c.hidden)?;
        let output = if c.tied_embeddings {
            None
        } else {
            Some(read_matrix(content, reader, "output.weight", c.vocab, c.hidden)?)
        };
        Ok(Model { config, kernel: Kernel::detect(), embedding, layers, output_norm, output })
    }

    fn output(&self) -> &Matrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }

    /// Runs `tokens` (at the positions after the cached ones) through the model, appending their keys and
    /// values to `cache`, and returns the next-token logits of the tokens from index
    /// `logits_from` on (`(tokens.len() - logits_from) × vocab` values, row-major).
    ///
    /// The caller checks that the tokens are in the vocabulary and fit in the context.
    pub(crate) fn forward(&self, cache: &mut KvCache, tokens: &[u32], logits_from: usize) -> Vec<f32> {
        let c = &self.config;
        let (n, h, kv) = (tokens.len(), c.hidden, c.kv_dim());
        let start = cache.len;
        let mut x = vec![0f32; n * h];
        for (t, &tok) in tokens.iter().enumerate() {
            self.embedding.row_f32(tok as usize, &mut x[t * h..(t + 1) * h]);
        }
        let mut normed = vec![0f32; n * h];
        let mut q = vec![0f32; n * h];
        let mut k = vec![0f32; n * kv];
        let mut v = vec![0f32; n * kv];
        let mut attn = vec![0f32; n * h];
        let mut proj = vec![0f32; n * h];
        let mut gate = vec![0f32; n * c.ffn];
        let mut up = vec![0f32; n * c.ffn];
        let mut scores = vec![0f32; start + n];
        let rope = RopeTable::new(c, start, n);
        let kernel = self.kernel;
        let product = |m: &Matrix, input: &[f32], out: &mut [f32]| m.matmul(kernel, input, n, 0..m.rows, out);
        for (li, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &layer.attn_norm, c.rms_eps, &mut normed);
            product(&layer.wq, &normed, &mut q);
            product(&layer.wk, &normed, &mut k);
            product(&layer.wv, &normed, &mut v);
            rope.apply(&mut q, c.heads, c.head_dim);
            rope.apply(&mut k, c.kv_heads, c.head_dim);
            cache.k[li].extend_from_slice(&k);
            cache.v[li].extend_from_slice(&v);
            self.attention(&q, &cache.k[li], &cache.v[li], start, n, &mut scores, &mut attn);
            product(&layer.wo, &attn, &mut proj);
            for (a, b) in x.iter_mut().zip(&proj) {
                *a += b;
            }
            rms_norm(&x, &layer.ffn_norm, c.rms_eps, &mut normed);
            product(&layer.w_gate, &normed, &mut gate);
            product(&layer.w_up, &normed, &mut up);
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            product(&layer.w_down, &gate, &mut proj);
            for (a, b) in x.iter_mut().zip(&proj) {
                *a += b;
            }
        }
        cache.len += n;
        let rows = n.saturating_sub(logits_from);
        if rows == 0 {
            return Vec::new();
        }
        let mut final_norm = vec![0f32; rows * h];
        rms_norm(&x[logits_from * h..], &self.output_norm, c.rms_eps, &mut final_norm);
        let mut logits = vec![0f32; rows * c.vocab];
        self.output().matmul(kernel, &final_norm, rows, 0..c.vocab, &mut logits);
        logits
    }

    /// Causal self-attention of the `n` new tokens (positions `start..start+n`) over the cache.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        q: &[f32],
        keys: &[f32],
        values: &[f32],
        start: usize,
        n: usize,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.kernel == Kernel::Avx2 {
            // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
            unsafe { attention_avx2(&self.config, q, keys, values, start, n, scores, out) };
            return;
        }
        attention(&self.config, Kernel::Portable, q, keys, values, start, n, scores, out);
    }
}

/// [`attention`] compiled for AVX2: wider vectors, the same operations in the same order (Rust
/// never fuses a multiply and an add on its own), hence the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn attention_avx2(
    c: &ModelConfig,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    start: usize,
    n: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    attention(c, Kernel::Avx2, q, keys, values, start, n, scores, out)
}

/// Causal self-attention (grouped-query): each new token's query heads against the cached keys
/// and values of every position up to its own.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attention(
    c: &ModelConfig,
    kernel: Kernel,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    start: usize,
    n: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let (hd, kv) = (c.head_dim, c.kv_dim());
    let group = c.heads / c.kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    for t in 0..n {
        let visible = start + t + 1;
        for head in 0..c.heads {
            let kvh = head / group;
            let qh = &q[t * c.hidden + head * hd..t * c.hidden + (head + 1) * hd];
            let mut max = f32::NEG_INFINITY;
            for (score, kh) in scores[..visible].iter_mut().zip(keys.chunks_exact(kv)) {
                *score = dot_f32_with(kernel, qh, &kh[kvh * hd..(kvh + 1) * hd]) * scale;
                max = max.max(*score);
            }
            let mut sum = 0f32;
            for score in scores[..visible].iter_mut() {
                *score = (*score - max).exp();
                sum += *score;
            }
            let o = &mut out[t * c.hidden + head * hd..t * c.hidden + (head + 1) * hd];
            o.fill(0.0);
            for (&w, vh) in scores[..visible].iter().zip(values.chunks_exact(kv)) {
                for (a, b) in o.iter_mut().zip(&vh[kvh * hd..(kvh + 1) * hd]) {
                    *a += w * b;
                }
            }
            let inv = 1.0 / sum;
            for a in o.iter_mut() {
                *a *= inv;
            }
        }
    }
}

/// RMSNorm of each row of `x` (rows of `w.len()` values), scaled by `w`.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let h = w.len();
    for (row, o) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
        let mean = dot_f32(row, row) / h as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &a), &g) in o.iter_mut().zip(row).zip(w) {
            *o = a * scale * g;
        }
    }
}

/// Rotary position embedding of GGUF llama weights: adjacent pairs `(2i, 2i+1)` of each head
/// rotate by `pos · θ^(-2i/d)` (llama.cpp's "normal" RoPE; the GGUF converter permuted Q and K
/// so that this equals the Hugging Face rotation).
struct RopeTable {
    /// `(cos, sin)` per new token and pair.
    table: Vec<(f32, f32)>,
    pairs: usize,
}

impl RopeTable {
    fn new(c: &ModelConfig, start: usize, n: usize) -> RopeTable {
        let pairs = c.head_dim / 2;
        let mut table = Vec::with_capacity(n * pairs);
        for t in 0..n {
            let pos = (start + t) as f64;
            for i in 0..pairs {
                let freq = f64::from(c.rope_theta).powf(-2.0 * i as f64 / c.head_dim as f64);
                let (sin, cos) = (pos * freq).sin_cos();
                table.push((cos as f32, sin as f32));
            }
        }
        RopeTable { table, pairs }
    }

    fn apply(&self, x: &mut [f32], heads: usize, hd: usize) {
        for (t, row) in x.chunks_exact_mut(heads * hd).enumerate() {
            let rot = &self.table[t * self.pairs..(t + 1) * self.pairs];
            for head in row.chunks_exact_mut(hd) {
                for (pair, &(cos, sin)) in head.chunks_exact_mut(2).zip(rot) {
                    let (a, b) = (pair[0], pair[1]);
                    pair[0] = a * cos - b * sin;
                    pair[1] = a * sin + b * cos;
                }
            }
        }
    }
}

/// Keys and values of the tokens processed so far, per layer (`len × kv_dim` floats each).
pub(crate) struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    kv_dim: usize,
}

impl KvCache {
    pub fn new(config: &ModelConfig) -> KvCache {
        KvCache {
            k: vec![Vec::new(); config.layers],
            v: vec![Vec::new(); config.layers],
            len: 0,
            kv_dim: config.kv_dim(),
        }
    }

    /// Forgets every token from position `len` on.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            for layer in self.k.iter_mut().chain(self.v.iter_mut()) {
                layer.truncate(len * self.kv_dim);
            }
            self.len = len;
        }
    }
}
