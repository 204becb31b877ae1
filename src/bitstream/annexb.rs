//! Annex-B byte-stream scanning: a push parser that turns arbitrary chunks of bytes into
//! whole NAL units, whatever the chunk boundaries.
//!
//! Start codes are `00 00 01` (3 bytes) or `00 00 00 01` (4 bytes); extra zero bytes before a
//! start code are `trailing_zero_8bits` and are dropped. Bytes before the first start code
//! are garbage and counted. Emulation-prevention bytes are left in place for the decoder.
//! A NAL unit that grows past the scanner's size limit ([`NalSplitter::new`]) is dropped and the scanner
//! resynchronises at the next start code, so memory stays bounded.

/// One NAL unit as it appeared in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nal<T> {
    /// Length of the start code that introduced it: 3 or 4.
    pub start_code_len: u8,
    /// The NAL unit: header and payload, without start code or trailing zeros.
    pub data: Vec<u8>,
    /// The tag (usually an arrival instant) of the chunk that held its last byte.
    pub at: T,
}

impl<T> Nal<T> {
    /// Appends the NAL unit with its original start code to `out`.
    pub fn write_annexb(&self, out: &mut Vec<u8>) {
        if self.start_code_len == 4 {
            out.push(0);
        }
        out.extend_from_slice(&[0, 0, 1]);
        out.extend_from_slice(&self.data);
    }
}

/// The last NAL unit of an Annex-B buffer (without start code or trailing zeros): in an
/// access unit, its last slice. Relays (RTP payloading, a restreaming server, a demuxer)
/// carry a slice's bytes unchanged while they rewrite what is around it, so this names
/// the same picture on both sides of one (the publishing benchmark pairs them with it).
pub(crate) fn last_nal(data: &[u8]) -> &[u8] {
    let start = data
        .windows(3)
        .rposition(|w| w == [0, 0, 1])
        .map_or(0, |i| i + 3);
    let tail = &data[start..];
    let end = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &tail[..end]
}

/// A 64-bit FNV-1a hash of `data`: a cheap name for a NAL unit (not for security).
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Counters of what the scanner dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SplitterStats {
    /// Non-zero bytes seen outside any NAL unit (before the first start code).
    pub garbage_bytes: u64,
    /// NAL units dropped because they exceeded the size limit.
    pub oversized_nals: u64,
    /// Start codes immediately followed by another start code.
    pub empty_nals: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a start code: nothing seen yet, or skipping an oversized unit.
    Searching { skipping: bool },
    /// Inside a NAL unit that began with a start code of this length.
    InNal { start_code_len: u8 },
}

/// Push parser from Annex-B bytes to NAL units. Output never depends on how the input was cut.
#[derive(Debug)]
pub struct NalSplitter<T> {
    state: State,
    cur: Vec<u8>,
    cur_at: Option<T>,
    /// Consecutive zero bytes at the end of everything pushed so far (saturating at 4).
    tail_zeros: usize,
    max_nal_size: usize,
    stats: SplitterStats,
}

/// Default limit for one NAL unit: larger than any keyframe a 4K camera sends.
pub(crate) const DEFAULT_MAX_NAL_SIZE: usize = 16 << 20;

impl<T: Copy> Default for NalSplitter<T> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_NAL_SIZE)
    }
}

impl<T: Copy> NalSplitter<T> {
    /// A scanner that drops NAL units longer than `max_nal_size` bytes.
    pub fn new(max_nal_size: usize) -> Self {
        Self {
            state: State::Searching { skipping: false },
            cur: Vec::new(),
            cur_at: None,
            tail_zeros: 0,
            max_nal_size,
            stats: SplitterStats::default(),
        }
    }

    /// What was dropped so far.
    pub fn stats(&self) -> SplitterStats {
        self.stats
    }

    /// Feeds a chunk tagged `at`; calls `emit` for every NAL unit completed by it.
    pub fn push(&mut self, chunk: &[u8], at: T, mut emit: impl FnMut(Nal<T>)) {
        let mut seg_start = 0;
        for i in memchr::memchr_iter(1, chunk) {
            // Zero bytes immediately before this 0x01, possibly reaching into earlier chunks.
            // `seg_start` is 0 or just past an earlier 0x01, so the run cannot reach
            // further back within this chunk.
            let in_chunk = chunk[seg_start..i]
                .iter()
                .rev()
                .take_while(|&&b| b == 0)
                .count();
            let zeros = if seg_start == 0 && in_chunk == i {
                in_chunk + self.tail_zeros
            } else {
                in_chunk
            };
            if zeros < 2 {
                continue;
            }
            self.take(&chunk[seg_start..i], at);
            self.end_unit(&mut emit);
            self.state = State::InNal {
                start_code_len: if zeros >= 3 { 4 } else { 3 },
            };
            seg_start = i + 1;
        }
        self.take(&chunk[seg_start..], at);
        let trailing = chunk.iter().rev().take_while(|&&b| b == 0).count();
        self.tail_zeros = if trailing == chunk.len() {
            (self.tail_zeros + trailing).min(4)
        } else {
            trailing.min(4)
        };
        // A start code split across chunks counts its zeros from `tail_zeros`; the 0x01 in
        // the next chunk then sees `seg_start == 0`.
    }

    /// Ends the stream: emits the NAL unit in progress, if any.
    pub fn finish(&mut self, mut emit: impl FnMut(Nal<T>)) {
        self.end_unit(&mut emit);
        self.state = State::Searching { skipping: false };
        self.tail_zeros = 0;
    }

    /// Declares that a NAL unit ends here although no start code followed (the producer
    /// framed its messages at access units): emits the unit in progress. Bytes that follow
    /// without a start code are then garbage.
    pub fn end_message(&mut self, mut emit: impl FnMut(Nal<T>)) {
        self.end_unit(&mut emit);
        self.state = State::Searching { skipping: false };
        self.tail_zeros = 0;
    }

    /// Appends bytes to the unit in progress (or discards them while searching).
    fn take(&mut self, bytes: &[u8], at: T) {
        if bytes.is_empty() {
            return;
        }
        match self.state {
            State::Searching { skipping } => {
                if !skipping {
                    self.stats.garbage_bytes += bytes.iter().filter(|&&b| b != 0).count() as u64;
                }
            }
            State::InNal { .. } => {
                if bytes.iter().any(|&b| b != 0) {
                    self.cur_at = Some(at);
                }
                if self.cur.len() + bytes.len() > self.max_nal_size + 4 {
                    self.stats.oversized_nals += 1;
                    self.cur.clear();
                    self.cur_at = None;
                    self.state = State::Searching { skipping: true };
                } else {
                    self.cur.extend_from_slice(bytes);
                }
            }
        }
    }

    /// Closes the unit in progress at a start code or at the end of the stream.
    fn end_unit(&mut self, emit: &mut impl FnMut(Nal<T>)) {
        let State::InNal { start_code_len } = self.state else {
            return;
        };
        let end = self.cur.len() - self.cur.iter().rev().take_while(|&&b| b == 0).count();
        self.cur.truncate(end);
        let at = self.cur_at.take();
        if self.cur.len() > self.max_nal_size {
            self.stats.oversized_nals += 1;
            self.cur.clear();
        } else if let (false, Some(at)) = (self.cur.is_empty(), at) {
            let data = std::mem::take(&mut self.cur);
            emit(Nal {
                start_code_len,
                data,
                at,
            });
        } else {
            self.stats.empty_nals += 1;
            self.cur.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_nal_is_found_whatever_the_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 8, 7, 0, 0,
        ];
        assert_eq!(last_nal(&au), &[0x65, 9, 8, 7]);
        // The same slice after other NAL units and a 4-byte start code: the same name.
        let relayed = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 9, 8, 7];
        assert_eq!(fnv1a(last_nal(&au)), fnv1a(last_nal(&relayed)));
        assert_ne!(fnv1a(last_nal(&au)), fnv1a(&[0x65, 9, 8, 6]));
        assert_eq!(last_nal(&[]), &[] as &[u8]);
        assert_eq!(last_nal(&[0, 0, 1]), &[] as &[u8]);
    }

    use super::*;

    fn split_all(chunks: &[&[u8]]) -> (Vec<(u8, Vec<u8>)>, SplitterStats) {
        let mut s = NalSplitter::<()>::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, (), |n| out.push((n.start_code_len, n.data)));
        }
        s.finish(|n| out.push((n.start_code_len, n.data)));
        (out, s.stats())
    }

    #[test]
    fn three_and_four_byte_start_codes() {
        let input = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 9,
        ];
        let (nals, stats) = split_all(&[&input]);
        assert_eq!(
            nals,
            vec![
                (4, vec![0x67, 1, 2]),
                (3, vec![0x68, 3]),
                (4, vec![0x65, 9])
            ]
        );
        assert_eq!(stats, SplitterStats::default());
    }

    #[test]
    fn start_code_cut_anywhere() {
        let input = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3];
        let (whole, _) = split_all(&[&input]);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(split_all(&[a, b]).0, whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(split_all(&bytes).0, whole);
    }

    #[test]
    fn garbage_before_first_start_code_is_counted() {
        let (nals, stats) = split_all(&[&[5, 6, 0, 7, 0, 0, 1, 0x09, 0xf0]]);
        assert_eq!(nals, vec![(3, vec![0x09, 0xf0])]);
        assert_eq!(stats.garbage_bytes, 3);
    }

    #[test]
    fn oversized_unit_is_dropped_and_parser_resyncs() {
        let mut s = NalSplitter::<()>::new(8);
        let mut out = Vec::new();
        let mut input = vec![0, 0, 1, 0x65];
        input.extend(std::iter::repeat_n(7u8, 100));
        input.extend([0, 0, 1, 0x41, 1]);
        for c in input.chunks(5) {
            s.push(c, (), |n| out.push(n.data));
        }
        s.finish(|n| out.push(n.data));
        assert_eq!(out, vec![vec![0x41, 1]]);
        assert_eq!(s.stats().oversized_nals, 1);
    }

    #[test]
    fn empty_units_are_counted_not_emitted() {
        let (nals, stats) = split_all(&[&[0, 0, 1, 0, 0, 1, 0x09, 0x10]]);
        assert_eq!(nals, vec![(3, vec![0x09, 0x10])]);
        assert_eq!(stats.empty_nals, 1);
    }
}
