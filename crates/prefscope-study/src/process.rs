//! Processes on this host: who we are ([`Owner`] of a claimed run), whether a recorded owner is
//! still alive (the pid exists and started when recorded, so a reused pid does not count), and
//! how workers are started so that they die with the process that started them (Linux
//! `PR_SET_PDEATHSIG`): `kill -9` of `prefscope study run` leaves no orphan training on.

use std::process::Command;

use crate::store::Owner;

/// This host's name (`gethostname`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on
    // success (we zeroed it, and pass one byte less).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`), or `None`
/// when there is no such process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process as the owner of a run.
pub fn current_owner() -> Owner {
    let pid = std::process::id();
    Owner {
        host: hostname(),
        pid,
        pid_start: start_time(pid).unwrap_or(0),
    }
}

/// The owner of a child process just started.
pub fn child_owner(pid: u32) -> Owner {
    Owner {
        host: hostname(),
        pid,
        pid_start: start_time(pid).unwrap_or(0),
    }
}

/// Whether `owner` is a live process of this host (a zombie counts as gone). Owners on other
/// hosts cannot be checked from here: `None`.
pub fn is_alive(owner: &Owner) -> Option<bool> {
    if owner.host != hostname() {
        return None;
    }
    let stat = match std::fs::read_to_string(format!("/proc/{}/stat", owner.pid)) {
        Ok(s) => s,
        Err(_) => return Some(false),
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    if state == "Z" || state == "X" {
        return Some(false);
    }
    Some(start_time(owner.pid) == Some(owner.pid_start))
}

/// Makes `cmd`'s process receive SIGKILL when the thread that starts it ends (its parent
/// dying). Call from the thread that lives as long as the executor.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}
