//! Every unsafe FFmpeg call of the project, for what ffmpeg-next's safe API lacks, each in the
//! module of its job:
//! - [`hw`]: hardware device contexts, the `get_format` callback, the opened decoder that
//!   owns both (the decoder in [`crate::decode`] drives it);
//! - [`frame`]: a decoded frame's fields the safe API hides, and hardware frame download;
//! - [`scale`]: libswscale on a [`crate::frame::Frame`]'s own planes (the renderer's CPU
//!   colour path);
//! - [`mux`]: output contexts for RTSP and streams described for remuxing (record, publish);
//! - [`input`]: what an input stream carries besides packets (RTSP sources).
//!
//! The rules (scuffle-ffmpeg's): unsafe code is allowed here and nowhere else (the crate
//! denies it); every unsafe block does one operation (`clippy::multiple_unsafe_ops_per_block`)
//! and says why it is sound (`// SAFETY:`); every FFmpeg allocation has one owner,
//! [`Owned`], whose `Drop` frees it with the function FFmpeg documents for it, or hands it
//! over to FFmpeg explicitly ([`Owned::into_raw`]). Nothing outside this module sees a raw
//! pointer.
#![allow(unsafe_code)]

pub mod frame;
pub(crate) mod hw;
pub(crate) mod input;
pub(crate) mod mux;
pub(crate) mod scale;

use std::ptr::NonNull;

use ffmpeg_next as ffmpeg;

/// The one owner of an FFmpeg allocation: never null; `Drop` frees it with `free`.
pub(crate) struct Owned<T> {
    ptr: NonNull<T>,
    free: unsafe fn(*mut T),
}

impl<T> Owned<T> {
    /// Takes ownership of `ptr`; `None` when it is null (an allocation that failed).
    ///
    /// # Safety
    /// `ptr` is null or a live allocation that nothing else frees, and `free` is the function
    /// that releases it.
    pub(crate) unsafe fn from_raw(ptr: *mut T, free: unsafe fn(*mut T)) -> Option<Owned<T>> {
        NonNull::new(ptr).map(|ptr| Owned { ptr, free })
    }

    /// The pointer, still owned here.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Hands the allocation over (to an FFmpeg structure that frees it from then on).
    pub(crate) fn into_raw(self) -> *mut T {
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `from_raw`'s contract: the pointer is live, owned only here (it was not
        // handed over: `into_raw` forgets the owner), and `free` releases it; this runs once.
        unsafe { (self.free)(self.ptr.as_ptr()) };
    }
}

/// An FFmpeg return code as a result: negative is an error.
fn check(code: i32) -> Result<i32, ffmpeg_next::Error> {
    if code < 0 {
        Err(ffmpeg_next::Error::from(code))
    } else {
        Ok(code)
    }
}

/// ENOMEM, as FFmpeg returns it.
fn no_memory() -> ffmpeg_next::Error {
    ffmpeg_next::Error::from(ffmpeg_next::ffi::AVERROR(ffmpeg_next::util::error::ENOMEM))
}

/// What became of a packet given to a decoder (`avcodec_send_packet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The decoder took it.
    Taken,
    /// Not now (EAGAIN): the decoder holds frames that must be taken first; send it again
    /// after.
    Full,
}

/// What asking a decoder for a frame gave (`avcodec_receive_frame`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A frame.
    Frame,
    /// None yet (EAGAIN): it needs more input.
    NeedsInput,
    /// None any more (EOF): drained after the end of the stream.
    Drained,
}

/// FFmpeg's answer to a sent packet, EAGAIN made a [`Sent::Full`]; other errors stay errors.
pub fn sent(r: Result<(), ffmpeg::Error>) -> Result<Sent, ffmpeg::Error> {
    match r {
        Ok(()) => Ok(Sent::Taken),
        Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
            Ok(Sent::Full)
        }
        Err(e) => Err(e),
    }
}

/// FFmpeg's answer to a frame asked for, EAGAIN and EOF made [`Received`]s; other errors stay
/// errors.
pub fn received(r: Result<(), ffmpeg::Error>) -> Result<Received, ffmpeg::Error> {
    match r {
        Ok(()) => Ok(Received::Frame),
        Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
            Ok(Received::NeedsInput)
        }
        Err(ffmpeg::Error::Eof) => Ok(Received::Drained),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frees by counting, to check the owner's bookkeeping.
    static FREED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    unsafe fn count_free(p: *mut u32) {
        // SAFETY: the tests below allocate with Box::into_raw.
        drop(unsafe { Box::from_raw(p) });
        FREED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    #[test]
    fn owned_frees_once_unless_handed_over() {
        let before = FREED.load(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: a fresh box, freed by `count_free` only.
        let a = unsafe { Owned::from_raw(Box::into_raw(Box::new(1u32)), count_free) };
        assert!(a.is_some());
        drop(a);
        assert_eq!(FREED.load(std::sync::atomic::Ordering::SeqCst), before + 1);
        // SAFETY: as above.
        let b = unsafe { Owned::from_raw(Box::into_raw(Box::new(2u32)), count_free) };
        let raw = b.map(Owned::into_raw).unwrap_or(std::ptr::null_mut());
        assert_eq!(FREED.load(std::sync::atomic::Ordering::SeqCst), before + 1);
        // SAFETY: handed over above; freed here once.
        unsafe { count_free(raw) };
        // SAFETY: null is refused, nothing to free.
        assert!(unsafe { Owned::<u32>::from_raw(std::ptr::null_mut(), count_free) }.is_none());
    }
}

#[cfg(test)]
mod answers {
    use super::*;

    #[test]
    fn eagain_and_eof_are_answers_not_errors() {
        let eagain = ffmpeg::Error::Other {
            errno: ffmpeg::util::error::EAGAIN,
        };
        assert_eq!(sent(Ok(())), Ok(Sent::Taken));
        assert_eq!(sent(Err(eagain)), Ok(Sent::Full));
        assert_eq!(
            sent(Err(ffmpeg::Error::InvalidData)),
            Err(ffmpeg::Error::InvalidData)
        );
        assert_eq!(received(Ok(())), Ok(Received::Frame));
        assert_eq!(received(Err(eagain)), Ok(Received::NeedsInput));
        assert_eq!(received(Err(ffmpeg::Error::Eof)), Ok(Received::Drained));
        assert_eq!(
            received(Err(ffmpeg::Error::InvalidData)),
            Err(ffmpeg::Error::InvalidData)
        );
    }
}
