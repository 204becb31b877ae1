//! Access-unit assembly: NAL units in, whole pictures out.
//!
//! A new access unit starts, once the current one holds a slice, at an AUD, a parameter set,
//! a prefix SEI (and the other types the specs list), or a slice that begins a new picture
//! (`first_mb_in_slice == 0`, `first_slice_segment_in_pic_flag`). Multi-slice pictures stay
//! one unit. The codec is detected from parameter sets, never from server metadata.

use super::annexb::{Nal, NalSplitter, SplitterStats};
use super::nal::{classify, detect_codec, sei_has_recovery_point, Evidence, NalInfo};
use super::sps::{parse_sps, StreamInfo};
use super::Codec;

/// One coded picture with everything that belongs to it, in Annex-B form.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessUnit<T> {
    /// The codec its NAL units were detected as.
    pub codec: Codec,
    /// A picture decoding can start at: IDR/IRAP, or a recovery-point SEI.
    pub keyframe: bool,
    /// The NAL units with their original start codes.
    pub data: Vec<u8>,
    /// The tag of the chunk that completed it (the arrival instant of its last byte).
    pub at: T,
    /// Number of NAL units in it.
    pub nal_count: usize,
    /// It carries an SPS that differs from the previous one (new size, profile or codec).
    pub new_stream_info: Option<StreamInfo>,
}

/// What the assembler dropped or noticed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerStats {
    /// From the Annex-B scanner.
    pub splitter: SplitterStats,
    /// NAL units seen.
    pub nal_units: u64,
    /// Access units emitted.
    pub access_units: u64,
    /// NAL units dropped because the codec was not yet known (no parameter set seen).
    pub before_codec: u64,
    /// NAL units with a forbidden bit set or too short to classify.
    pub invalid_nals: u64,
    /// Access units held back because no keyframe had been seen.
    pub before_keyframe: u64,
    /// Access units dropped for exceeding the size limit.
    pub oversized: u64,
    /// Times the codec changed mid-stream.
    pub codec_changes: u64,
    /// SPS units that could not be parsed.
    pub bad_sps: u64,
    /// Access units emitted at a message end without waiting for the next start code.
    pub early_units: u64,
    /// Times a message end turned out not to be an access-unit boundary (the unit emitted
    /// early was incomplete); early emission then pauses until framing proves itself again.
    pub framing_misses: u64,
    /// NAL units dropped from a run of more than [`MAX_PREFIX_NALS`] parameter sets, SEI or
    /// other non-picture units with no picture (a flood; its last few units are kept).
    pub flooded_nals: u64,
}

/// Most NAL units held before a picture's first slice (a keyframe carries a handful:
/// AUD, VPS, SPS, PPS, SEI). A longer run is a flood: it is cut back to the latest
/// parameter sets, so memory stays bounded and the next picture is not buried in it.
pub(crate) const MAX_PREFIX_NALS: usize = 64;

/// The units of a flood kept when it is cut back: a keyframe's own VPS, SPS, PPS and SEI.
const KEPT_AFTER_FLOOD: usize = 8;

/// Messages in a row that must start exactly at an access unit before message ends are
/// trusted as access-unit ends.
const TRUST_AFTER: u32 = 3;

/// Settings of an [`AccessUnits`] assembler.
#[derive(Debug, Clone, Copy)]
pub struct AssemblerConfig {
    /// Drop everything before the first keyframe.
    pub wait_for_keyframe: bool,
    /// Largest access unit kept, in bytes.
    pub max_access_unit: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        Self {
            wait_for_keyframe: false,
            max_access_unit: super::annexb::DEFAULT_MAX_NAL_SIZE,
        }
    }
}

struct Current<T> {
    data: Vec<u8>,
    nal_count: usize,
    /// Its bytes passed the size limit and were dropped; it is counted, not emitted.
    oversized: bool,
    /// Where each NAL unit before its first slice starts in `data`.
    prefix: Vec<usize>,
    has_vcl: bool,
    keyframe: bool,
    ended: bool,
    at: Option<T>,
    new_info: Option<StreamInfo>,
}

impl<T> Default for Current<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            nal_count: 0,
            oversized: false,
            prefix: Vec::new(),
            has_vcl: false,
            keyframe: false,
            ended: false,
            at: None,
            new_info: None,
        }
    }
}

/// Push parser from Annex-B bytes to access units.
pub struct AccessUnits<T> {
    splitter: NalSplitter<T>,
    config: AssemblerConfig,
    codec: Option<Codec>,
    cur: Current<T>,
    seen_keyframe: bool,
    info: Option<StreamInfo>,
    /// Latest VPS, SPS and PPS in Annex-B form, by kind.
    parameter_sets: Vec<(u8, Vec<u8>)>,
    stats: AssemblerStats,
    /// Messages in a row that began at an access unit.
    aligned: u32,
    /// The last message's end was taken as an access-unit end.
    ended_early: bool,
    /// The next NAL unit must open a new access unit (checks the early end).
    check_next: bool,
}

impl<T: Copy> AccessUnits<T> {
    /// A new assembler.
    pub fn new(config: AssemblerConfig) -> Self {
        Self {
            splitter: NalSplitter::new(config.max_access_unit),
            config,
            codec: None,
            cur: Current::default(),
            seen_keyframe: false,
            info: None,
            parameter_sets: Vec::new(),
            stats: AssemblerStats::default(),
            aligned: 0,
            ended_early: false,
            check_next: false,
        }
    }

    /// Like [`AccessUnits::push`] for a whole message of a producer that usually frames one
    /// access unit per message (eufy-security-ws does): once [`TRUST_AFTER`] messages in a
    /// row have started exactly at a new access unit, each message end is taken as the end of
    /// its access unit, which is then emitted at once instead of when the next message
    /// arrives (one frame interval later). A message that breaks the pattern is counted in
    /// `framing_misses` and turns early emission off until the pattern is back. Output then
    /// depends on message boundaries; [`AccessUnits::push`] never does.
    pub fn push_message(&mut self, chunk: &[u8], at: T, mut emit: impl FnMut(AccessUnit<T>)) {
        let aligned = chunk.starts_with(&[0, 0, 1]) || chunk.starts_with(&[0, 0, 0, 1]);
        if self.ended_early && !aligned {
            self.stats.framing_misses += 1;
        }
        self.aligned = if aligned {
            self.aligned.saturating_add(1)
        } else {
            0
        };
        self.check_next = self.ended_early && aligned;
        self.push(chunk, at, &mut emit);
        self.ended_early = false;
        if self.aligned >= TRUST_AFTER {
            let mut nals = Vec::new();
            self.splitter.end_message(|n| nals.push(n));
            for nal in nals {
                self.on_nal(nal, &mut emit);
            }
            if self.cur.has_vcl {
                self.stats.early_units += 1;
                self.flush(&mut emit);
            }
            self.ended_early = true;
        }
    }

    /// Feeds bytes that arrived at `at`; calls `emit` for each access unit they complete.
    pub fn push(&mut self, chunk: &[u8], at: T, mut emit: impl FnMut(AccessUnit<T>)) {
        let mut nals = Vec::new();
        self.splitter.push(chunk, at, |n| nals.push(n));
        for nal in nals {
            self.on_nal(nal, &mut emit);
        }
    }

    /// Ends the stream: emits what is pending.
    pub fn finish(&mut self, mut emit: impl FnMut(AccessUnit<T>)) {
        let mut nals = Vec::new();
        self.splitter.finish(|n| nals.push(n));
        for nal in nals {
            self.on_nal(nal, &mut emit);
        }
        self.flush(&mut emit);
    }

    /// Forgets the stream position (after a reconnect): pending bytes are dropped, the next
    /// unit must again be a keyframe when so configured. Codec and parameter sets are kept.
    pub fn reset(&mut self) {
        self.splitter = NalSplitter::new(self.config.max_access_unit);
        self.cur = Current::default();
        self.seen_keyframe = false;
        self.aligned = 0;
        self.ended_early = false;
        self.check_next = false;
    }

    /// Counters.
    pub fn stats(&self) -> AssemblerStats {
        AssemblerStats {
            splitter: self.splitter.stats(),
            ..self.stats
        }
    }

    /// What the latest SPS says.
    pub fn stream_info(&self) -> Option<&StreamInfo> {
        self.info.as_ref()
    }

    /// The latest parameter sets (VPS, SPS, PPS), each with a 4-byte start code, in that order.
    pub fn parameter_sets(&self) -> Vec<u8> {
        let mut sets = self.parameter_sets.clone();
        sets.sort_by_key(|(kind, _)| *kind);
        sets.into_iter().flat_map(|(_, d)| d).collect()
    }

    fn on_nal(&mut self, nal: Nal<T>, emit: &mut impl FnMut(AccessUnit<T>)) {
        self.stats.nal_units += 1;
        let found = match (detect_codec(&nal.data), self.codec) {
            (Some((c, _)), None) => Some(c),
            (Some((c, Evidence::Strong)), Some(_)) => Some(c),
            _ => None,
        };
        if let Some(found) = found {
            if self.codec.is_some_and(|c| c != found) {
                self.stats.codec_changes += 1;
                self.flush(emit);
                self.parameter_sets.clear();
                self.info = None;
                self.seen_keyframe = false;
            }
            self.codec = Some(found);
        }
        let Some(codec) = self.codec else {
            self.stats.before_codec += 1;
            return;
        };
        let Some(info) = classify(codec, &nal.data) else {
            self.stats.invalid_nals += 1;
            return;
        };
        if std::mem::take(&mut self.check_next) && info.vcl && !info.first_in_picture {
            // A later slice of the picture emitted at the last message end.
            self.stats.framing_misses += 1;
            self.aligned = 0;
        }
        if self.cur.ended || (self.cur.has_vcl && (info.starts_au || info.first_in_picture)) {
            self.flush(emit);
        }
        self.add(codec, info, nal);
    }

    fn add(&mut self, codec: Codec, info: NalInfo, nal: Nal<T>) {
        if !info.vcl && !self.cur.has_vcl && self.cur.prefix.len() >= MAX_PREFIX_NALS {
            // A flood of parameter sets or SEI with no picture: keep only its last units
            // (where a keyframe's own parameter sets are). Nothing is copied, so output
            // never exceeds input, and the cut depends on NAL units alone, not on chunking.
            let keep = self.cur.prefix.len() - KEPT_AFTER_FLOOD;
            let from = self.cur.prefix[keep];
            self.cur.data.drain(..from);
            self.cur.prefix.drain(..keep);
            for start in &mut self.cur.prefix {
                *start -= from;
            }
            self.stats.flooded_nals += keep as u64;
            self.cur.nal_count -= keep;
        }
        if info.parameter_set {
            let mut annexb = vec![0, 0, 0, 1];
            annexb.extend_from_slice(&nal.data);
            match self
                .parameter_sets
                .iter_mut()
                .find(|(k, _)| *k == info.kind)
            {
                Some(slot) => slot.1 = annexb,
                None => self.parameter_sets.push((info.kind, annexb)),
            }
        }
        if info.sps {
            match parse_sps(codec, &nal.data) {
                Ok(parsed) if self.info != Some(parsed) => {
                    self.info = Some(parsed);
                    self.cur.new_info = Some(parsed);
                }
                Ok(_) => {}
                Err(_) => self.stats.bad_sps += 1,
            }
        }
        if info.irap || (info.sei && sei_has_recovery_point(codec, &nal.data)) {
            self.cur.keyframe = true;
        }
        self.cur.has_vcl |= info.vcl;
        self.cur.ended |= info.ends_au;
        self.cur.nal_count += 1;
        self.cur.at = Some(nal.at);
        if self.cur.oversized
            || self.cur.data.len() + nal.data.len() + 4 > self.config.max_access_unit
        {
            // Keep counting NAL units into this unit but drop its bytes.
            self.cur.data = Vec::new();
            self.cur.prefix = Vec::new();
            self.cur.oversized = true;
            return;
        }
        if !self.cur.has_vcl {
            self.cur.prefix.push(self.cur.data.len());
        }
        nal.write_annexb(&mut self.cur.data);
    }

    fn flush(&mut self, emit: &mut impl FnMut(AccessUnit<T>)) {
        let cur = std::mem::take(&mut self.cur);
        let (Some(at), Some(codec)) = (cur.at, self.codec) else {
            return;
        };
        if cur.oversized {
            self.stats.oversized += 1;
            return;
        }
        if !cur.has_vcl {
            // Parameter sets or SEI with no picture (e.g. at the end of a stream): keep
            // nothing but what `add` already remembered.
            return;
        }
        if cur.keyframe {
            self.seen_keyframe = true;
        }
        if self.config.wait_for_keyframe && !self.seen_keyframe {
            self.stats.before_keyframe += 1;
            return;
        }
        self.stats.access_units += 1;
        emit(AccessUnit {
            codec,
            keyframe: cur.keyframe,
            data: cur.data,
            at,
            nal_count: cur.nal_count,
            new_stream_info: cur.new_info,
        });
    }
}

/// Splits a whole Annex-B buffer (a clip file) into access units.
pub fn split_access_units(data: &[u8]) -> (Vec<AccessUnit<()>>, AssemblerStats) {
    let mut asm = AccessUnits::new(AssemblerConfig::default());
    let mut out = Vec::new();
    asm.push(data, (), |au| out.push(au));
    asm.finish(|au| out.push(au));
    (out, asm.stats())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| [&[0u8, 0, 0, 1][..], n].concat())
            .collect()
    }

    const SPS: &[u8] = &[0x67, 0x42, 0x00, 0x1e, 0xf4, 0x05, 0x01, 0xe8];
    const PPS: &[u8] = &[0x68, 0xce, 0x38, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x21];
    const IDR_SLICE2: &[u8] = &[0x65, 0x40, 0x12];
    const P: &[u8] = &[0x41, 0x9a, 0x02];
    const P_SLICE2: &[u8] = &[0x41, 0x20, 0x03];

    #[test]
    fn pictures_become_access_units() {
        let stream = annexb(&[SPS, PPS, IDR, IDR_SLICE2, P, P_SLICE2, P]);
        let (aus, stats) = split_access_units(&stream);
        assert_eq!(aus.len(), 3);
        assert_eq!(aus[0].data, annexb(&[SPS, PPS, IDR, IDR_SLICE2]));
        assert!(aus[0].keyframe);
        assert_eq!(aus[0].codec, Codec::H264);
        assert_eq!(aus[1].data, annexb(&[P, P_SLICE2]));
        assert!(!aus[1].keyframe);
        assert_eq!(aus[2].data, annexb(&[P]));
        assert_eq!(stats.access_units, 3);
    }

    #[test]
    fn aud_starts_a_new_unit() {
        let aud: &[u8] = &[0x09, 0xf0];
        let stream = annexb(&[aud, SPS, PPS, IDR, aud, P]);
        let (aus, _) = split_access_units(&stream);
        assert_eq!(aus.len(), 2);
        assert_eq!(aus[1].data, annexb(&[aud, P]));
    }

    #[test]
    fn waits_for_keyframe_when_asked() {
        let stream = annexb(&[P, P, SPS, PPS, IDR, P]);
        let mut asm = AccessUnits::new(AssemblerConfig {
            wait_for_keyframe: true,
            ..Default::default()
        });
        let mut out = Vec::new();
        asm.push(&stream, (), |au| out.push(au));
        asm.finish(|au| out.push(au));
        // Slices before any parameter set have no codec yet; they are counted, not emitted.
        assert_eq!(out.len(), 2);
        assert!(out[0].keyframe);
        assert_eq!(asm.stats().before_codec, 2);
    }

    #[test]
    fn message_ends_become_access_unit_ends_once_framing_proves_itself() {
        let units = [
            annexb(&[SPS, PPS, IDR]),
            annexb(&[P]),
            annexb(&[P, P_SLICE2]),
            annexb(&[P]),
            annexb(&[P]),
        ];
        let mut asm = AccessUnits::new(AssemblerConfig::default());
        let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, u) in units.iter().enumerate() {
            asm.push_message(u, (), |au| out.push((i, au.data)));
        }
        // Before framing is trusted a unit ends only when a later NAL unit is complete, so
        // messages 0 and 1 come out with message 2; from the third aligned message on, each
        // unit comes out with its own message.
        let when: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
        assert_eq!(when, vec![2, 2, 2, 3, 4]);
        let data: Vec<Vec<u8>> = out.into_iter().map(|(_, d)| d).collect();
        assert_eq!(data, units.to_vec());
        assert_eq!(asm.stats().early_units, 3);
        assert_eq!(asm.stats().framing_misses, 0);
    }

    #[test]
    fn a_picture_split_across_messages_turns_early_ends_off() {
        let mut asm = AccessUnits::new(AssemblerConfig::default());
        let mut out = Vec::new();
        for m in [
            annexb(&[SPS, PPS, IDR]),
            annexb(&[P]),
            annexb(&[P]),
            annexb(&[P]),
        ] {
            asm.push_message(&m, (), |au| out.push(au.data));
        }
        // The next picture arrives in two messages: the early end was wrong once.
        asm.push_message(&annexb(&[P]), (), |au| out.push(au.data));
        asm.push_message(&annexb(&[P_SLICE2]), (), |au| out.push(au.data));
        asm.push_message(&annexb(&[P]), (), |au| out.push(au.data));
        assert_eq!(asm.stats().framing_misses, 1);
        asm.finish(|au| out.push(au.data));
        // The misframed slice went out alone; nothing was lost or duplicated: the units
        // together are the input, byte for byte, in order.
        let input = [
            annexb(&[SPS, PPS, IDR]),
            annexb(&[P]),
            annexb(&[P]),
            annexb(&[P]),
            annexb(&[P]),
            annexb(&[P_SLICE2]),
            annexb(&[P]),
        ]
        .concat();
        assert_eq!(out.concat(), input);
        assert_eq!(out.len(), 7);
    }

    #[test]
    fn parameter_sets_are_remembered() {
        let mut asm = AccessUnits::new(AssemblerConfig::default());
        asm.push(&annexb(&[SPS, PPS, IDR]), (), |_| {});
        assert_eq!(asm.parameter_sets(), annexb(&[SPS, PPS]));
    }

    /// A flood of parameter sets with no picture (50 per message, thousands of messages)
    /// holds at most a few units, is counted, and buries nothing: the next pictures come out
    /// as they were sent, each keyframe with its own parameter sets.
    #[test]
    fn a_flood_of_parameter_sets_stays_bounded() {
        let mut asm = AccessUnits::new(AssemblerConfig {
            wait_for_keyframe: true,
            ..Default::default()
        });
        let flood = annexb(&[SPS; 50]);
        let mut out = Vec::new();
        let mut largest = 0;
        for _ in 0..4000 {
            asm.push_message(&flood, (), |au| out.push(au.data));
            largest = largest.max(asm.cur.data.len());
        }
        assert!(out.is_empty());
        assert!(
            largest <= MAX_PREFIX_NALS * (SPS.len() + 4),
            "{largest} bytes held"
        );
        assert!(asm.stats().flooded_nals >= 4000 * 50 - 2 * MAX_PREFIX_NALS as u64);
        let stream = [
            annexb(&[SPS, PPS, IDR]),
            annexb(&[P]),
            annexb(&[P]),
            annexb(&[SPS, PPS, IDR]),
            annexb(&[P]),
        ];
        for m in &stream {
            asm.push(m, (), |au| out.push(au.data));
        }
        asm.finish(|au| out.push(au.data));
        assert_eq!(out.len(), 5);
        // The first keyframe carries the flood's last units (fewer than the limit) before
        // its own.
        assert!(out[0].ends_with(&stream[0]) && out[0].len() <= stream[0].len() + largest);
        assert_eq!(out[1..], stream[1..]);
    }
}
