//! Malformed input never panics: DIN texts, bar codes and request bodies, mutated at random
//! (seeded ChaCha8, so a failure reproduces), are either accepted or refused with an error.

use batch::{Din, Request};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEEDS: &[&str] = &[
    "A999925123456",
    "A9999 25 123456 9",
    "=A99992512345600",
    r#"{"command":{"action":"record_value","step":"thaw","field":"bath_temperature","value":37,"unit":"°C"},"key":"k1","expected_seq":12}"#,
    r#"{"command":{"action":"start_step","step":"wash","location":"room_c1","scanned":{"coi":"COI-1","din":"A999925123456"}}}"#,
    r#"{"command":{"action":"correct","corrects":7,"reason":"typo","new":{"kind":"lot","lot":"L1","expiry":"2027-01-01"}}}"#,
    r#"{"command":{"action":"dispose","decision":"release_with_deviation","reason":"ok"}}"#,
];

fn mutate(rng: &mut ChaCha8Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.random_range(1..6) {
        let pick = rng.random_range(0..5);
        let at = rng.random_range(0..=chars.len());
        match pick {
            0 if !chars.is_empty() && at < chars.len() => {
                chars.remove(at);
            }
            1 => chars.insert(at, char::from(rng.random_range(0x20u8..0x7f))),
            2 => chars.insert(
                at,
                ['\u{0}', 'Ä', '\u{202e}', '9', '"', '{', '\u{1F600}'][rng.random_range(0..7)],
            ),
            3 if at < chars.len() => chars.truncate(at),
            _ => {
                let dup: String = chars.iter().collect();
                chars.extend(dup.chars().take(rng.random_range(0..40)));
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_dins_and_requests_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(20261203);
    let mut accepted = 0;
    for i in 0..20_000 {
        let text = mutate(&mut rng, SEEDS[i % SEEDS.len()]);
        if let Ok(d) = Din::parse(&text) {
            // Whatever parses is a well-formed DIN whose label parses back to itself.
            assert_eq!(Din::parse(&d.label()).as_ref(), Ok(&d), "{text:?}");
            accepted += 1;
        }
        let _ = Din::parse_bar_code(&text);
        if let Ok(r) = serde_json::from_str::<Request>(&text) {
            // A parsed request serialises and parses back to the same request.
            let back: Request = serde_json::from_str(&serde_json::to_string(&r).expect("json"))
                .expect("round trip");
            assert_eq!(back, r);
        }
    }
    assert!(accepted > 0, "some mutations keep a valid DIN");
}

#[test]
fn huge_inputs_are_refused_quickly() {
    let long = "A".repeat(1 << 20);
    assert!(Din::parse(&long).is_err());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(serde_json::from_str::<Request>(&deep).is_err());
}
