//! Measures decoder speed on one hfs instance: `cargo run --release -p schedule --example decode_speed FILE`.
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: decode_speed FILE");
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let inst = match schedule::parse::parse_hfs("x", &text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    for (name, r) in schedule::solve::decoder_speed(&inst, 2000) {
        let t = Instant::now();
        let _ = t;
        println!("{name}: {r:.2} us/decode");
    }
}
