//! Link-time set-up for binaries and tests that use libtorch (through tch).
//!
//! 1. rpath to `$LIBTORCH/lib` (set by `.cargo/config.toml` to the project venv's torch), so
//!    test binaries and `prefscope` run without LD_LIBRARY_PATH; then `$ORIGIN`-relative paths
//!    to `.venv/libtorch/lib`, so a copied checkout (with its venv) runs too.
//! 2. `-Wl,--no-as-needed -ltorch_cuda` when libtorch_cuda.so exists: nothing references it
//!    by symbol, so the default --as-needed would drop it and CUDA would never be available.
//!    The binary still runs on CPU-only hosts (the library loads; no GPU is found).
//!
//! This file is also the build script of `prefscope-train` (its Cargo.toml points here), whose
//! tests link libtorch too. `crates/prefscope/build.rs` does the same for the `prefscope-torch`
//! binary only. (No `rerun-if-changed=build.rs`: the path would be wrong for prefscope-train, and
//! cargo rebuilds a build script whose source changed anyway.)

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
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
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Relative fallbacks, for a checkout copied elsewhere with its .venv: target/<profile>/bin
    // and target/<profile>/deps/test-binary.
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../../.venv/libtorch/lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../../../.venv/libtorch/lib");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
