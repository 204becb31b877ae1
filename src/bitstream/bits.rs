//! A bit reader over an RBSP (emulation-prevention bytes removed on the fly), with the
//! exp-Golomb codes that H.264 and H.265 parameter sets use.

use super::BitstreamError;

/// Reads bits MSB-first from a NAL unit payload, skipping `00 00 03` emulation-prevention bytes.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u8,
    zeros: u8,
    cur: u8,
    have: bool,
}

impl<'a> BitReader<'a> {
    /// A reader over `data` (a NAL payload after its header).
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            bit: 0,
            zeros: 0,
            cur: 0,
            have: false,
        }
    }

    fn load(&mut self) -> Result<(), BitstreamError> {
        loop {
            let b = *self.data.get(self.pos).ok_or(BitstreamError::Truncated)?;
            self.pos += 1;
            if self.zeros >= 2 && b == 3 {
                self.zeros = 0;
                continue;
            }
            self.zeros = if b == 0 { self.zeros + 1 } else { 0 };
            self.cur = b;
            self.have = true;
            self.bit = 0;
            return Ok(());
        }
    }

    /// One bit.
    pub(crate) fn bit(&mut self) -> Result<bool, BitstreamError> {
        if !self.have {
            self.load()?;
        }
        let v = (self.cur >> (7 - self.bit)) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.have = false;
        }
        Ok(v == 1)
    }

    /// `n` bits (at most 32) as an unsigned number.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, BitstreamError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    /// Skips `n` bits.
    pub(crate) fn skip(&mut self, n: u32) -> Result<(), BitstreamError> {
        for _ in 0..n {
            self.bit()?;
        }
        Ok(())
    }

    /// Unsigned exp-Golomb, `ue(v)`.
    pub(crate) fn ue(&mut self) -> Result<u32, BitstreamError> {
        let mut lz = 0u32;
        while !self.bit()? {
            lz += 1;
            if lz > 31 {
                return Err(BitstreamError::Invalid(
                    "exp-Golomb code longer than 32 bits",
                ));
            }
        }
        let rest = self.bits(lz)? as u64;
        let v = (1u64 << lz) - 1 + rest;
        u32::try_from(v).map_err(|_| BitstreamError::Invalid("exp-Golomb value out of range"))
    }

    /// Signed exp-Golomb, `se(v)`.
    pub(crate) fn se(&mut self) -> Result<i32, BitstreamError> {
        let k = self.ue()? as i64;
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_values() {
        // 1 | 010 | 011 | 00100 | 00101 -> 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        let v: Vec<u32> = (0..5).map(|_| r.ue().unwrap()).collect();
        assert_eq!(v, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn emulation_prevention_is_skipped() {
        let data = [0x00, 0x00, 0x03, 0x01, 0xff];
        let mut r = BitReader::new(&data);
        assert_eq!(r.bits(24).unwrap(), 0x000001);
        assert_eq!(r.bits(8).unwrap(), 0xff);
        assert!(r.bit().is_err());
    }

    #[test]
    fn overlong_code_is_an_error_not_a_panic() {
        let data = [0u8; 8];
        assert!(BitReader::new(&data).ue().is_err());
    }
}
