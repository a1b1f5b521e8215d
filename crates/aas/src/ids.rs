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

#[cfg(test)]
mod tests {
    use super::*;

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
