//! The bounded queue between the sources and the dispatcher.
//!
//! Its capacity bounds every event fanin holds, not only those waiting here: an event takes a
//! slot when its source hands it on and gives it back when its last route settles (delivered,
//! dead-lettered, or failed and left upstream). When no slot is free, sources wait before they
//! pull more from upstream: backpressure instead of loss, and memory that stays the same
//! whatever the backlog. An SQS source reserves room for a whole batch before it receives one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::event::Event;

/// The sources' end.
#[derive(Clone)]
pub struct QueueSender {
    tx: mpsc::UnboundedSender<Queued>,
    room: Arc<Semaphore>,
    capacity: usize,
    /// Events handed on and not settled (room reserved for a batch not received yet is not).
    held: Arc<AtomicUsize>,
    /// Set when the source that sends through this end was removed or changed.
    retired: Option<Retired>,
}

/// Whether a source's run was ended by a reload. Its events still in the queue are then
/// released unsettled by the dispatcher, so their messages stay upstream: a removed or changed
/// source's routes no longer say where they should go, and "no route" must not mean "delete".
#[derive(Clone, Default)]
pub struct Retired(Arc<AtomicBool>);

impl Retired {
    /// From now on, this source's events that were not dispatched yet are released.
    pub fn retire(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_retired(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The dispatcher's end. Dropping it closes the queue: sources waiting for room are told.
pub struct QueueReceiver {
    rx: mpsc::UnboundedReceiver<Queued>,
    room: Arc<Semaphore>,
    held: Arc<AtomicUsize>,
}

/// An event and its slot, which is free again when the slot is dropped.
pub struct Queued {
    pub event: Event,
    pub slot: Slot,
    /// The run of the source that sent it.
    pub retired: Option<Retired>,
}

impl Queued {
    /// Whether its source was removed or changed since it sent this event.
    pub fn source_retired(&self) -> bool {
        self.retired.as_ref().is_some_and(Retired::is_retired)
    }
}

/// One event's place in the queue's capacity.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    held: Arc<AtomicUsize>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, held: &Arc<AtomicUsize>) -> Slot {
        held.fetch_add(1, Ordering::Relaxed);
        Slot { _permit: permit, held: held.clone() }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Room reserved for several events.
pub struct Room(Option<OwnedSemaphorePermit>);

/// What became of an event handed on through reserved room.
pub enum Reserved {
    Sent,
    /// The room was used up: here is the event back.
    NoRoom(Event),
    /// The dispatcher is gone.
    Closed,
}

/// The dispatcher is gone.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed;

/// A queue holding at most `capacity` events, waiting or under dispatch.
pub fn bounded(capacity: usize) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(capacity));
    let held = Arc::new(AtomicUsize::new(0));
    (QueueSender { tx, room: room.clone(), capacity, held: held.clone(), retired: None }, QueueReceiver { rx, room, held })
}

impl QueueSender {
    /// This queue's end for one run of a source, and the switch that retires that run.
    pub fn for_source(&self) -> (QueueSender, Retired) {
        let retired = Retired::default();
        (QueueSender { retired: Some(retired.clone()), ..self.clone() }, retired)
    }

    /// Hands `event` on once a slot is free.
    pub async fn send(&self, event: Event) -> Result<(), Closed> {
        let slot = self.room.clone().acquire_owned().await.map_err(|_| Closed)?;
        self.tx.send(Queued { event, slot: Slot::new(slot, &self.held), retired: self.retired.clone() }).map_err(|_| Closed)
    }

    /// Waits until `n` slots are free (at most the capacity: a batch larger than the queue
    /// takes what there is) and keeps them for [`QueueSender::send_reserved`].
    pub async fn reserve(&self, n: usize) -> Result<Room, Closed> {
        let n = u32::try_from(n.min(self.capacity)).expect("a batch is small");
        self.room.clone().acquire_many_owned(n).await.map(|p| Room(Some(p))).map_err(|_| Closed)
    }

    /// Hands `event` on through room reserved before, or gives it back when none is left.
    pub fn send_reserved(&self, room: &mut Room, event: Event) -> Reserved {
        let Some(slot) = room.take_one() else { return Reserved::NoRoom(event) };
        match self.tx.send(Queued { event, slot: Slot::new(slot, &self.held), retired: self.retired.clone() }) {
            Ok(()) => Reserved::Sent,
            Err(_) => Reserved::Closed,
        }
    }
}

impl Room {
    /// Up to `n` of these slots, as room of their own: a FIFO message waiting behind the one
    /// before it in its group keeps the slots it was received with, so it is counted while it
    /// waits and needs no new room when its turn comes (pollers waiting to reserve whole
    /// batches would otherwise keep it waiting).
    pub fn split_off(&mut self, n: usize) -> Room {
        let Some(permit) = self.0.as_mut() else { return Room(None) };
        match n {
            0 => Room(None),
            n if n >= permit.num_permits() => Room(self.0.take()),
            n => Room(permit.split(n)),
        }
    }

    fn take_one(&mut self) -> Option<OwnedSemaphorePermit> {
        let permit = self.0.as_mut()?;
        match permit.num_permits() {
            0 => None,
            1 => self.0.take(),
            _ => permit.split(1),
        }
    }
}

impl QueueReceiver {
    pub async fn recv(&mut self) -> Option<Queued> {
        self.rx.recv().await
    }

    /// Events holding a slot: waiting to be taken, or under dispatch and not settled. Room a
    /// poller reserved for a batch it has not received yet holds no event and is not counted.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

impl Drop for QueueReceiver {
    fn drop(&mut self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            source: "s".into(),
            born: SystemTime::now(),
            payload: bytes::Bytes::from_static(b"{}"),
            invalid: None,
            filter_view: None,
            trace: None,
            ack: crate::event::Ack::new().0,
        }
    }

    #[tokio::test]
    async fn an_event_holds_its_slot_until_it_is_done_not_only_while_it_waits() {
        let (tx, mut rx) = bounded(2);
        tx.send(event("a")).await.unwrap();
        tx.send(event("b")).await.unwrap();
        let a = rx.recv().await.unwrap();
        assert_eq!(rx.held(), 2);
        // Taken off the queue but not settled: still counts.
        let third = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(event("c")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "a third event got in over a capacity of 2");
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), third).await.unwrap().unwrap().unwrap();
    }

    #[tokio::test]
    async fn reserved_room_is_used_one_slot_at_a_time_and_what_is_left_is_given_back() {
        let (tx, mut rx) = bounded(3);
        let mut room = tx.reserve(3).await.unwrap();
        assert!(matches!(tx.send_reserved(&mut room, event("a")), Reserved::Sent));
        assert!(matches!(tx.send_reserved(&mut room, event("b")), Reserved::Sent));
        drop(room);
        tx.send(event("c")).await.unwrap();
        assert_eq!(rx.held(), 3);
        let mut room = tx.reserve(0).await.unwrap();
        assert!(matches!(tx.send_reserved(&mut room, event("d")), Reserved::NoRoom(_)), "no room left: the event comes back");
        let _ = rx.recv().await;
    }

    #[tokio::test]
    async fn held_counts_events_not_room_reserved_for_a_batch_not_received_yet() {
        let (tx, mut rx) = bounded(20);
        let mut room = tx.reserve(10).await.unwrap();
        assert_eq!(rx.held(), 0, "pollers' reserved room is no event waiting");
        assert!(matches!(tx.send_reserved(&mut room, event("a")), Reserved::Sent));
        tx.send(event("b")).await.unwrap();
        assert_eq!(rx.held(), 2);
        let a = rx.recv().await.unwrap();
        assert_eq!(rx.held(), 2, "taken off the queue, not settled: still held");
        drop(a);
        assert_eq!(rx.held(), 1);
    }

    #[tokio::test]
    async fn room_split_off_is_held_until_used_and_sends_without_waiting() {
        let (tx, mut rx) = bounded(3);
        let mut room = tx.reserve(3).await.unwrap();
        let mut kept = room.split_off(2);
        drop(room);
        assert_eq!(tx.room.available_permits(), 1, "the split-off slots stay taken");
        // The queue's third slot is taken by someone else: the kept room still sends.
        tx.send(event("other")).await.unwrap();
        assert!(matches!(tx.send_reserved(&mut kept, event("a")), Reserved::Sent));
        assert!(matches!(tx.send_reserved(&mut kept, event("b")), Reserved::Sent));
        assert!(matches!(tx.send_reserved(&mut kept, event("c")), Reserved::NoRoom(_)));
        let _ = rx.recv().await;
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_queue_reserves_the_whole_queue_not_forever() {
        let (tx, _rx) = bounded(3);
        let mut room = tokio::time::timeout(Duration::from_secs(1), tx.reserve(10)).await.expect("not forever").unwrap();
        for id in ["a", "b", "c"] {
            assert!(matches!(tx.send_reserved(&mut room, event(id)), Reserved::Sent));
        }
        assert!(matches!(tx.send_reserved(&mut room, event("d")), Reserved::NoRoom(_)));
    }

    #[tokio::test]
    async fn senders_waiting_for_room_hear_when_the_dispatcher_is_gone() {
        let (tx, rx) = bounded(1);
        tx.send(event("a")).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(event("b")).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap(), Err(Closed));
        assert!(tx.reserve(1).await.is_err());
    }
}
