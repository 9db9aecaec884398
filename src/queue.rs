//! The bounded queue between the sources and the dispatcher.
//!
//! When it is full, sources wait for room before they pull more from upstream: backpressure
//! instead of loss. An SQS source reserves room for a whole batch before it receives one.

use tokio::sync::mpsc;

use crate::event::Event;

/// The sources' end.
pub type QueueSender = mpsc::Sender<Event>;
/// The dispatcher's end.
pub type QueueReceiver = mpsc::Receiver<Event>;

/// A queue holding at most `capacity` events.
pub fn bounded(capacity: usize) -> (QueueSender, QueueReceiver) {
    mpsc::channel(capacity)
}
