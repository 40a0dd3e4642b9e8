//! The batch's memory budget: photos are admitted by the memory their
//! analysis needs, not by the worker count. A worker whose photo does not fit
//! beside the ones in progress waits; a photo larger than the whole budget
//! runs alone.

use std::path::Path;
use std::sync::{Condvar, Mutex};

/// Default `--memory-budget`, MiB: the whole process's peak target.
pub const DEFAULT_BUDGET_MIB: u64 = 1024;

const MIB: u64 = 1 << 20;
/// What one analysis needs beyond its pixels (zone patches at the pore
/// resolution are bounded by the face, not the photo): measured 30–40 MiB.
const PER_PHOTO_BYTES: u64 = 40 * MIB;
/// What each further worker's own ONNX Runtime sessions hold (an
/// estimate: eight clinic captures peaked 90 MiB higher on two workers than
/// on one, their photos' overlap included).
pub const PER_WORKER_BYTES: u64 = 30 * MIB;

/// The memory an analysis of the photo at `path` will hold at its peak,
/// from its header alone: 8-bit RGB plus its pyramid (about 6 bytes a
/// pixel), and for deeper files also 16-bit RGB and its pyramid (11 in all;
/// measured on a 27 MP JPEG and a 100 MP 16-bit PNG). 0 when the header
/// cannot be read: loading the file will fail anyway, quickly.
pub fn photo_bytes(path: &Path) -> u64 {
    let header = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .ok()
        .and_then(|r| r.into_decoder().ok());
    let Some(decoder) = header else {
        return 0;
    };
    use image::ImageDecoder;
    let (w, h) = decoder.dimensions();
    let colour = decoder.color_type();
    let deep = colour.bits_per_pixel() / u16::from(colour.channel_count()) > 8;
    // An alpha channel may add the transparent mask and its grown copy.
    let alpha = if colour.has_alpha() { 2 } else { 0 };
    u64::from(w) * u64::from(h) * (if deep { 11 } else { 6 } + alpha) + PER_PHOTO_BYTES
}

/// Bytes reserved by the photos in progress, against a limit.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// A reservation, returned when dropped.
#[must_use]
pub struct Reservation<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Budget {
    /// `limit_bytes` for the photos in progress (the process's own memory
    /// taken off by the caller).
    pub fn new(limit_bytes: u64) -> Self {
        Self {
            limit: limit_bytes,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits until `bytes` fit beside the reservations in progress (at
    /// once when none is: a photo over the whole limit runs alone).
    pub fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + bytes > self.limit {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += bytes;
        Reservation {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// Below this size (bytes) a freed buffer stays in the process for the next
/// photo's; larger ones (a 100 MP photo's planes) go back to the system.
const KEEP_FREED_BELOW: usize = 64 << 20;
/// Freed memory at the top of the heap kept for reuse, at most (bytes).
const KEEP_FREED_AT_MOST: usize = 256 << 20;

/// Lets a batch reuse the buffers one photo frees for the next (glibc; a
/// no-op elsewhere). By default glibc maps large buffers (from 128 kB, a
/// threshold it raises to at most 32 MiB) afresh and unmaps them when
/// freed, so every 12 MP photo's 36 MB planes, its patches and model
/// tensors page-faulted in again: 164 000 page faults
/// for twelve such photos on one worker, 50 000 with this, and about
/// 20 ms less system time per photo. Peak memory is unchanged (measured
/// on clinic captures, 12 MP JPEGs and 100 MP 16-bit PNGs on two workers:
/// `docs/performance.md`). The command-line tool calls it at start; a
/// program using the library can too. Returns whether both settings took.
pub fn reuse_freed_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's thresholds; glibc
        // takes its own lock, and these two settings are valid at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_FREED_BELOW as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED_AT_MOST as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Resident memory now, from /proc (Linux); `None` where unavailable.
pub fn resident_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory so far, MiB (Linux); `None` where unavailable.
pub fn peak_mib() -> Option<f64> {
    status_kib("VmHWM:").map(|kib| kib as f64 / 1024.0)
}

/// A `/proc/self/status` figure given in kB.
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_settings_that_keep_freed_buffers() {
        assert!(reuse_freed_buffers());
    }

    /// Two workers with photos of 600 each under a limit of 1000 never run
    /// together; photos of 400 do.
    #[test]
    fn reservations_never_exceed_the_limit_together() {
        for (size, want_peak) in [(600u64, 600u64), (400, 800)] {
            let budget = Budget::new(1000);
            let (now, peak) = (AtomicU64::new(0), AtomicU64::new(0));
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..20 {
                            let _r = budget.reserve(size);
                            let n = now.fetch_add(size, Ordering::SeqCst) + size;
                            peak.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            now.fetch_sub(size, Ordering::SeqCst);
                        }
                    });
                }
            });
            assert_eq!(peak.load(Ordering::SeqCst), want_peak, "photos of {size}");
        }
    }

    #[test]
    fn a_photo_over_the_limit_runs_alone_rather_than_never() {
        let budget = Budget::new(100);
        let r = budget.reserve(500);
        drop(r);
        let _again = budget.reserve(500);
    }
}
