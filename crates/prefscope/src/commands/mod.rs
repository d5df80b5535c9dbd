//! One module per subcommand; `run` dispatches.

pub mod bench;
pub mod bench_effects;
pub mod data;
pub mod demo;
pub mod effects;
pub mod fit;
pub mod import;
pub mod pairs;
pub mod predict;
pub mod report;
pub mod simulate;
pub mod splits;
pub mod study;
pub mod torch;
pub mod validate;

use crate::{Cli, Command};

pub fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Simulate(args) => simulate::run(args, cli.json),
        Command::Validate(args) => validate::run(args, cli.json),
        Command::Pairs(args) => pairs::run(args, cli.json),
        Command::Data(cmd) => data::run(cmd, cli.json),
        Command::Splits(args) => splits::run(args, cli.json),
        Command::Import(args) => import::run(args, cli.json),
        Command::Demo(args) => demo::run(args, cli.json),
        Command::Fit(args) => fit::run(args, cli.json),
        Command::W2(args) => predict::run_w2(args, cli.json),
        Command::Ol(args) => predict::run_ol(args, cli.json),
        Command::Train(args) => torch::forward("train", args, cli.json),
        Command::Logprobs(args) => torch::forward("logprobs", args, cli.json),
        Command::Model(args) => torch::forward("model", args, cli.json),
        Command::Effects(args) => effects::run(args, cli.json),
        Command::Bench(cmd) => bench::run(cmd, cli.json),
        Command::Study(cmd) => study::run(cmd, cli.json),
        Command::Report(args) => report::run(args, cli.json),
    }
}
