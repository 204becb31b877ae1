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
