//! Build script of `prefscope-worker`: the libtorch link set-up for its tests
//! (shared with `prefscope-model`, see `../prefscope-model/build/libtorch_link.rs`).

include!("../prefscope-model/build/libtorch_link.rs");

fn main() {
    link_libtorch(&["rustc-link-arg"], &["rustc-link-arg"]);
}
