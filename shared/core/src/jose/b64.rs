//! Strict base64url without padding (RFC 7515 §2): non-canonical encodings are refused, so a token has
//! exactly one spelling and a tampered one can never pass as the original.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const STRICT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes bytes as unpadded base64url.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

/// Decodes unpadded, canonical base64url.
pub fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STRICT.decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_padding_and_trailing_bits() {
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("-_8").expect("decode"), b"\xfb\xff");
        assert!(decode("-_8=").is_err(), "padding");
        assert!(decode("-_9").is_err(), "non-zero trailing bits");
        assert!(decode("+/8").is_err(), "standard alphabet");
        assert!(decode("a").is_err(), "impossible length");
    }
}
