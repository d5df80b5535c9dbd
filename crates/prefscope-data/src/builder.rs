//! Building preference pairs from PRISM conversations.
//!
//! Protocol (RESEARCH.md, "Protocol choices"): within each turn, every two scored responses give
//! one pair; the higher score is chosen; equal scores are dropped and counted as ties;
//! unscored responses are skipped. `kind` is `within` when both responses come from the same
//! model and `cross` otherwise. The prompt is the conversation so far: each earlier turn's user
//! message and the response the user chose in that turn (`if_chosen`, else the highest score),
//! then this turn's user message.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::pair::{KindFilter, Message, Pair, PairKind};
use crate::prism::schema::unplaceholder;
use crate::prism::{ConversationRecord, Dataset, HistoryEntry, Role};

/// Options of the pair builder.
#[derive(Debug, Clone, Copy, Default)]
pub struct PairOptions {
    pub kind: KindFilter,
    /// Keep only pairs with `score_gap >= min_gap`.
    pub min_gap: f64,
}

/// Pairs plus what was dropped on the way.
#[derive(Debug, Clone, Default)]
pub struct PairSet {
    pub pairs: Vec<Pair>,
    /// Ties per kind, counted before the kind and gap filters.
    pub ties_within: usize,
    pub ties_cross: usize,
    /// Pairs of the selected kind dropped by `min_gap`.
    pub below_min_gap: usize,
}

/// Builds pairs from every conversation of a data set, in file order.
pub fn build_pairs(data: &Dataset, options: PairOptions) -> PairSet {
    // Conversations are independent: build them in parallel chunks, then concatenate in order.
    let chunks: Vec<PairSet> = data
        .conversations
        .par_chunks(256)
        .map(|convs| {
            let mut set = PairSet::default();
            for conv in convs {
                conversation_pairs(conv, options, &mut set);
            }
            set
        })
        .collect();
    let mut set = PairSet {
        pairs: Vec::with_capacity(chunks.iter().map(|c| c.pairs.len()).sum()),
        ..Default::default()
    };
    for chunk in chunks {
        set.pairs.extend(chunk.pairs);
        set.ties_within += chunk.ties_within;
        set.ties_cross += chunk.ties_cross;
        set.below_min_gap += chunk.below_min_gap;
    }
    set
}

/// A stable pair id: a hash of the conversation, turn and the two within-turn ids (smaller
/// first), so it does not depend on which response won or on file order. The hash is 64-bit
/// FNV-1a, written out here because it is fixed by its definition (the same id on every
/// platform and Rust version, unlike std's hasher) and far cheaper than a cryptographic hash,
/// which cost a tenth of ingest for no benefit.
pub fn pair_id(conversation_id: &str, turn: u32, a: u32, b: u32) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = conversation_id
        .bytes()
        .chain([0x1f])
        .chain(turn.to_le_bytes())
        .chain(lo.to_le_bytes())
        .chain(hi.to_le_bytes());
    for byte in bytes {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn conversation_pairs(conv: &ConversationRecord, options: PairOptions, set: &mut PairSet) {
    let mut turns: BTreeMap<u32, (Option<&HistoryEntry>, Vec<&HistoryEntry>)> = BTreeMap::new();
    for h in &conv.conversation_history {
        let slot = turns.entry(h.turn).or_default();
        match h.role {
            Role::User => slot.0 = Some(h),
            Role::Model => slot.1.push(h),
        }
    }
    let mut history: Vec<Message> = Vec::new();
    for (&turn, (user, responses)) in &turns {
        let Some(user) = user else { continue };
        history.push(Message::new("user", user.content.clone()));
        let scored: Vec<&HistoryEntry> = responses
            .iter()
            .copied()
            .filter(|r| r.score.is_some())
            .collect();
        let prompt: Arc<[Message]> = history.as_slice().into();
        for (i, a) in scored.iter().enumerate() {
            for b in &scored[i + 1..] {
                push_pair(conv, turn, &prompt, a, b, options, set);
            }
        }
        if let Some(chosen) = chosen_response(responses) {
            history.push(Message::new("assistant", unplaceholder(&chosen.content)));
        }
    }
}

fn push_pair(
    conv: &ConversationRecord,
    turn: u32,
    prompt: &Arc<[Message]>,
    a: &HistoryEntry,
    b: &HistoryEntry,
    options: PairOptions,
    set: &mut PairSet,
) {
    let (sa, sb) = (a.score.unwrap_or_default(), b.score.unwrap_or_default());
    let kind = if a.model_name == b.model_name {
        PairKind::Within
    } else {
        PairKind::Cross
    };
    if sa == sb {
        match kind {
            PairKind::Within => set.ties_within += 1,
            PairKind::Cross => set.ties_cross += 1,
        }
        return;
    }
    if !options.kind.keeps(kind) {
        return;
    }
    let (chosen, rejected) = if sa > sb { (a, b) } else { (b, a) };
    let gap = chosen.score.unwrap_or_default() - rejected.score.unwrap_or_default();
    if gap < options.min_gap {
        set.below_min_gap += 1;
        return;
    }
    set.pairs.push(Pair {
        pair_id: pair_id(
            &conv.conversation_id,
            turn,
            a.within_turn_id.unwrap_or_default(),
            b.within_turn_id.unwrap_or_default(),
        ),
        user_id: conv.user_id.clone(),
        conversation_id: conv.conversation_id.clone(),
        turn,
        kind,
        chosen_model: chosen.model_name.clone().unwrap_or_default(),
        rejected_model: rejected.model_name.clone().unwrap_or_default(),
        chosen_score: chosen.score.unwrap_or_default(),
        rejected_score: rejected.score.unwrap_or_default(),
        score_gap: gap,
        prompt: Arc::clone(prompt),
        chosen: unplaceholder(&chosen.content).to_string(),
        rejected: unplaceholder(&rejected.content).to_string(),
        conversation_type: conv.conversation_type.clone(),
    });
}

/// The response that continues the conversation: the one flagged `if_chosen`, else the highest
/// scored (first on a tie), else the first.
fn chosen_response<'a>(responses: &[&'a HistoryEntry]) -> Option<&'a HistoryEntry> {
    responses
        .iter()
        .copied()
        .find(|r| r.if_chosen == Some(true))
        .or_else(|| {
            responses.iter().copied().reduce(|best, r| {
                if r.score.unwrap_or(f64::MIN) > best.score.unwrap_or(f64::MIN) {
                    r
                } else {
                    best
                }
            })
        })
}

#[cfg(test)]
mod tests {
    use super::pair_id;

    #[test]
    fn pair_ids_are_fnv1a_of_their_parts_and_symmetric() {
        // FNV-1a 64 of the empty input is its offset basis; one byte 'a' gives the published
        // test vector 0xaf63dc4c8601ec8c.
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        let mut input = b"c7\x1f".to_vec();
        for x in [2u32, 0, 3] {
            input.extend(x.to_le_bytes());
        }
        assert_eq!(pair_id("c7", 2, 3, 0), format!("{:016x}", fnv(&input)));
        assert_eq!(pair_id("c7", 2, 0, 3), pair_id("c7", 2, 3, 0));
        assert_ne!(pair_id("c7", 2, 0, 3), pair_id("c7", 1, 0, 3));
    }
}
