// Link-time set-up shared by the build scripts of every crate whose binaries or tests load
// libtorch (through tch): `prefscope-model`, `prefscope-train` and the `prefscope` package
// (its `prefscope-torch` binary). Each build script `include!`s this file.
//
// 1. rpath to `$LIBTORCH/lib` (set by `.cargo/config.toml` to the project venv's torch), so
//    test binaries and `prefscope-torch` run without LD_LIBRARY_PATH; then `$ORIGIN`-relative
//    paths to `.venv/libtorch/lib`, so a copied checkout (with its venv) runs too.
// 2. `-Wl,--no-as-needed -ltorch_cuda` when libtorch_cuda.so exists: nothing references it by
//    symbol, so the default --as-needed would drop it and CUDA would never be available. The
//    binary still runs on CPU-only hosts (the library loads; no GPU is found).

/// The libtorch root (`$LIBTORCH`), or `None` (with a cargo warning) when it is unset or has no
/// `lib/` directory.
#[allow(dead_code)]
fn libtorch_root() -> Option<std::path::PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let root = std::path::PathBuf::from(std::env::var_os("LIBTORCH")?);
    if !root.join("lib").is_dir() {
        println!(
            "cargo:warning=LIBTORCH={} has no lib/ directory; run tools/setup-venv.sh",
            root.display()
        );
        return None;
    }
    Some(root)
}

/// Prints the rpath arguments with each of `rpath_directives` (such as `rustc-link-arg` or
/// `rustc-link-arg-tests`) and the torch_cuda arguments with each of `cuda_directives`.
#[allow(dead_code)]
fn link_libtorch(rpath_directives: &[&str], cuda_directives: &[&str]) {
    let Some(root) = libtorch_root() else {
        return;
    };
    // Resolve the `.venv/libtorch` symlink so the rpath survives its removal.
    let lib = std::fs::canonicalize(root.join("lib")).unwrap_or_else(|_| root.join("lib"));
    // Relative fallbacks, for a checkout copied elsewhere with its .venv: target/<profile>/bin
    // and target/<profile>/deps/test-binary.
    let rpaths = [
        lib.display().to_string(),
        "$ORIGIN/../../.venv/libtorch/lib".into(),
        "$ORIGIN/../../../.venv/libtorch/lib".into(),
    ];
    for directive in rpath_directives {
        for rpath in &rpaths {
            println!("cargo:{directive}=-Wl,-rpath,{rpath}");
        }
    }
    if lib.join("libtorch_cuda.so").exists() {
        for directive in cuda_directives {
            for arg in [
                format!("-L{}", lib.display()),
                "-Wl,--no-as-needed".into(),
                "-ltorch_cuda".into(),
                "-Wl,--as-needed".into(),
            ] {
                println!("cargo:{directive}={arg}");
            }
        }
    }
}
