//! Times forward and forward + backward of a model on random ids:
//! `cargo run -p prefscope-model --example time_forward -- MODEL [BATCH] [LEN] [REPS]`.
//! MODEL is anything `prefscope_model::load` takes, or `preset:NAME` (`preset:qwen2.5-0.5b`,
//! `preset:smollm2-135m`) for random weights of that architecture.
//! Compare with the PyTorch loop in `tools/time_forward.py` on the same machine.

use tch::{Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .ok_or("usage: time_forward MODEL [BATCH] [LEN] [REPS]")?;
    let num = |i: usize, d: i64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (b, t, reps) = (num(1, 1), num(2, 256), num(3, 3));
    let (_vs, lm) = match model.strip_prefix("preset:") {
        Some(name) => {
            let (cfg, _) = prefscope_model::DecoderConfig::preset(name)?;
            tch::manual_seed(0);
            let vs = tch::nn::VarStore::new(tch::Device::Cpu);
            let lm = prefscope_model::CausalLm::random(&vs.root(), &cfg)?;
            (vs, lm)
        }
        None => {
            let loaded = prefscope_model::load(model, &prefscope_model::LoadOptions::default())?;
            (loaded.vs, loaded.model)
        }
    };
    let vocab = lm.config().vocab_size;
    tch::manual_seed(0);
    let ids = Tensor::randint(vocab, [b, t], (Kind::Int64, tch::Device::Cpu));
    let mask = Tensor::ones([b, t], (Kind::Int64, tch::Device::Cpu));
    println!("threads {}", tch::get_num_threads());
    for label in ["forward", "forward+backward"] {
        let mut best = f64::MAX;
        for _ in 0..reps {
            let start = std::time::Instant::now();
            if label == "forward" {
                let _g = tch::no_grad_guard();
                let h = lm.forward_hidden(&ids, Some(&mask))?;
                let _ = h.sum(Kind::Float).double_value(&[]);
            } else {
                let h = lm.forward_hidden(&ids, Some(&mask))?;
                h.sum(Kind::Float).backward();
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "{label}: best of {reps} {best:.3}s = {:.0} tokens/s",
            (b * t) as f64 / best
        );
    }
    Ok(())
}
