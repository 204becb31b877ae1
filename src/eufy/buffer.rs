//! The `buffer.data` array of livestream events: a Node `Buffer` serialised by
//! `JSON.stringify` as decimal byte values, `[0,0,0,1,103,...]`.
//!
//! This is the hottest code in the client (about 3.5 bytes of JSON per byte of video, several
//! MB per keyframe), so it is decoded straight into bytes with a hand-written scanner, never
//! through a `serde_json::Value` or a `Vec<u64>`. Anything that is not an array of integers
//! 0..=255 is rejected with the position of the problem.

/// Why a byte array could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    /// The text does not start with `[`.
    #[error("buffer data is not an array (at byte {0})")]
    NotAnArray(usize),
    /// A value above 255.
    #[error("buffer data holds a value over 255 at byte {0}")]
    OutOfRange(usize),
    /// A fraction, exponent, sign, string or other non-integer.
    #[error("buffer data holds a non-integer or unexpected character at byte {0}")]
    NotAnInteger(usize),
    /// The text ended before the closing `]`.
    #[error("buffer data array is not terminated")]
    Unterminated,
}

#[inline]
fn digit(b: Option<&u8>) -> Option<u32> {
    match b {
        Some(&c) if c.is_ascii_digit() => Some(u32::from(c - b'0')),
        _ => None,
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Decodes a JSON array of byte values starting at `text[0] == b'['`, appending the bytes to
/// `out`. Returns how many bytes of `text` the array took, closing `]` included.
pub fn decode_byte_array(text: &[u8], out: &mut Vec<u8>) -> Result<usize, BufferError> {
    if text.first() != Some(&b'[') {
        return Err(BufferError::NotAnArray(0));
    }
    // At most one value per two characters ("0,"): size the output once, trim at the end.
    let base = out.len();
    out.resize(base + text.len() / 2 + 1, 0);
    let result = decode_into(text, &mut out[base..]);
    match result {
        Ok((consumed, n)) => {
            out.truncate(base + n);
            Ok(consumed)
        }
        Err(e) => {
            out.truncate(base);
            Err(e)
        }
    }
}

fn decode_into(text: &[u8], out: &mut [u8]) -> Result<(usize, usize), BufferError> {
    let mut i = 1;
    let mut n = 0;
    while text.get(i).is_some_and(|&b| is_ws(b)) {
        i += 1;
    }
    if text.get(i) == Some(&b']') {
        return Ok((i + 1, 0));
    }
    loop {
        // One number: "0" or 1-3 digits without a leading zero.
        let start = i;
        let Some(d0) = digit(text.get(i)) else {
            return Err(match text.get(i) {
                None => BufferError::Unterminated,
                Some(_) => BufferError::NotAnInteger(i),
            });
        };
        i += 1;
        let mut v = d0;
        if d0 != 0 {
            if let Some(d1) = digit(text.get(i)) {
                v = v * 10 + d1;
                i += 1;
                if let Some(d2) = digit(text.get(i)) {
                    v = v * 10 + d2;
                    i += 1;
                    if digit(text.get(i)).is_some() {
                        return Err(BufferError::OutOfRange(start));
                    }
                }
            }
        }
        if v > 255 {
            return Err(BufferError::OutOfRange(start));
        }
        // `out` has room for every value the text can hold.
        let Some(slot) = out.get_mut(n) else {
            return Err(BufferError::NotAnInteger(start));
        };
        *slot = v as u8;
        n += 1;
        // Separator.
        loop {
            match text.get(i) {
                Some(b',') => {
                    i += 1;
                    while text.get(i).is_some_and(|&b| is_ws(b)) {
                        i += 1;
                    }
                    break;
                }
                Some(b']') => return Ok((i + 1, n)),
                Some(&b) if is_ws(b) => i += 1,
                Some(_) => return Err(BufferError::NotAnInteger(i)),
                None => return Err(BufferError::Unterminated),
            }
        }
    }
}

/// Appends `bytes` to `out` as a JSON array of decimal values, as `JSON.stringify` writes a
/// Node `Buffer`'s data.
pub fn encode_byte_array(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 4 + 2);
    out.push('[');
    let mut first = true;
    for &b in bytes {
        if !first {
            out.push(',');
        }
        first = false;
        if b >= 100 {
            out.push(char::from(b'0' + b / 100));
        }
        if b >= 10 {
            out.push(char::from(b'0' + (b / 10) % 10));
        }
        out.push(char::from(b'0' + b % 10));
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<(usize, Vec<u8>), BufferError> {
        let mut out = Vec::new();
        decode_byte_array(s.as_bytes(), &mut out).map(|n| (n, out))
    }

    #[test]
    fn decodes_values_and_reports_length() {
        assert_eq!(
            dec("[0,0,0,1,103,255]x"),
            Ok((17, vec![0, 0, 0, 1, 103, 255]))
        );
        assert_eq!(dec("[]"), Ok((2, vec![])));
        assert_eq!(dec("[ 1 , 2 ]"), Ok((9, vec![1, 2])));
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(dec("[1,256]"), Err(BufferError::OutOfRange(3)));
        assert_eq!(dec("[1,1000]"), Err(BufferError::OutOfRange(3)));
        assert_eq!(dec("[1.5]"), Err(BufferError::NotAnInteger(2)));
        assert_eq!(dec("[-1]"), Err(BufferError::NotAnInteger(1)));
        assert_eq!(dec("[01]"), Err(BufferError::NotAnInteger(2)));
        assert_eq!(dec("[1e2]"), Err(BufferError::NotAnInteger(2)));
        assert_eq!(dec("[\"a\"]"), Err(BufferError::NotAnInteger(1)));
        assert_eq!(dec("[1,]"), Err(BufferError::NotAnInteger(3)));
        assert_eq!(dec("[1,2"), Err(BufferError::Unterminated));
        assert_eq!(dec("[1,"), Err(BufferError::Unterminated));
        assert_eq!(dec("{}"), Err(BufferError::NotAnArray(0)));
        assert_eq!(dec(""), Err(BufferError::NotAnArray(0)));
    }

    #[test]
    fn output_is_untouched_on_error() {
        let mut out = vec![9];
        assert!(decode_byte_array(b"[1,2,300]", &mut out).is_err());
        assert_eq!(out, vec![9]);
    }

    #[test]
    fn round_trip_every_byte_value() {
        let bytes: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        let mut text = String::new();
        encode_byte_array(&bytes, &mut text);
        assert_eq!(text, serde_json::to_string(&bytes).unwrap());
        assert_eq!(dec(&text).unwrap().1, bytes);
    }
}
