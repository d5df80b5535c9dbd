//! Build script of `prefscope-train`: the libtorch link set-up for its tests and examples
//! (shared with `prefscope-model`, see `../prefscope-model/build/libtorch_link.rs`).

include!("../prefscope-model/build/libtorch_link.rs");

fn main() {
    link_libtorch(&["rustc-link-arg"], &["rustc-link-arg"]);
}
