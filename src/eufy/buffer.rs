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
    // At most one value per two characters ("0,"), plus the gap between the halves of a
    // split decode: size the output once, trim at the end.
    let base = out.len();
    out.resize(base + text.len() / 2 + STREAMS + 4, 0);
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
    if let Some(end) = slow_step(text, &mut i, out, &mut n)? {
        return Ok((end, n));
    }
    // Long arrays: split at commas that a digit follows, evenly spaced.
    if text.len() - i >= 1024 {
        let mut splits = [0usize; STREAMS - 1];
        let mut ok = true;
        let mut from = i;
        for (k, split) in splits.iter_mut().enumerate() {
            let target = (i + (text.len() - i) * (k + 1) / STREAMS).max(from);
            match memchr::memchr(b',', &text[target..]).map(|c| target + c) {
                Some(c) if text.get(c + 1).is_some_and(u8::is_ascii_digit) => {
                    *split = c;
                    from = c + 1;
                }
                _ => ok = false,
            }
        }
        if ok {
            return decode_parts(text, i, splits, out, n);
        }
    }
    loop {
        fast_pairs(text, text.len(), &mut i, out, &mut n);
        if let Some(end) = slow_step(text, &mut i, out, &mut n)? {
            return Ok((end, n));
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Per byte of `x` (the text XOR `'0'`): 0x80 where the byte is not a digit.
#[inline(always)]
fn non_digits(x: u64) -> u64 {
    let low = x & (0x7f * ONES);
    ((low + 0x76 * ONES) | x) & (0x80 * ONES)
}

/// The value of the `len` (1..=3) digit bytes at the bottom of `x`.
#[inline(always)]
fn value(x: u64, len: u32) -> u32 {
    let digits = (x & ((1u64 << (8 * len)) - 1)) << (8 * (3 - len));
    ((digits & 0xff) * 100 + ((digits >> 8) & 0xff) * 10 + ((digits >> 16) & 0xff)) as u32
}

/// One number and a comma at the bottom of `raw` (text) / `x` (text XOR `'0'`) / `nd`
/// ([`non_digits`] of `x`): its value and length, if it is a well-formed byte value (1-3
/// digits, no leading zero, at most 255) followed by `,`.
#[inline(always)]
fn number_then_comma(raw: u64, x: u64, nd: u64) -> Option<(u8, u32)> {
    let len = nd.trailing_zeros() / 8;
    if !(1..=3).contains(&len) || (raw >> (8 * len)) & 0xff != u64::from(b',') {
        return None;
    }
    if len > 1 && x & 0xff == 0 {
        return None;
    }
    u8::try_from(value(x, len)).ok().map(|v| (v, len))
}

/// The common case, with no branch on a number's length: `d{1,3},d{1,3},` read eight bytes
/// at a time, two values per load (the longest pair, `255,255,`, is exactly eight bytes).
/// Returns false, leaving `i` at a number, at anything else (after taking one value, or
/// none); the exact checks and errors are [`slow_step`]'s. Reads `text[i..i + 8]`, which
/// must exist.
#[inline(always)]
fn pair_step(word: [u8; 8], i: &mut usize, pair: &mut [u8], n: &mut usize) -> bool {
    let raw = u64::from_le_bytes(word);
    let x = raw ^ (u64::from(b'0') * ONES);
    let nd = non_digits(x);
    let Some((v1, len1)) = number_then_comma(raw, x, nd) else {
        return false;
    };
    let shift = 8 * (len1 + 1);
    let second = number_then_comma(raw >> shift, x >> shift, nd >> shift);
    if let [a, b] = pair {
        *a = v1;
        if let Some((v2, len2)) = second {
            *b = v2;
            *n += 2;
            *i += (len1 + len2) as usize + 2;
            return true;
        }
    }
    *n += 1;
    *i += len1 as usize + 1;
    false
}

fn word_at(text: &[u8], i: usize, limit: usize) -> Option<[u8; 8]> {
    if i + 8 > limit {
        return None;
    }
    text.get(i..i + 8)?.try_into().ok()
}

/// [`pair_step`] while it works and the eight bytes stay below `limit`.
#[inline(always)]
fn fast_pairs(text: &[u8], limit: usize, i: &mut usize, out: &mut [u8], n: &mut usize) {
    while let (Some(word), Some(pair)) = (word_at(text, *i, limit), out.get_mut(*n..*n + 2)) {
        if !pair_step(word, i, pair, n) {
            return;
        }
    }
}

/// Streams a long array is split into.
const STREAMS: usize = 2;

/// A long array decoded as [`STREAMS`] parts in one loop: each value's parse waits on the
/// previous one's length, so independent parts keep the CPU busy. Part k starts after the
/// comma `splits[k - 1]` and writes its values at a gap in `out` that is closed at the end.
fn decode_parts(
    text: &[u8],
    i: usize,
    splits: [usize; STREAMS - 1],
    out: &mut [u8],
    n: usize,
) -> Result<(usize, usize), BufferError> {
    let mut pos = [0usize; STREAMS];
    let mut limit = [text.len(); STREAMS];
    let mut first = [0usize; STREAMS];
    pos[0] = i;
    for k in 1..STREAMS {
        pos[k] = splits[k - 1] + 1;
        limit[k - 1] = pos[k];
    }
    for k in 0..STREAMS {
        // At most one value per two bytes before this part, plus one per part.
        first[k] = n + (pos[k] - i) / 2 + k + 1;
    }
    first[0] = n;
    let mut count = first;
    'interleaved: loop {
        for k in 0..STREAMS {
            let (Some(word), Some(pair)) = (
                word_at(text, pos[k], limit[k]),
                out.get_mut(count[k]..count[k] + 2),
            ) else {
                break 'interleaved;
            };
            if !pair_step(word, &mut pos[k], pair, &mut count[k]) {
                break 'interleaved;
            }
        }
    }
    let mut total = n;
    for k in 0..STREAMS {
        let (mut p, mut c) = (pos[k], count[k]);
        if k + 1 < STREAMS {
            // Up to and including the comma that ends this part.
            while p < limit[k] {
                fast_pairs(text, limit[k], &mut p, out, &mut c);
                if p < limit[k] && slow_step(text, &mut p, out, &mut c)?.is_some() {
                    return Err(BufferError::NotAnInteger(p));
                }
            }
        }
        let end = if k + 1 == STREAMS {
            Some(loop {
                fast_pairs(text, text.len(), &mut p, out, &mut c);
                if let Some(end) = slow_step(text, &mut p, out, &mut c)? {
                    break end;
                }
            })
        } else {
            None
        };
        out.copy_within(first[k]..c, total);
        total += c - first[k];
        if let Some(end) = end {
            return Ok((end, total));
        }
    }
    Err(BufferError::Unterminated)
}

/// One value with every check; `Some(end)` after the closing `]`.
fn slow_step(
    text: &[u8],
    i: &mut usize,
    out: &mut [u8],
    n: &mut usize,
) -> Result<Option<usize>, BufferError> {
    // Whitespace may stand before a number (the fast path stops at it).
    while text.get(*i).is_some_and(|&b| is_ws(b)) {
        *i += 1;
    }
    // One number: "0" or 1-3 digits without a leading zero.
    let start = *i;
    let Some(d0) = digit(text.get(*i)) else {
        return Err(match text.get(*i) {
            None => BufferError::Unterminated,
            Some(_) => BufferError::NotAnInteger(*i),
        });
    };
    *i += 1;
    let mut v = d0;
    if d0 != 0 {
        if let Some(d1) = digit(text.get(*i)) {
            v = v * 10 + d1;
            *i += 1;
            if let Some(d2) = digit(text.get(*i)) {
                v = v * 10 + d2;
                *i += 1;
                if digit(text.get(*i)).is_some() {
                    return Err(BufferError::OutOfRange(start));
                }
            }
        }
    }
    if v > 255 {
        return Err(BufferError::OutOfRange(start));
    }
    // `out` has room for every value the text can hold.
    let Some(slot) = out.get_mut(*n) else {
        return Err(BufferError::NotAnInteger(start));
    };
    *slot = v as u8;
    *n += 1;
    // Separator.
    loop {
        match text.get(*i) {
            Some(b',') => {
                *i += 1;
                while text.get(*i).is_some_and(|&b| is_ws(b)) {
                    *i += 1;
                }
                return Ok(None);
            }
            Some(b']') => return Ok(Some(*i + 1)),
            Some(&b) if is_ws(b) => *i += 1,
            Some(_) => return Err(BufferError::NotAnInteger(*i)),
            None => return Err(BufferError::Unterminated),
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
    fn fast_and_slow_paths_agree_on_every_shape() {
        // Every value in every position of the 8-byte window, with neighbours of each width.
        for v in 0..=255u8 {
            for pad in 0..8 {
                let mut bytes = vec![7u8; pad];
                bytes.extend([v, 100, v, 5, 42, v, 255, 0, v]);
                let text = serde_json::to_string(&bytes).unwrap();
                assert_eq!(dec(&text).unwrap().1, bytes, "{text}");
            }
        }
        // Errors inside the fast window are still found, at the right place.
        assert_eq!(
            dec("[1,2,3,4,256,5,6,7,8]"),
            Err(BufferError::OutOfRange(9))
        );
        assert_eq!(
            dec("[1,2,3,4,05,5,6,7,8]"),
            Err(BufferError::NotAnInteger(10))
        );
        assert_eq!(
            dec("[1,2,3,4,5x,5,6,7,8]"),
            Err(BufferError::NotAnInteger(10))
        );
        assert_eq!(
            dec("[11,22,1000,4,5,6,7,8]"),
            Err(BufferError::OutOfRange(7))
        );
    }

    #[test]
    fn long_arrays_split_in_parts() {
        for len in [300, 301, 1000, 4097, 100_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = serde_json::to_string(&bytes).unwrap();
            assert_eq!(dec(&text).unwrap().1, bytes, "{len}");
            // An error in either half is still an error.
            for at in [
                1,
                text.len() / 4,
                text.len() / 2,
                text.len() * 3 / 4,
                text.len() - 8,
            ] {
                let mut bad = text.clone().into_bytes();
                let pos = at + bad[at..].iter().position(u8::is_ascii_digit).unwrap();
                bad[pos] = b'x';
                let bad = String::from_utf8(bad).unwrap();
                assert!(dec(&bad).is_err(), "{len} {at}");
            }
        }
    }

    #[test]
    fn whitespace_after_a_comma_that_the_fast_path_stops_at() {
        // Found by the fuzz target: the fast path takes "44," and stops at the newline.
        assert_eq!(dec("[40,\n \n44,\n1]").unwrap().1, vec![40, 44, 1]);
        assert_eq!(
            dec("[1,2,3,4,5,6,\t7, 8 ,9]").unwrap().1,
            (1..=9).collect::<Vec<u8>>()
        );
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
