//! Link-time set-up for `prefscope-torch`, the binary that holds the libtorch commands (train,
//! logprobs, bench train), and for this package's tests. `prefscope` itself does not link
//! libtorch: loading libtorch and CUDA costs about 0.5 s and 450 MB at every start, so it runs
//! `prefscope-torch` for those commands. The arguments come from
//! `../prefscope-model/build/libtorch_link.rs`, shared with the library crates.

include!("../prefscope-model/build/libtorch_link.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    link_libtorch(
        &["rustc-link-arg-bin=prefscope-torch", "rustc-link-arg-tests"],
        &["rustc-link-arg-bin=prefscope-torch"],
    );
}
