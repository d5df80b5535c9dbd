//! The study's encoded pairs: every pair of the study as token ids under the model's
//! tokenizer and chat template, encoded once and kept in `<dir>/token_cache/<key>.bin`, so a
//! run's worker reads its pairs' ids instead of tokenizing them again (tokenizing and rendering
//! the template cost about 0.4 ms a pair, seconds per run at PRISM's size). The key hashes the
//! model's fingerprint (which covers the tokenizer, its config and the chat template) and the
//! pairs' content hash, so a changed model or data set never reads stale ids.
//!
//! Format (little-endian): the magic `PSTOK1\n`, the pair count (u64), then per pair its id
//! (u32 length, UTF-8 bytes) and the prompt, chosen and rejected ids (each a u32 count, then
//! u32 ids). The file is written atomically; a file that does not parse, or whose pair ids are
//! not the study's in order, is ignored and rewritten. Two workers that start together may both
//! encode and write: the same bytes, once.

use std::path::{Path, PathBuf};

use prefscope_train::TokenizedPair;
use sha2::{Digest, Sha256};

use crate::error::Result;

const MAGIC: &[u8] = b"PSTOK1\n";

/// The cache file of a model fingerprint and a pairs hash in the study folder `dir`.
pub fn cache_path(dir: &Path, model: &str, pairs_hash: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(b"prefscope token cache v1\0");
    h.update(model.as_bytes());
    h.update(b"\0");
    h.update(pairs_hash.as_bytes());
    let key = hex::encode(&h.finalize()[..12]);
    dir.join("token_cache").join(format!("{key}.bin"))
}

/// The encoded pairs, as bytes of the format above.
pub fn to_bytes(pairs: &[TokenizedPair]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + pairs.len() * 1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
    for p in pairs {
        out.extend_from_slice(&(p.pair_id.len() as u32).to_le_bytes());
        out.extend_from_slice(p.pair_id.as_bytes());
        for ids in [&p.prompt, &p.chosen, &p.rejected] {
            out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
            for &id in ids.iter() {
                // Token ids are vocabulary indices, below 2^32 for every tokenizer.
                out.extend_from_slice(&(id as u32).to_le_bytes());
            }
        }
    }
    out
}

/// Parses [`to_bytes`]' format; `None` for anything else (wrong magic, truncated, trailing
/// bytes, an id that is not UTF-8).
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<TokenizedPair>> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let n = u64::from_le_bytes(r.take(8)?.try_into().ok()?) as usize;
    // Each pair takes at least 16 bytes: a count that the file cannot hold is corrupt.
    if n > bytes.len() / 16 {
        return None;
    }
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u32()? as usize;
        let pair_id = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        let mut seqs: [Vec<i64>; 3] = Default::default();
        for seq in &mut seqs {
            let k = r.u32()? as usize;
            let raw = r.take(k.checked_mul(4)?)?;
            *seq = raw
                .chunks_exact(4)
                .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
        }
        let [prompt, chosen, rejected] = seqs;
        pairs.push(TokenizedPair {
            pair_id,
            prompt,
            chosen,
            rejected,
        });
    }
    (r.at == bytes.len()).then_some(pairs)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// The cached encoding at `path` when it holds exactly the pairs `ids` (in order); otherwise
/// `encode()`, written to `path` for the next run.
pub fn load_or_encode(
    path: &Path,
    ids: &[&str],
    encode: impl FnOnce() -> Result<Vec<TokenizedPair>>,
) -> Result<Vec<TokenizedPair>> {
    if let Ok(bytes) = std::fs::read(path) {
        if let Some(pairs) = from_bytes(&bytes) {
            if pairs.len() == ids.len() && pairs.iter().zip(ids).all(|(p, id)| p.pair_id == *id) {
                return Ok(pairs);
            }
        }
    }
    let pairs = encode()?;
    prefscope_data::write_bytes_atomic(path, &to_bytes(&pairs))?;
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<TokenizedPair> {
        vec![
            TokenizedPair {
                pair_id: "u1-0".into(),
                prompt: vec![1, 2, 3],
                chosen: vec![70_000, 5],
                rejected: vec![6],
            },
            TokenizedPair {
                pair_id: "ü-1".into(),
                prompt: vec![],
                chosen: vec![0],
                rejected: vec![u32::MAX as i64],
            },
        ]
    }

    #[test]
    fn round_trip_and_corruption_is_refused() {
        let bytes = to_bytes(&pairs());
        assert_eq!(from_bytes(&bytes), Some(pairs()));
        for cut in [0, 5, MAGIC.len() + 8, bytes.len() - 1] {
            assert_eq!(from_bytes(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(from_bytes(&longer), None);
        let mut huge = bytes.clone();
        huge[MAGIC.len()..MAGIC.len() + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(from_bytes(&huge), None);
        assert_eq!(from_bytes(&to_bytes(&[])), Some(vec![]));
    }

    #[test]
    fn reads_its_file_and_encodes_again_when_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let path = cache_path(tmp.path(), "model-a", "pairs-a");
        assert_ne!(path, cache_path(tmp.path(), "model-b", "pairs-a"));
        assert_ne!(path, cache_path(tmp.path(), "model-a", "pairs-b"));
        let ids = ["u1-0", "ü-1"];
        let mut calls = 0;
        let got = load_or_encode(&path, &ids, || {
            calls += 1;
            Ok(pairs())
        })
        .unwrap();
        assert_eq!((got, calls), (pairs(), 1));
        // Read back without encoding.
        let got = load_or_encode(&path, &ids, || panic!("encoded again")).unwrap();
        assert_eq!(got, pairs());
        // Other pair ids (or a corrupt file): encoded again and rewritten.
        let again = load_or_encode(&path, &["u1-0"], || Ok(pairs()[..1].to_vec())).unwrap();
        assert_eq!(again, pairs()[..1].to_vec());
        std::fs::write(&path, b"garbage").unwrap();
        let fixed = load_or_encode(&path, &ids, || Ok(pairs())).unwrap();
        assert_eq!(fixed, pairs());
        assert_eq!(from_bytes(&std::fs::read(&path).unwrap()), Some(pairs()));
    }
}
