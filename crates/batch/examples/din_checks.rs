//! Prints DINs with their ISO 7064 mod 37-2 check characters, one per line
//! (`DIN CHECK`), for cross-checking against an independent implementation
//! (scripts/ci.d/60-batch-din.sh compares them with python-stdnum).
//!
//! Usage: `cargo run -p batch --example din_checks [COUNT]` (default 2000).

use batch::Din;

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    // A fixed linear congruential sequence: every facility letter, years and sequences
    // spread over their ranges, the same lines on every run.
    let letters: Vec<char> = ('A'..='Z').filter(|c| *c != 'O').collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..count {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let letter = letters[(i as usize) % letters.len()];
        let fin = (x >> 20) % 10_000;
        let year = (x >> 36) % 100;
        let seq = (x >> 43) % 1_000_000;
        let text = format!("{letter}{fin:04}{year:02}{seq:06}");
        match Din::parse(&text) {
            Ok(d) => println!("{d} {}", d.check()),
            Err(e) => {
                eprintln!("{text}: {e}");
                std::process::exit(1);
            }
        }
    }
}
