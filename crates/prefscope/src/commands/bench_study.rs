//! `prefscope bench study [--runs N]`: the time to plan, store and read back the status of a
//! study grid (glue around `prefscope_study::bench`), each beside its target.

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs in the grid.
    #[arg(long, default_value_t = 10_000)]
    pub runs: usize,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = prefscope_study::bench::bench_study(dir.path(), args.runs)?;
    if json {
        return crate::output::print_json(&b);
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
    Ok(())
}
