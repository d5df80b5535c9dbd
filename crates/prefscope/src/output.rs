//! Output helpers: JSON on stdout, progress bars on stderr only when it is a terminal and
//! `--json` is off.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

/// Process set-up shared by both binaries: a closed pipe (`prefscope ... | head`) ends the
/// program quietly, as Unix tools do, instead of a panic in `println!`; logs go to stderr,
/// filtered by `PREFSCOPE_LOG` (default `warn`).
pub fn init_process() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of SIGPIPE, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PREFSCOPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Prints `value` as pretty JSON followed by a newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A progress bar of `len` steps, hidden when stderr is not a terminal or JSON was asked for.
pub fn progress(len: u64, message: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} {per_sec}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// Progress as plain lines on stderr for logs (stderr not a terminal, `--json` off), where
/// [`progress`]'s bar is hidden: `label: pos/total (pct%) detail (elapsed)`, at most one line
/// per [`PlainProgress::EVERY`] and always one at the last step, so a long command in a log file,
/// under nohup or in CI is never silent. Inert where the bar is shown.
#[allow(dead_code)] // the plain binary has no stepped command; the torch binary's use it
pub struct PlainProgress {
    label: &'static str,
    total: u64,
    on: bool,
    start: std::time::Instant,
    last: Option<std::time::Instant>,
}

#[allow(dead_code)]
impl PlainProgress {
    /// The most often a line is written.
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

    pub fn new(label: &'static str, total: u64, json: bool) -> PlainProgress {
        PlainProgress {
            label,
            total,
            on: !json && !std::io::stderr().is_terminal(),
            start: std::time::Instant::now(),
            last: None,
        }
    }

    /// Step `pos` is done; `detail` (built only when a line is written) follows the count.
    pub fn step(&mut self, pos: u64, detail: impl FnOnce() -> String) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        let due = self.last.is_none_or(|t| now - t >= Self::EVERY);
        if !(due || pos >= self.total) {
            return;
        }
        self.last = Some(now);
        let pct = if self.total > 0 {
            100.0 * pos as f64 / self.total as f64
        } else {
            100.0
        };
        eprintln!(
            "{}: {pos}/{} ({pct:.0}%) {} ({:.0} s)",
            self.label,
            self.total,
            detail(),
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// A spinner for work of unknown length, hidden like [`progress`].
pub fn spinner(message: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The project venv's python when it exists, else `python3`: the reference side of benchmarks.
pub fn default_python() -> String {
    let venv = std::path::Path::new(".venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}
