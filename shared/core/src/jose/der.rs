//! ECDSA signature encodings: KMS (and most crypto libraries) emit ASN.1 DER
//! `SEQUENCE { INTEGER r, INTEGER s }`; JWS (RFC 7518 §3.4) wants the fixed-width big-endian `r || s`.

use thiserror::Error;

/// A signature that is not in the expected encoding.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureFormatError {
    /// The DER structure is malformed.
    #[error("malformed DER signature: {0}")]
    Der(&'static str),
    /// An integer does not fit in the curve's field size.
    #[error("signature integer longer than {0} bytes")]
    IntegerTooLong(usize),
    /// The raw form has the wrong length.
    #[error("raw signature must be {expected} bytes, got {got}")]
    RawLength {
        /// Expected length (twice the field size).
        expected: usize,
        /// Length received.
        got: usize,
    },
}

fn read_len(input: &[u8]) -> Result<(usize, &[u8]), SignatureFormatError> {
    match input.split_first() {
        None => Err(SignatureFormatError::Der("truncated length")),
        Some((&b, rest)) if b < 0x80 => Ok((usize::from(b), rest)),
        Some((&0x81, rest)) => match rest.split_first() {
            Some((&b, rest)) if b >= 0x80 => Ok((usize::from(b), rest)),
            Some(_) => Err(SignatureFormatError::Der("non-minimal length")),
            None => Err(SignatureFormatError::Der("truncated length")),
        },
        Some(_) => Err(SignatureFormatError::Der("unsupported length form")),
    }
}

fn read_integer(input: &[u8], width: usize) -> Result<(Vec<u8>, &[u8]), SignatureFormatError> {
    let Some((&0x02, rest)) = input.split_first() else {
        return Err(SignatureFormatError::Der("expected INTEGER"));
    };
    let (len, rest) = read_len(rest)?;
    if len == 0 || rest.len() < len {
        return Err(SignatureFormatError::Der("bad INTEGER length"));
    }
    let (mut value, rest) = rest.split_at(len);
    if value[0] & 0x80 != 0 {
        return Err(SignatureFormatError::Der("negative INTEGER"));
    }
    if value.len() > 1 && value[0] == 0 {
        if value[1] & 0x80 == 0 {
            return Err(SignatureFormatError::Der("non-minimal INTEGER"));
        }
        value = &value[1..];
    }
    if value.len() > width {
        return Err(SignatureFormatError::IntegerTooLong(width));
    }
    let mut out = vec![0u8; width];
    out[width - value.len()..].copy_from_slice(value);
    Ok((out, rest))
}

/// Converts a DER ECDSA signature to the JOSE `r || s` form, each integer left-padded to `width` bytes
/// (32 for P-256).
pub fn der_to_raw(der: &[u8], width: usize) -> Result<Vec<u8>, SignatureFormatError> {
    let Some((&0x30, rest)) = der.split_first() else {
        return Err(SignatureFormatError::Der("expected SEQUENCE"));
    };
    let (len, body) = read_len(rest)?;
    if body.len() != len {
        return Err(SignatureFormatError::Der("SEQUENCE length does not match"));
    }
    let (r, rest) = read_integer(body, width)?;
    let (s, rest) = read_integer(rest, width)?;
    if !rest.is_empty() {
        return Err(SignatureFormatError::Der("trailing bytes"));
    }
    let mut out = r;
    out.extend_from_slice(&s);
    Ok(out)
}

fn push_integer(out: &mut Vec<u8>, mut v: &[u8]) {
    while v.len() > 1 && v[0] == 0 {
        v = &v[1..];
    }
    let pad = v[0] & 0x80 != 0;
    out.push(0x02);
    out.push(u8::try_from(v.len() + usize::from(pad)).unwrap_or(u8::MAX));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// Converts a JOSE `r || s` signature of `2 * width` bytes to DER.
pub fn raw_to_der(raw: &[u8], width: usize) -> Result<Vec<u8>, SignatureFormatError> {
    if raw.len() != 2 * width || width == 0 || width > 66 {
        return Err(SignatureFormatError::RawLength { expected: 2 * width, got: raw.len() });
    }
    let (r, s) = raw.split_at(width);
    let mut body = Vec::with_capacity(2 * width + 6);
    push_integer(&mut body, r);
    push_integer(&mut body, s);
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(u8::try_from(body.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: &[u8]) -> Vec<u8> {
        let mut o = vec![0x02, u8::try_from(v.len()).expect("len")];
        o.extend_from_slice(v);
        o
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = parts.concat();
        let mut o = vec![0x30, u8::try_from(body.len()).expect("len")];
        o.extend(body);
        o
    }

    #[test]
    fn high_bit_integers_carry_a_leading_zero_that_is_stripped() {
        let r = [0x80u8; 32];
        let s = [0x01u8; 32];
        let mut r_der = vec![0];
        r_der.extend_from_slice(&r);
        let der = seq(&[int(&r_der), int(&s)]);
        let raw = der_to_raw(&der, 32).expect("valid");
        assert_eq!(&raw[..32], &r);
        assert_eq!(&raw[32..], &s);
        assert_eq!(raw_to_der(&raw, 32).expect("raw"), der, "round trip");
    }

    #[test]
    fn short_integers_are_left_padded() {
        let der = seq(&[int(&[0x05]), int(&[0x01, 0x02])]);
        let raw = der_to_raw(&der, 32).expect("valid");
        assert_eq!(raw.len(), 64);
        assert!(raw[..31].iter().all(|&b| b == 0));
        assert_eq!(raw[31], 5);
        assert_eq!(&raw[62..], &[1, 2]);
        assert_eq!(raw_to_der(&raw, 32).expect("raw"), der, "minimal encoding restored");
    }

    #[test]
    fn zero_integers_round_trip_as_a_single_zero_byte() {
        let raw = [0u8; 64];
        let der = raw_to_der(&raw, 32).expect("raw");
        assert_eq!(der, seq(&[int(&[0]), int(&[0])]));
        assert_eq!(der_to_raw(&der, 32).expect("der"), raw);
    }

    #[test]
    fn malformed_der_is_refused() {
        let good = seq(&[int(&[1]), int(&[2])]);
        assert!(der_to_raw(&good, 32).is_ok());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(der_to_raw(&trailing, 32).is_err(), "trailing byte after the sequence");
        assert!(der_to_raw(&good[..good.len() - 1], 32).is_err(), "truncated");
        assert!(der_to_raw(&[], 32).is_err(), "empty");
        assert!(der_to_raw(&seq(&[int(&[1])]), 32).is_err(), "missing s");
        assert!(der_to_raw(&seq(&[int(&[1]), int(&[2]), int(&[3])]), 32).is_err(), "extra integer");
        assert!(der_to_raw(&seq(&[int(&[0x80]), int(&[2])]), 32).is_err(), "negative r");
        assert!(der_to_raw(&seq(&[int(&[0, 1]), int(&[2])]), 32).is_err(), "non-minimal r");
        assert!(der_to_raw(&seq(&[int(&[]), int(&[2])]), 32).is_err(), "empty integer");
        assert_eq!(
            der_to_raw(&seq(&[int(&[1; 33]), int(&[2])]), 32),
            Err(SignatureFormatError::IntegerTooLong(32)),
            "r wider than the field"
        );
        assert!(der_to_raw(&[0x31, 0x00], 32).is_err(), "SET, not SEQUENCE");
    }

    #[test]
    fn raw_of_the_wrong_length_is_refused() {
        assert_eq!(raw_to_der(&[0; 63], 32), Err(SignatureFormatError::RawLength { expected: 64, got: 63 }));
        assert!(raw_to_der(&[0; 65], 32).is_err());
        assert!(raw_to_der(&[], 32).is_err());
    }

    #[test]
    fn long_form_length_is_read_for_wide_curves() {
        // A P-521-sized signature needs the 0x81 length form.
        let raw = [0x7fu8; 132];
        let der = raw_to_der(&raw, 66).expect("raw");
        assert_eq!(der[1], 0x81);
        assert_eq!(der_to_raw(&der, 66).expect("der"), raw);
    }
}
