//! ISBT 128 Donation Identification Numbers (data structure 001) and the
//! ISO 7064 mod 37-2 check character.
//!
//! A DIN is 13 characters: the facility identification number (`αpppp`: one
//! letter A–N or P–Z, then four digits), the two-digit year and a six-digit
//! sequence number. Labels print it with two flag characters and a check
//! character computed over the 13 DIN characters with ISO/IEC 7064 mod 37-2
//! (alphabet `0–9 A–Z *`). Only the structure is implemented here; the
//! licensed ICCBBA code tables (facility registry, flag meanings) are not used.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The ISO 7064 mod 37-2 alphabet: value `i` is written as `ALPHABET[i]`.
const ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";

fn value_of(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|i| i as u32)
}

/// The ISO/IEC 7064 mod 37-2 check character of `data` (characters `0–9`, `A–Z`),
/// or `None` if `data` holds any other character.
pub fn mod37_2_check(data: &str) -> Option<char> {
    let mut p: u32 = 0;
    for c in data.bytes() {
        let v = value_of(c).filter(|&v| v < 36)?;
        p = ((p + v) * 2) % 37;
    }
    let check = (38 - p) % 37;
    Some(char::from(ALPHABET[check as usize]))
}

/// Why a DIN was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DinError {
    /// Wrong number of characters.
    #[error(
        "a DIN has 13 characters (facility 5, year 2, sequence 6), optionally followed by a check character; found {0} characters"
    )]
    Length(usize),
    /// Facility identification number malformed.
    #[error(
        "facility identification number `{0}` must be a letter A–N or P–Z followed by four digits"
    )]
    Facility(String),
    /// Year or sequence not numeric.
    #[error("{what} `{text}` must be {len} digits")]
    Digits {
        /// `year` or `sequence number`.
        what: &'static str,
        /// The text found.
        text: String,
        /// Expected number of digits.
        len: usize,
    },
    /// The check character does not match.
    #[error(
        "check character `{found}` is wrong for DIN {din}: ISO 7064 mod 37-2 gives `{expected}`"
    )]
    Check {
        /// The 13-character DIN.
        din: String,
        /// The check character given.
        found: char,
        /// The correct check character.
        expected: char,
    },
    /// A bar code that is not data structure 001.
    #[error(
        "bar code `{0}` is not an ISBT 128 DIN (data structure 001: `=` followed by 13 DIN and 2 flag characters)"
    )]
    BarCode(String),
}

/// A validated ISBT 128 Donation Identification Number (13 characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Din(String);

impl Din {
    /// Parse the eye-readable form: 13 characters, optionally followed by the check
    /// character (which is then verified). Spaces are ignored; letters may be lower case.
    pub fn parse(text: &str) -> Result<Din, DinError> {
        let s: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let n = s.chars().count();
        if n != 13 && n != 14 {
            return Err(DinError::Length(n));
        }
        // Every character is ASCII from here (checked below before slicing).
        if !s.is_ascii() {
            return Err(DinError::Facility(s.chars().take(5).collect()));
        }
        let din = Din::structure(&s[..13])?;
        if n == 14 {
            let found = char::from(s.as_bytes()[13]);
            let expected = din.check();
            if found != expected {
                return Err(DinError::Check {
                    din: din.0,
                    found,
                    expected,
                });
            }
        }
        Ok(din)
    }

    /// Parse the data content of an ISBT 128 DIN bar code (data structure 001,
    /// `=αppppyynnnnnnff`), returning the DIN and the two flag characters.
    pub fn parse_bar_code(code: &str) -> Result<(Din, String), DinError> {
        let bad = || DinError::BarCode(code.chars().take(40).collect());
        let body = code.strip_prefix('=').ok_or_else(bad)?;
        if body.len() != 15 || !body.is_ascii() {
            return Err(bad());
        }
        let din = Din::structure(&body[..13])?;
        let flags = &body[13..];
        if !flags.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        Ok((din, flags.to_string()))
    }

    fn structure(s: &str) -> Result<Din, DinError> {
        let b = s.as_bytes();
        let fin = &s[..5];
        let letter_ok = b[0].is_ascii_uppercase() && b[0] != b'O';
        if !letter_ok || !b[1..5].iter().all(u8::is_ascii_digit) {
            return Err(DinError::Facility(fin.to_string()));
        }
        for (what, range) in [("year", 5..7), ("sequence number", 7..13)] {
            if !b[range.clone()].iter().all(u8::is_ascii_digit) {
                return Err(DinError::Digits {
                    what,
                    text: s[range.clone()].to_string(),
                    len: range.len(),
                });
            }
        }
        Ok(Din(s.to_string()))
    }

    /// The 13 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The facility identification number (first 5 characters).
    pub fn facility(&self) -> &str {
        &self.0[..5]
    }

    /// The two-digit year of collection.
    pub fn year(&self) -> &str {
        &self.0[5..7]
    }

    /// The six-digit sequence number.
    pub fn sequence(&self) -> &str {
        &self.0[7..]
    }

    /// The ISO 7064 mod 37-2 check character.
    pub fn check(&self) -> char {
        // A `Din` holds only digits and upper-case letters, so the check always exists.
        mod37_2_check(&self.0).unwrap_or('?')
    }

    /// The eye-readable label text: `A9999 25 123456 9` (check character last).
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {}",
            self.facility(),
            self.year(),
            self.sequence(),
            self.check()
        )
    }
}

impl fmt::Display for Din {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Din {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Din {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Din::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character_of_the_reference_example() {
        // interop-notes.md: A999925123456 → 9 (cross-checked with python-stdnum in CI).
        assert_eq!(mod37_2_check("A999925123456"), Some('9'));
        let din = Din::parse("A9999 25 123456 9").expect("valid");
        assert_eq!(din.as_str(), "A999925123456");
        assert_eq!(din.label(), "A9999 25 123456 9");
        assert_eq!(
            (din.facility(), din.year(), din.sequence()),
            ("A9999", "25", "123456")
        );
    }

    #[test]
    fn every_single_character_change_is_caught() {
        // Mod 37-2 detects every single substitution: no other character in any position
        // keeps the check character.
        let base = "A999925123456";
        let check = mod37_2_check(base);
        for i in 0..13 {
            for &c in &ALPHABET[..36] {
                if base.as_bytes()[i] == c {
                    continue;
                }
                let mut v = base.as_bytes().to_vec();
                v[i] = c;
                let changed = String::from_utf8(v).expect("ascii");
                assert_ne!(mod37_2_check(&changed), check, "{changed}");
            }
        }
        // ... and every transposition of neighbours that differ.
        for i in 0..12 {
            let mut v = base.as_bytes().to_vec();
            if v[i] == v[i + 1] {
                continue;
            }
            v.swap(i, i + 1);
            let swapped = String::from_utf8(v).expect("ascii");
            assert_ne!(mod37_2_check(&swapped), check, "{swapped}");
        }
    }

    #[test]
    fn malformed_dins_are_refused_with_the_reason() {
        assert_eq!(Din::parse("A99992512345"), Err(DinError::Length(12)));
        assert!(matches!(
            Din::parse("O999925123456"),
            Err(DinError::Facility(_))
        ));
        assert!(matches!(
            Din::parse("AB99925123456"),
            Err(DinError::Facility(_))
        ));
        assert!(matches!(
            Din::parse("A9999X5123456"),
            Err(DinError::Digits { what: "year", .. })
        ));
        assert!(matches!(
            Din::parse("A99992512345Z"),
            Err(DinError::Digits {
                what: "sequence number",
                ..
            })
        ));
        let e = Din::parse("A9999251234568").expect_err("wrong check");
        assert_eq!(
            e.to_string(),
            "check character `8` is wrong for DIN A999925123456: ISO 7064 mod 37-2 gives `9`"
        );
        assert!(Din::parse("Ä999925123456").is_err());
        assert!(Din::parse("").is_err());
        assert_eq!(mod37_2_check("A9*"), None);
    }

    #[test]
    fn bar_code_data_structure_001() {
        let (din, flags) = Din::parse_bar_code("=A99992512345600").expect("bar code");
        assert_eq!(din.as_str(), "A999925123456");
        assert_eq!(flags, "00");
        assert!(Din::parse_bar_code("A99992512345600").is_err());
        assert!(Din::parse_bar_code("=A9999251234560").is_err());
        assert!(Din::parse_bar_code("=A999925123456-0").is_err());
    }

    #[test]
    fn serde_validates() {
        let d: Din = serde_json::from_str("\"a999925123456\"").expect("lower case accepted");
        assert_eq!(
            serde_json::to_string(&d).expect("json"),
            "\"A999925123456\""
        );
        assert!(serde_json::from_str::<Din>("\"A999925123456X\"").is_err());
    }
}
