//! Link-time set-up for `prefscope-torch`, the binary that holds the libtorch commands (train,
//! logprobs, bench train). `prefscope` itself does not link libtorch: loading libtorch and CUDA
//! costs about 0.5 s and 450 MB at every start, so it runs `prefscope-torch` for those commands.
//!
//! 1. rpath to `$LIBTORCH/lib` (set by `.cargo/config.toml` to the project venv's torch), so
//!    `prefscope-torch` and the tests run without LD_LIBRARY_PATH; then `$ORIGIN`-relative paths
//!    to `.venv/libtorch/lib`, so a copied checkout (with its venv) runs too.
//! 2. `-Wl,--no-as-needed -ltorch_cuda` when libtorch_cuda.so exists: nothing references it
//!    by symbol, so the default --as-needed would drop it and CUDA would never be available.
//!    The binary still runs on CPU-only hosts (the library loads; no GPU is found).
//!
//! `crates/prefscope-model/build.rs` does the same for that crate's tests and examples.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        return;
    };
    let root = PathBuf::from(libtorch);
    // Resolve the `.venv/libtorch` symlink so the rpath survives its removal.
    let lib = std::fs::canonicalize(root.join("lib")).unwrap_or_else(|_| root.join("lib"));
    if !lib.is_dir() {
        println!(
            "cargo:warning=LIBTORCH={} has no lib/ directory; run tools/setup-venv.sh",
            root.display()
        );
        return;
    }
    // Relative fallbacks, for a checkout copied elsewhere with its .venv: target/<profile>/bin
    // and target/<profile>/deps/test-binary.
    let rpaths = [
        lib.display().to_string(),
        "$ORIGIN/../../.venv/libtorch/lib".into(),
        "$ORIGIN/../../../.venv/libtorch/lib".into(),
    ];
    for rpath in &rpaths {
        println!("cargo:rustc-link-arg-bin=prefscope-torch=-Wl,-rpath,{rpath}");
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{rpath}");
    }
    if lib.join("libtorch_cuda.so").exists() {
        for arg in [
            format!("-L{}", lib.display()),
            "-Wl,--no-as-needed".into(),
            "-ltorch_cuda".into(),
            "-Wl,--as-needed".into(),
        ] {
            println!("cargo:rustc-link-arg-bin=prefscope-torch={arg}");
        }
    }
}
