//! Ordered logit with user-clustered covariance on a numeric csv, without the CLI: the
//! statistics crate alone in a process of its own (the `prefscope` binary also loads libtorch
//! at start-up, which costs more than the fit). Used by `tools/bench_ologit.sh` as a second
//! prefscope column.
//!
//! Usage: cargo run --release -p prefscope-stats --example ologit_csv -- DATA.csv Y CLUSTER X1,X2,...
//! Prints the parameters, standard errors and llf as JSON.

use prefscope_stats::{ordered_logit, Covariance, Design, FitOptions, OrderedOutcome};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: ologit_csv DATA.csv Y CLUSTER X1,X2,...".into());
    }
    let xs: Vec<&str> = args[4].split(',').collect();
    let mut reader = csv::Reader::from_path(&args[1])?;
    let headers: Vec<String> = reader.headers()?.iter().map(String::from).collect();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no column {name}"))
    };
    let (iy, ic) = (col(&args[2])?, col(&args[3])?);
    let ix = xs.iter().map(|x| col(x)).collect::<Result<Vec<_>, _>>()?;
    let (mut y, mut users, mut x) = (Vec::new(), Vec::new(), vec![Vec::new(); xs.len()]);
    for rec in reader.records() {
        let rec = rec?;
        y.push(rec[iy].parse::<f64>()?);
        users.push(rec[ic].to_string());
        for (c, &i) in x.iter_mut().zip(&ix) {
            c.push(rec[i].parse::<f64>()?);
        }
    }
    let design = Design::new(xs.iter().map(|s| s.to_string()).zip(x).collect())?;
    let opts = FitOptions {
        covariance: Covariance::cluster(&users),
        ..Default::default()
    };
    let fit = ordered_logit(&OrderedOutcome::from_values(&y)?, &design, &opts)?;
    let named = |v: &[f64]| {
        fit.names
            .iter()
            .cloned()
            .zip(v.iter().map(|&x| serde_json::json!(x)))
            .collect::<serde_json::Map<_, _>>()
    };
    let out = serde_json::json!({
        "n": fit.n, "n_clusters": fit.n_clusters, "params": named(&fit.params), "bse": named(&fit.bse),
        "llf": fit.llf, "converged": fit.converged(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
