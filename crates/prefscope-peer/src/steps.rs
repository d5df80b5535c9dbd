//! Peers that time optimizer steps: their report, its statistics, and the sides of one
//! comparison.

use serde::{Deserialize, Serialize};

use crate::process::{last_json, Measured};
use crate::{PeerError, Result};

/// What one side reports of one run: seconds and real (non-padding) tokens of every optimizer
/// step, the first of which is warm-up and not counted; the process numbers are the
/// harness's measurement, not the side's own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub step_secs: Vec<f64>,
    pub step_tokens: Vec<f64>,
    #[serde(default)]
    pub peak_rss_bytes: u64,
    #[serde(default)]
    pub process_secs: f64,
    /// The share of computed positions that were padding, per step (prefscope's side only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub padding: Vec<f64>,
    #[serde(default)]
    pub versions: serde_json::Value,
    /// Settings a side reports of itself (TRL: whether gradient checkpointing was on).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub settings: serde_json::Value,
}

impl StepReport {
    /// The report in a finished side's output, with the measured process numbers.
    pub fn from_measured(m: &Measured, what: &str) -> Result<StepReport> {
        let value = last_json(&m.stdout, what)?;
        let mut r: StepReport = serde_json::from_value(value).map_err(|e| PeerError::Report {
            what: what.to_string(),
            message: format!("not a step report: {e}"),
        })?;
        if r.step_secs.is_empty() || r.step_secs.len() != r.step_tokens.len() {
            return Err(PeerError::Report {
                what: what.to_string(),
                message: "no step times".into(),
            });
        }
        r.peak_rss_bytes = m.peak_rss_bytes;
        r.process_secs = m.secs;
        Ok(r)
    }

    /// The timed steps: all but the first (warm-up), unless there is only one.
    fn timed<'a>(&self, v: &'a [f64]) -> &'a [f64] {
        &v[usize::from(v.len() > 1)..]
    }

    /// Real tokens per second over the timed steps.
    pub fn tokens_per_sec(&self) -> f64 {
        let tokens: f64 = self.timed(&self.step_tokens).iter().sum();
        let secs: f64 = self.timed(&self.step_secs).iter().sum();
        tokens / secs
    }

    /// The median seconds of a timed step.
    pub fn median_step(&self) -> f64 {
        prefscope_stats::median(self.timed(&self.step_secs)).unwrap_or(f64::NAN)
    }

    /// The report with its statistics, as the benchmark's JSON shows a side.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "tokens_per_sec": self.tokens_per_sec(),
            "median_step_secs": self.median_step(),
            "peak_rss_bytes": self.peak_rss_bytes,
            "process_secs": self.process_secs,
            "step_secs": self.step_secs,
            "step_tokens": self.step_tokens,
            "padding": self.padding,
            "versions": self.versions,
            "settings": self.settings,
        })
    }
}

/// How much a side matters to its comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideRole {
    /// The comparison is about this side: in a strict comparison its failure ends it.
    Main,
    /// A side whose failure is reported among the sides (e.g. a peer that needs far more
    /// memory than the others).
    Secondary,
}

/// The sides of one comparison, by name, in the order they ran: each one's report, or why it
/// did not finish.
#[derive(Debug, Default)]
pub struct Sides {
    strict: bool,
    pub sides: Vec<(&'static str, Result<StepReport>)>,
}

impl Sides {
    /// A comparison; with `strict`, a [`SideRole::Main`] side's failure ends it (the main numbers
    /// need every main side), else every failure is kept among the sides (a scaling point past
    /// the machine's memory).
    pub fn new(strict: bool) -> Sides {
        Sides {
            strict,
            sides: Vec::new(),
        }
    }

    /// Adds a finished side: an error when the comparison is strict and a main side failed.
    pub fn push(
        &mut self,
        name: &'static str,
        role: SideRole,
        side: Result<StepReport>,
    ) -> std::result::Result<(), (&'static str, PeerError)> {
        match side {
            Err(e) if self.strict && role == SideRole::Main => Err((name, e)),
            side => {
                self.sides.push((name, side));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(secs: &[f64], tokens: &[f64]) -> StepReport {
        StepReport {
            step_secs: secs.to_vec(),
            step_tokens: tokens.to_vec(),
            peak_rss_bytes: 0,
            process_secs: 0.0,
            padding: vec![],
            versions: serde_json::Value::Null,
            settings: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_first_step_is_warm_up() {
        let r = report(&[9.0, 1.0, 2.0, 4.0], &[1.0, 10.0, 10.0, 15.0]);
        assert_eq!(r.median_step(), 2.0);
        assert!((r.tokens_per_sec() - 35.0 / 7.0).abs() < 1e-12);
        let one = report(&[2.0], &[8.0]);
        assert_eq!((one.median_step(), one.tokens_per_sec()), (2.0, 4.0));
    }

    #[test]
    fn a_report_without_steps_is_an_error() {
        let m = Measured {
            stdout: "{\"step_secs\": [], \"step_tokens\": []}\n".into(),
            peak_rss_bytes: 1,
            secs: 1.0,
        };
        let err = StepReport::from_measured(&m, "trl")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "trl: no step times");
    }

    #[test]
    fn strict_comparisons_end_on_a_main_failure_only() {
        let fail = || {
            Err(PeerError::Report {
                what: "x".into(),
                message: "boom".into(),
            })
        };
        let mut s = Sides::new(true);
        assert!(s.push("pytorch", SideRole::Secondary, fail()).is_ok());
        assert!(s.push("trl", SideRole::Main, fail()).is_err());
        let mut lax = Sides::new(false);
        assert!(lax.push("trl", SideRole::Main, fail()).is_ok());
        assert_eq!(lax.sides.len(), 1);
    }
}
