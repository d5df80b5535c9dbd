//! Converts a model prefscope can load (HF directory, HF cache id, GGUF) into an HF directory
//! that transformers loads: `cargo run -p prefscope-model --example to_hf_dir -- MODEL OUT_DIR`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, out] = args.as_slice() else {
        return Err("usage: to_hf_dir MODEL OUT_DIR".into());
    };
    let loaded = prefscope_model::load(model, &prefscope_model::LoadOptions::default())?;
    loaded.save_pretrained(std::path::Path::new(out))?;
    println!(
        "{} -> {out} (weights digest {})",
        loaded.source.display(),
        loaded.weights_digest()?
    );
    Ok(())
}
