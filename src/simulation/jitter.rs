//! The backoff jitter of a simulated run, drawn from its seed (`dispatch/retry.rs` asks here
//! first), so a seed replays the same backoffs.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

thread_local! {
    static RNG: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// From now on this thread's backoff jitter comes from `seed`.
pub fn seed(seed: u64) {
    RNG.set(Some(StdRng::seed_from_u64(seed ^ 0x0bac_c0ff)));
}

/// Back to the process's random jitter.
pub fn clear() {
    RNG.set(None);
}

/// A draw from `0..=ceiling`, when a simulation runs on this thread.
pub(crate) fn draw(ceiling: u64) -> Option<u64> {
    RNG.with_borrow_mut(|rng| rng.as_mut().map(|rng| rng.random_range(0..=ceiling)))
}
