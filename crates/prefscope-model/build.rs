//! Build script of `prefscope-model`: the libtorch link set-up for its tests and examples
//! (`build/libtorch_link.rs`, shared) and the C++ autocast shim (`csrc/autocast.cpp`), compiled
//! against the headers of the same libtorch.

include!("build/libtorch_link.rs");

fn main() {
    link_libtorch(&["rustc-link-arg"], &["rustc-link-arg"]);
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    let Some(root) = libtorch_root() else {
        panic!("LIBTORCH is not set (or has no lib/): run tools/setup-venv.sh from the checkout");
    };
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    cc::Build::new()
        .cpp(true)
        .file("csrc/autocast.cpp")
        .include(root.join("include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        // libtorch's headers are not warning-clean; our 60 lines are checked by review.
        .warnings(false)
        .flag_if_supported("-w")
        .compile("prefscope_autocast");
}
