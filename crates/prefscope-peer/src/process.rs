//! One peer process, run to its end and measured.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{PeerError, Result};

/// What a finished peer left: its standard output, its peak resident memory and its wall
/// time.
#[derive(Debug, Clone)]
pub struct Measured {
    pub stdout: String,
    /// The process's own peak RSS (`ru_maxrss` from `wait4`), in bytes.
    pub peak_rss_bytes: u64,
    pub secs: f64,
}

/// Runs `cmd` to its end with its standard output captured and its standard error written to
/// `log`. A peer that exits non-zero or is killed is an error saying how (a SIGKILL is likely
/// the kernel's out-of-memory killer) with the last 20 lines of `log`.
pub fn run(cmd: &mut Command, log: &Path) -> Result<Measured> {
    let command = format!("{cmd:?}");
    let start_err = |source: std::io::Error| PeerError::Start {
        command: command.clone(),
        source,
    };
    let t0 = std::time::Instant::now();
    let stderr = std::fs::File::create(log).map_err(|e| PeerError::Start {
        command: format!("creating {}", log.display()),
        source: e,
    })?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(start_err)?;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).map_err(start_err)?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it and reaps the child (which `child` does
    // not wait for again: dropping a Child does not wait).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(start_err(std::io::Error::last_os_error()));
    }
    let secs = t0.elapsed().as_secs_f64();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let how = if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            let oom = if sig == libc::SIGKILL {
                " (out of memory?)"
            } else {
                ""
            };
            format!("was killed by signal {sig}{oom}")
        } else {
            format!("exited with status {}", libc::WEXITSTATUS(status))
        };
        return Err(PeerError::Failed {
            command,
            how,
            log_tail: log_tail(log, 20),
        });
    }
    Ok(Measured {
        stdout,
        // Linux reports ru_maxrss in KiB.
        peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
        secs,
    })
}

/// The last `n` lines of the log at `path` (empty when it cannot be read).
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The peer's report: the last line of its standard output that starts with `{`, as JSON
/// (`what` names the peer in the error).
pub fn last_json(stdout: &str, what: &str) -> Result<serde_json::Value> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let bad = |message: String| PeerError::Report {
        what: what.to_string(),
        message,
    };
    let line = line.ok_or_else(|| {
        bad(format!(
            "expected a JSON report as its last line, got {stdout:?}"
        ))
    })?;
    serde_json::from_str(line).map_err(|e| bad(format!("its report is not JSON ({e}): {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_peer_reports_its_last_json_line_and_its_memory() {
        let dir = tempfile::tempdir().unwrap();
        let m = run(
            &mut sh("echo warming up; echo '{\"x\": 1}'; echo '{\"x\": 2}'; echo note >&2"),
            &dir.path().join("log"),
        )
        .unwrap();
        assert_eq!(last_json(&m.stdout, "sh").unwrap()["x"], 2);
        assert!(m.peak_rss_bytes > 0 && m.secs >= 0.0);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log")).unwrap(),
            "note\n"
        );
    }

    #[test]
    fn a_failing_peer_says_how_with_its_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let err = run(&mut sh("seq 1 30 >&2; exit 3"), &log)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exited with status 3"), "{err}");
        assert!(
            err.contains("\n11\n") && err.ends_with("30") && !err.contains("\n10\n"),
            "{err}"
        );
        let err = run(&mut sh("kill -9 $$"), &log).unwrap_err().to_string();
        assert!(err.contains("killed by signal 9 (out of memory?)"), "{err}");
        let err = last_json("no report here", "peer").unwrap_err().to_string();
        assert!(err.starts_with("peer: expected a JSON report"), "{err}");
    }
}
