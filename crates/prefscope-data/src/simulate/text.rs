//! Text of simulated conversations: user prompts by conversation type, and model responses
//! whose wording carries the features a group may prefer. Hedged responses open and close with
//! hedges ("I think", "but I could be wrong"); direct ones with assertions ("Clearly", "That
//! is the answer."); verbose ones add elaborating sentences. The markers are fixed phrases so a
//! small language model can learn to prefer them.

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const TOPICS: [&str; 24] = [
    "remote work",
    "climate change",
    "electric cars",
    "social media",
    "vegetarian diets",
    "nuclear power",
    "homeschooling",
    "cryptocurrency",
    "city cycling",
    "video games",
    "minimum wage",
    "space exploration",
    "organic farming",
    "online dating",
    "public transport",
    "artificial intelligence",
    "tourism",
    "gardening",
    "religion in schools",
    "immigration",
    "learning languages",
    "saving for retirement",
    "running a marathon",
    "adopting a pet",
];

const UNGUIDED: [&str; 4] = [
    "Can you give me some advice about {t}?",
    "What should I know before getting into {t}?",
    "Tell me something useful about {t}.",
    "How do I get started with {t}?",
];
const VALUES: [&str; 4] = [
    "I care a lot about {t}. How should I think about it?",
    "What does {t} say about our values as a society?",
    "Is {t} something a good person should support?",
    "How can I talk to my family about {t}?",
];
const CONTROVERSY: [&str; 4] = [
    "Is {t} good or bad for society?",
    "People in my community disagree about {t}. Who is right?",
    "Why is {t} so controversial?",
    "Should the government do more about {t}?",
];
const FOLLOW_UPS: [&str; 6] = [
    "Can you say more about that?",
    "Why do you think so?",
    "What would you do in my place?",
    "Are there any downsides?",
    "Can you give me an example?",
    "Thanks. Anything else I should consider?",
];

const CORE: [&str; 8] = [
    "{T} works best when you plan ahead and set clear goals.",
    "The main benefit of {t} is that it saves time and money over the long run.",
    "Most experts agree that {t} has both costs and benefits for ordinary people.",
    "{T} depends a lot on where you live and what you can afford.",
    "The evidence on {t} points to modest but real effects.",
    "Starting small with {t} is the easiest way to see what suits you.",
    "{T} affects different groups of people in different ways.",
    "A practical first step with {t} is to talk to someone with experience.",
];
const ELABORATION: [&str; 8] = [
    "It also helps to read a few reliable sources and compare their arguments.",
    "Many people find that their views change once they try it for a while.",
    "Keep in mind that costs can vary widely from one year to the next.",
    "Local rules and customs can make a big difference in how this plays out.",
    "You may want to keep notes so you can see what changes over time.",
    "Talking it through with friends can reveal considerations you had not thought of.",
    "There are community groups and online forums where people share their experiences.",
    "Over time, small consistent steps usually matter more than one big decision.",
];
const HEDGE_OPEN: [&str; 4] = [
    "I think ",
    "It seems to me that ",
    "Perhaps ",
    "It might be that ",
];
const HEDGE_CLOSE: [&str; 3] = [
    "But I could be wrong about this.",
    "That said, it really depends on your situation.",
    "I am not entirely sure, though.",
];
const DIRECT_OPEN: [&str; 4] = ["Clearly, ", "Simply put, ", "In short, ", "Definitely: "];
const DIRECT_CLOSE: [&str; 3] = [
    "That is the answer.",
    "Do this and you will be fine.",
    "There is no doubt about it.",
];

/// A conversation's topic.
pub fn topic(rng: &mut ChaCha8Rng) -> &'static str {
    TOPICS.choose(rng).copied().unwrap_or(TOPICS[0])
}

fn fill(template: &str, topic: &str) -> String {
    let mut cap = topic.to_string();
    if let Some(first) = cap.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    template.replace("{t}", topic).replace("{T}", &cap)
}

fn one<'a>(rng: &mut ChaCha8Rng, options: &[&'a str]) -> &'a str {
    options.choose(rng).copied().unwrap_or("")
}

/// The user's message of `turn` in a conversation of `kind` about `topic`.
pub fn user_prompt(rng: &mut ChaCha8Rng, kind: &str, topic: &str, turn: u32) -> String {
    if turn > 0 {
        return one(rng, &FOLLOW_UPS).to_string();
    }
    let templates: &[&str] = match kind {
        "values guided" => &VALUES,
        "controversy guided" => &CONTROVERSY,
        _ => &UNGUIDED,
    };
    fill(one(rng, templates), topic)
}

/// A model response about `topic` with the given features.
pub fn response(rng: &mut ChaCha8Rng, topic: &str, hedged: bool, verbose: bool) -> String {
    let core = fill(one(rng, &CORE), topic);
    let (open, close) = if hedged {
        (one(rng, &HEDGE_OPEN), one(rng, &HEDGE_CLOSE))
    } else {
        (one(rng, &DIRECT_OPEN), one(rng, &DIRECT_CLOSE))
    };
    let mut core_lower = core.clone();
    if let Some(first) = core_lower.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    let mut text = format!("{open}{core_lower}");
    let extra = if verbose {
        rng.random_range(3..=5)
    } else {
        rng.random_range(0..=1)
    };
    let mut pool: Vec<&str> = ELABORATION.to_vec();
    for _ in 0..extra {
        let i = rng.random_range(0..pool.len());
        text.push(' ');
        text.push_str(pool.swap_remove(i));
    }
    text.push(' ');
    text.push_str(close);
    text
}

/// Whether a simulated response is hedged, read back from its wording (for tests and
/// diagnostics: the simulator's own features are not stored in PRISM files).
pub fn is_hedged(text: &str) -> bool {
    HEDGE_CLOSE.iter().any(|c| text.ends_with(c))
}
