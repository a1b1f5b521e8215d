//! Identifiers in API paths: UTF-8, base64url-encoded without padding.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const ENCODER: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// Decodes with or without `=` padding (clients differ), but nothing else.
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes an identifier for use in a path.
pub fn encode(id: &str) -> String {
    ENCODER.encode(id.as_bytes())
}

/// Decodes a path segment to an identifier; `None` if it is not base64url of UTF-8.
pub fn decode(segment: &str) -> Option<String> {
    let bytes = DECODER.decode(segment.as_bytes()).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    if s.is_empty() { None } else { Some(s) }
}

/// Why `id` cannot be an identifier, or `None` when it can.
///
/// Identifiers must be XML-serializable strings (AAS Part 1, `xs:string`: no C0
/// control character other than tab, CR and LF, no U+FFFE or U+FFFF) and, as
/// identifiers are compared, logged and shown to people, this server also refuses
/// tab, CR, LF, DEL and the bidirectional embedding, override and isolate
/// controls (U+202A–U+202E, U+2066–U+2069), with which two different
/// identifiers can be shown as the same text.
pub fn identifier_problem(id: &str) -> Option<String> {
    let (i, c) = id.char_indices().find(|&(_, c)| {
        c.is_ascii_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FFFE}' | '\u{FFFF}')
    })?;
    let what = if c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{7f}') {
        "a control character the XML-serializable string rule forbids"
    } else if c.is_ascii_control() {
        "a tab, line break or DEL (not allowed in identifiers)"
    } else if matches!(c, '\u{FFFE}' | '\u{FFFF}') {
        "a non-character the XML-serializable string rule forbids"
    } else {
        "a bidirectional text control (not allowed in identifiers)"
    };
    Some(format!(
        "contains {what}: U+{:04X} at character {}",
        u32::from(c),
        id[..i].chars().count() + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_characters() {
        assert_eq!(identifier_problem("urn:x:aas:1?a=ü\u{4e2d}"), None);
        for bad in [
            "a\0b",
            "a\r\nb",
            "a\tb",
            "\u{7f}",
            "ab\u{202E}c",
            "\u{2066}",
            "x\u{FFFF}",
        ] {
            assert!(identifier_problem(bad).is_some(), "{bad:?} accepted");
        }
        let m = identifier_problem("ab\u{0}").expect("NUL rejected");
        assert!(m.contains("U+0000 at character 3"), "{m}");
        assert!(m.contains("XML-serializable"), "{m}");
    }

    #[test]
    fn round_trip_and_rejects() {
        let id = "urn:atmpflow:aas:equipment:centrifuge_1?x=ü";
        let e = encode(id);
        assert!(!e.contains('=') && !e.contains('+') && !e.contains('/'));
        assert_eq!(decode(&e).as_deref(), Some(id));
        // padded form is accepted too
        assert_eq!(decode("YQ==").as_deref(), Some("a"));
        assert_eq!(decode("YQ").as_deref(), Some("a"));
        // what the AAS test engine sends as an invalid id
        assert_eq!(decode("invalid-base64url====="), None);
        assert_eq!(decode("a+b/"), None);
        assert_eq!(decode(""), None);
        // not UTF-8
        assert_eq!(decode(&ENCODER.encode([0xff, 0xfe])), None);
    }
}
