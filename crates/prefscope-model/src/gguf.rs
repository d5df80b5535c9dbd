//! GGUF files (llama.cpp), the container format: metadata values and tensors, dequantized to
//! f32 (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K). What the metadata and
//! tensors mean for a decoder (HF config, HF tensor names, the tokenizer) is
//! [`crate::gguf_model`]'s; this module knows nothing of models.
//! Spec: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use tch::Tensor;

use crate::error::{ModelError, Result};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<MetaValue>),
}

impl MetaValue {
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            MetaValue::Int(v) => Some(*v),
            _ => None,
        }
    }
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            MetaValue::Float(v) => Some(*v),
            MetaValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct TensorInfo {
    name: String,
    /// GGUF order: innermost dimension first.
    dims: Vec<u64>,
    kind: u32,
    offset: u64,
}

/// A parsed GGUF file.
pub struct GgufFile {
    path: PathBuf,
    data: Vec<u8>,
    pub metadata: HashMap<String, MetaValue>,
    tensors: Vec<TensorInfo>,
    data_start: usize,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                ModelError::format(self.path, format!("truncated GGUF at byte {}", self.pos))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u64()? as usize;
        let b = self.bytes(n)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
    fn value(&mut self, ty: u32) -> Result<MetaValue> {
        let b = |r: &mut Self, n| -> Result<Vec<u8>> { Ok(r.bytes(n)?.to_vec()) };
        Ok(match ty {
            0 => MetaValue::Int(b(self, 1)?[0] as i64),
            1 => MetaValue::Int(b(self, 1)?[0] as i8 as i64),
            2 => {
                MetaValue::Int(u16::from_le_bytes([b(self, 2)?[0], self.buf[self.pos - 1]]) as i64)
            }
            3 => {
                MetaValue::Int(i16::from_le_bytes([b(self, 2)?[0], self.buf[self.pos - 1]]) as i64)
            }
            4 => MetaValue::Int(self.u32()? as i64),
            5 => MetaValue::Int(self.u32()? as i32 as i64),
            6 => MetaValue::Float(f32::from_bits(self.u32()?) as f64),
            7 => MetaValue::Bool(b(self, 1)?[0] != 0),
            8 => MetaValue::Str(self.string()?),
            9 => {
                let item_ty = self.u32()?;
                let n = self.u64()? as usize;
                if n > self.buf.len() {
                    return Err(ModelError::format(
                        self.path,
                        "GGUF array length beyond file size",
                    ));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_ty)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::Int(self.u64()? as i64),
            11 => MetaValue::Int(self.u64()? as i64),
            12 => MetaValue::Float(f64::from_bits(self.u64()?)),
            other => {
                return Err(ModelError::format(
                    self.path,
                    format!("unknown GGUF metadata type {other} at byte {}", self.pos),
                ))
            }
        })
    }
}

fn type_name(kind: u32) -> String {
    match kind {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        30 => "BF16",
        _ => return format!("ggml type {kind}"),
    }
    .to_string()
}

impl GgufFile {
    /// Reads and parses a GGUF file (version 2 or 3).
    pub fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let mut r = Reader {
            buf: &data,
            pos: 0,
            path,
        };
        if r.bytes(4)? != b"GGUF" {
            return Err(ModelError::format(path, "not a GGUF file (bad magic)"));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(ModelError::format(
                path,
                format!("unsupported GGUF version {version}"),
            ));
        }
        let n_tensors = r.u64()? as usize;
        let n_kv = r.u64()? as usize;
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let ty = r.u32()?;
            metadata.insert(key, r.value(ty)?);
        }
        let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16));
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()? as usize;
            let dims = (0..n_dims).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
            let kind = r.u32()?;
            let offset = r.u64()?;
            tensors.push(TensorInfo {
                name,
                dims,
                kind,
                offset,
            });
        }
        let align = metadata
            .get("general.alignment")
            .and_then(MetaValue::as_i64)
            .unwrap_or(32)
            .max(1) as usize;
        let data_start = r.pos.div_ceil(align) * align;
        Ok(Self {
            path: path.to_path_buf(),
            data,
            metadata,
            tensors,
            data_start,
        })
    }

    pub(crate) fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names in file order.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }

    /// Dequantizes one tensor to f32 with the torch shape (outermost dimension first).
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self
            .tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                expected: vec![],
            })?;
        let n: u64 = info.dims.iter().product();
        let n = n as usize;
        let (block, bytes) = match info.kind {
            0 => (1, 4),
            1 | 30 => (1, 2),
            2 => (32, 18),
            3 => (32, 20),
            6 => (32, 22),
            7 => (32, 24),
            8 => (32, 34),
            12 => (256, 144),
            13 => (256, 176),
            14 => (256, 210),
            k => {
                return Err(ModelError::UnsupportedQuant {
                    name: name.to_string(),
                    kind: type_name(k),
                })
            }
        };
        if !n.is_multiple_of(block) {
            return Err(ModelError::format(
                &self.path,
                format!("tensor {name}: {n} elements is not a multiple of block {block}"),
            ));
        }
        let size = n / block * bytes;
        let start = self.data_start + info.offset as usize;
        let raw = self.data.get(start..start + size).ok_or_else(|| {
            ModelError::format(
                &self.path,
                format!("tensor {name} extends past the end of the file"),
            )
        })?;
        let values = dequantize(info.kind, raw, n);
        let shape: Vec<i64> = info.dims.iter().rev().map(|&d| d as i64).collect();
        Tensor::f_from_slice(&values)
            .and_then(|t| t.f_reshape(&shape))
            .map_err(|e| ModelError::Torch {
                context: format!("tensor {name}"),
                source: e,
            })
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantizes `n` values (block layouts from ggml-quants.c).
fn dequantize(kind: u32, raw: &[u8], n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    match kind {
        0 => out.extend(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        1 => out.extend(
            raw.chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        30 => out.extend(
            raw.chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        8 => {
            for b in raw.chunks_exact(34) {
                let d = f16_at(b, 0);
                out.extend(b[2..].iter().map(|&q| d * (q as i8) as f32));
            }
        }
        2 | 3 => {
            let (bytes, qs_at) = if kind == 2 { (18, 2) } else { (20, 4) };
            for b in raw.chunks_exact(bytes) {
                let d = f16_at(b, 0);
                let (m, off) = if kind == 2 {
                    (-8.0 * d, 0.0)
                } else {
                    (f16_at(b, 2), 0.0)
                };
                let qs = &b[qs_at..qs_at + 16];
                out.extend(qs.iter().map(|&q| d * (q & 0x0F) as f32 + m + off));
                out.extend(qs.iter().map(|&q| d * (q >> 4) as f32 + m + off));
            }
        }
        6 | 7 => {
            let (bytes, qh_at) = if kind == 6 { (22, 2) } else { (24, 4) };
            for b in raw.chunks_exact(bytes) {
                let d = f16_at(b, 0);
                let m = if kind == 6 { -16.0 * d } else { f16_at(b, 2) };
                let qh = u32::from_le_bytes([b[qh_at], b[qh_at + 1], b[qh_at + 2], b[qh_at + 3]]);
                let qs = &b[qh_at + 4..qh_at + 20];
                let lo = (0..16).map(|j| {
                    let h = ((qh >> j) << 4) & 0x10;
                    d * ((qs[j] as u32 & 0x0F) | h) as f32 + m
                });
                out.extend(lo.collect::<Vec<_>>());
                let hi = (0..16).map(|j| {
                    let h = (qh >> (j + 12)) & 0x10;
                    d * ((qs[j] as u32 >> 4) | h) as f32 + m
                });
                out.extend(hi.collect::<Vec<_>>());
            }
        }
        12 | 13 => {
            let bytes = if kind == 12 { 144 } else { 176 };
            for b in raw.chunks_exact(bytes) {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let (sc, mn) = k_scale_min(&b[4..16]);
                let (qh, qs) = if kind == 12 {
                    (&[][..], &b[16..144])
                } else {
                    (&b[16..48], &b[48..176])
                };
                // 8 sub-blocks of 32: sub-block j uses nibble (j % 2) of qs[32 * (j / 2)..],
                // and (Q5_K) bit j of qh.
                for j in 0..8 {
                    let scale = d * sc[j] as f32;
                    let min = dmin * mn[j] as f32;
                    let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
                    for l in 0..32 {
                        let mut v = (q[l] >> (4 * (j % 2))) & 0x0F;
                        if kind == 13 {
                            v |= ((qh[l] >> j) & 1) << 4;
                        }
                        out.push(scale * v as f32 - min);
                    }
                }
            }
        }
        14 => {
            for b in raw.chunks_exact(210) {
                let (ql, qh, scales) = (&b[..128], &b[128..192], &b[192..208]);
                let d = f16_at(b, 208);
                // 16 sub-blocks of 16; sub-block i: half h = i / 8, quarter r = (i % 8) / 2.
                for (i, &sc) in scales.iter().enumerate() {
                    let scale = d * sc as i8 as f32;
                    let (h, r) = (i / 8, (i % 8) / 2);
                    for l in 0..16 {
                        let idx = 16 * (i % 2) + l; // 0..32 within the quarter
                        let lo = (ql[64 * h + 32 * (r % 2) + idx] >> (4 * (r / 2))) & 0x0F;
                        let hi = (qh[32 * h + idx] >> (2 * r)) & 0x03;
                        let q = (lo | (hi << 4)) as i32 - 32;
                        out.push(scale * q as f32);
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The 8 six-bit scales and mins packed in 12 bytes (Q4_K, Q5_K).
fn k_scale_min(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut mn) = ([0u8; 8], [0u8; 8]);
    for j in 0..4 {
        sc[j] = s[j] & 0x3F;
        mn[j] = s[j + 4] & 0x3F;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
    (sc, mn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_and_q4_1_blocks_dequantize() {
        // Q8_0: d = 0.5, q = -2, 3, 0...
        let mut b = f16::from_f32(0.5).to_le_bytes().to_vec();
        let mut qs = vec![0u8; 32];
        qs[0] = (-2i8) as u8;
        qs[1] = 3;
        b.extend(qs);
        let v = dequantize(8, &b, 32);
        assert_eq!(&v[..3], &[-1.0, 1.5, 0.0]);
        // Q4_1: d = 2, m = -1; byte 0 = 0x51: element 0 -> 1, element 16 -> 5.
        let mut b = f16::from_f32(2.0).to_le_bytes().to_vec();
        b.extend(f16::from_f32(-1.0).to_le_bytes());
        let mut qs = vec![0u8; 16];
        qs[0] = 0x51;
        b.extend(qs);
        let v = dequantize(3, &b, 32);
        assert_eq!(
            (v[0], v[1], v[16]),
            (2.0 * 1.0 - 1.0, -1.0, 2.0 * 5.0 - 1.0)
        );
    }

    /// Random K-quant blocks (two of 256 values each, per type) against gguf-py's
    /// dequantization (fixture: `kquants`). Equality is exact and holds on any CPU: a value is
    /// `d·scale·q − dmin·min` from f16 and small integers, each operation one correctly rounded
    /// IEEE f32 operation on both sides (Rust never fuses a multiply-add unasked, nor does numpy).
    #[test]
    fn k_quants_match_gguf_py() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kquants.json");
        let fix: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = fix["cases"].as_array().unwrap();
        let mut types = vec![];
        for case in cases {
            let hex = case["raw_hex"].as_str().unwrap();
            let raw: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let want: Vec<f32> = serde_json::from_value(case["values"].clone()).unwrap();
            let kind = case["ggml_type"].as_u64().unwrap() as u32;
            assert_eq!(want.len(), 512, "{}: two blocks", case["type"]);
            let got = dequantize(kind, &raw, want.len());
            assert_eq!(got, want, "{}", case["type"]);
            types.push(case["type"].as_str().unwrap().to_string());
        }
        assert_eq!(types, ["Q4_K", "Q5_K", "Q6_K"], "K-quant cases checked");
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    fn string(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u64).to_le_bytes().to_vec();
        b.extend(s.as_bytes());
        b
    }

    #[test]
    fn truncated_file_and_bad_magic_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gemma.gguf");
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes()); // tensors
        b.extend(1u64.to_le_bytes()); // kv pairs
        b.extend(string("general.architecture"));
        b.extend(8u32.to_le_bytes());
        b.extend(string("gemma"));
        std::fs::write(&path, &b).unwrap();
        // the container is valid: what it holds is the model reader's concern
        assert!(GgufFile::read(&path).is_ok());

        std::fs::write(&path, &b[..20]).unwrap();
        let err = GgufFile::read(&path).err().unwrap();
        assert!(err.to_string().contains("truncated GGUF"), "{err}");
        std::fs::write(&path, b"GGML0000").unwrap();
        let err = GgufFile::read(&path).err().unwrap();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }
}
