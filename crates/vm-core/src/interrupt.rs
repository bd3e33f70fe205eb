//! The interrupt line every machine polls: raised from any thread, it stops
//! the machine at its next instruction boundary, and cuts a sleep short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One machine's interrupt line. Share it as `Arc<Interrupt>`: the machine
/// reads it at its interrupt points, the host raises and lowers it.
#[derive(Default)]
pub struct Interrupt {
    raised: AtomicBool,
    // The condvar lets a sleeping machine wake at once when the line rises.
    lock: Mutex<()>,
    wake: Condvar,
    /// Called on every raise: a machine that parks its threads elsewhere
    /// (a scheduler's condvar) wakes them here.
    waker: Mutex<Option<Waker>>,
}

/// What [`Interrupt::set_waker`] installs.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt").field("raised", &self.is_raised()).finish_non_exhaustive()
    }
}

impl Interrupt {
    /// Raises the line; it stays raised until [`clear`](Self::clear).
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(waker) = waker {
            waker();
        }
    }

    /// Installs (or with `None` removes) a function every [`raise`](Self::raise)
    /// calls after the line is up.
    pub fn set_waker(&self, waker: Option<Waker>) {
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = waker;
    }

    /// Lowers the line, so the machine can run again.
    pub fn clear(&self) {
        self.raised.store(false, Ordering::Release);
    }

    /// True while raised. Cheap enough for an interpreter's hot loop.
    #[inline]
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Sleeps up to `duration` unless the line is (or gets) raised; returns
    /// the part not slept, zero if the sleep completed.
    pub fn sleep(&self, duration: Duration) -> Duration {
        let deadline = Instant::now() + duration;
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Duration::ZERO;
            }
            if self.is_raised() {
                return deadline - now;
            }
            guard = self.wake.wait_timeout(guard, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raise_cuts_a_sleep_short_and_reports_the_rest() {
        let line = Arc::new(Interrupt::default());
        let raiser = Arc::clone(&line);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            raiser.raise();
        });
        let left = line.sleep(Duration::from_secs(3600));
        thread.join().unwrap();
        assert!(left > Duration::from_secs(3590), "{left:?}");
        assert!(line.is_raised());
        // Raised already: a sleep does not start.
        assert!(line.sleep(Duration::from_secs(5)) > Duration::from_secs(4));
        line.clear();
        assert_eq!(line.sleep(Duration::from_millis(1)), Duration::ZERO);
    }
}
