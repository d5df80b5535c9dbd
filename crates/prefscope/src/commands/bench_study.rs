//! `prefscope bench study [--runs N]`: the time to plan, store and read back the status of a
//! study grid (glue around `prefscope_study::bench` and `prefscope_worker::overhead`), each beside its target; with
//! `--overhead`, also the local executor's per-run cost beside a tiny-model run's training.

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs in the grid.
    #[arg(long, default_value_t = 10_000)]
    pub runs: usize,
    /// Also measure the local executor's per-run overhead with real workers on the tiny
    /// model (a minute or so).
    #[arg(long)]
    pub overhead: bool,
    /// Runs per overhead measurement.
    #[arg(long, default_value_t = 4)]
    pub overhead_runs: usize,
    /// Steps of the longer overhead runs (the shorter take 1).
    #[arg(long, default_value_t = 41)]
    pub overhead_steps: u64,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = prefscope_study::bench::bench_study(dir.path(), args.runs)?;
    let o = match args.overhead {
        true => {
            let odir = dir.path().join("overhead");
            std::fs::create_dir_all(&odir)?;
            let exe = std::env::current_exe()?;
            let worker = |spec: &std::path::Path| -> Vec<std::ffi::OsString> {
                vec![exe.clone().into(), "study-worker".into(), spec.into()]
            };
            Some(prefscope_worker::overhead::bench_overhead(
                &odir,
                args.overhead_runs,
                1,
                args.overhead_steps,
                &worker,
            )?)
        }
        false => None,
    };
    if json {
        return crate::output::print_json(&serde_json::json!({"study": b, "overhead": o}));
    }
    println!("study bench: {} runs over {} pairs", b.runs, b.pairs);
    println!("  data load   {:>8.3} s", b.data_load_s);
    println!(
        "  plan        {:>8.3} s   (target {} s: {:.2}x of it)",
        b.plan_s,
        b.plan_target_s,
        b.plan_s / b.plan_target_s
    );
    println!("  store       {:>8.3} s", b.store_s);
    println!(
        "  status      {:>8.3} s   (target {} s: {:.2}x of it)",
        b.status_s,
        b.status_target_s,
        b.status_s / b.status_target_s
    );
    println!(
        "  re-plan     {:>8.3} s   (store already holds every run)",
        b.replan_store_s
    );
    if let Some(o) = o {
        println!(
            "local executor, {} tiny-model runs of {} and {} steps, one worker:",
            o.runs, o.short_steps, o.long_steps
        );
        println!(
            "  run of {:>4} steps {:>8.3} s",
            o.short_steps, o.short_run_s
        );
        println!("  run of {:>4} steps {:>8.3} s", o.long_steps, o.long_run_s);
        println!("  one step          {:>8.4} s", o.step_s);
        println!(
            "  per-run overhead  {:>8.3} s   (start {:.3} s, load + reference {:.3} s, finish {:.3} s)",
            o.overhead_s, o.start_s, o.load_s, o.finish_s
        );
        println!(
            "  overhead / training of a {}-step run: {:.2}x",
            o.long_steps, o.overhead_share
        );
    }
    Ok(())
}
