//! The libtorch commands, run in the sibling binary `prefscope-torch`. Loading libtorch and its
//! CUDA libraries takes about 0.5 s and 450 MB of memory at start-up, so `prefscope` itself does
//! not link them; `prefscope train ARGS` replaces itself with `prefscope-torch train ARGS`
//! (same arguments, same exit code, `--help` answered there).

use std::path::PathBuf;

use anyhow::Context;

/// Arguments handed unchanged to `prefscope-torch`.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Forward {
    /// Arguments of the command; `--help` lists them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

/// The `prefscope-torch` binary next to this one (`PREFSCOPE_TORCH` overrides), as an
/// absolute path (it goes into Slurm batch scripts that run elsewhere).
pub(crate) fn torch_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PREFSCOPE_TORCH") {
        let path = PathBuf::from(&p);
        return std::fs::canonicalize(&path)
            .ok()
            .filter(|p| p.is_file())
            .with_context(|| {
                format!(
                    "PREFSCOPE_TORCH={}: no such file (it names the prefscope-torch binary)",
                    path.display()
                )
            });
    }
    let exe = std::env::current_exe().context("locating the prefscope binary")?;
    let path = exe.with_file_name("prefscope-torch");
    anyhow::ensure!(
        path.is_file(),
        "{} not found: it is built and installed with prefscope (cargo build --release builds both)",
        path.display()
    );
    Ok(path)
}

/// Runs `prefscope-torch <command> [--json] ARGS` in place of this process.
pub fn forward(command: &str, args: &Forward, json: bool) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new(torch_binary()?);
    cmd.args(command.split(' '));
    if json {
        cmd.arg("--json");
    }
    cmd.args(&args.args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(anyhow::Error::new(err).context("starting prefscope-torch"))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().context("starting prefscope-torch")?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
