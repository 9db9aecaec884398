//! Settling a message once its events have: deleted, or left for SQS to redeliver; a FIFO
//! group's next message handed on only after the one before it settled.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::debug;

use super::{delete, forget, send, Shared, Waiting};
use crate::event::Disposition;

/// Waits for a FIFO message's disposition, settles it, then hands the next message of its
/// group to the dispatcher.
pub(super) fn settle(
    shared: Arc<Shared>,
    id: String,
    settled: oneshot::Receiver<Disposition>,
    group: String,
) -> crate::BoxFuture<'static, ()> {
    // Boxed: a FIFO group's waiter spawns the next one's.
    Box::pin(settle_one(shared, id, settled, group))
}

/// One message's disposition: delete it, or leave it for SQS to redeliver.
pub(super) fn settled(shared: &Shared, id: &str, disposition: Disposition) {
    match disposition {
        Disposition::Settled => delete(shared, id),
        Disposition::Failed => {
            forget(shared, id);
            debug!(source = %shared.name, message_id = %id, "message left in the queue for redelivery");
        }
    }
}

async fn settle_one(shared: Arc<Shared>, id: String, settled_rx: oneshot::Receiver<Disposition>, group: String) {
    let disposition = settled_rx.await.unwrap_or(Disposition::Failed);
    settled(&shared, &id, disposition);
    let next = {
        let mut groups = shared.groups.lock().unwrap();
        if disposition == Disposition::Failed {
            // Order within the group: what came after a failed message must not overtake it.
            leave_group(&shared, &mut groups, &group, None);
            None
        } else {
            match groups.get_mut(&group).and_then(VecDeque::pop_front) {
                Some(next) => Some(next),
                None => {
                    groups.remove(&group);
                    None
                }
            }
        }
    };
    if let Some(Waiting { events, mut room, settled, id }) = next {
        if send(&shared, Some(&mut room), events).await {
            shared.waiters.spawn(settle(shared.clone(), id, settled, group));
        } else {
            // The dispatcher is gone (shutdown): the rest of the group stays in SQS.
            leave_group(&shared, &mut shared.groups.lock().unwrap(), &group, Some(&id));
        }
    }
}

/// Leaves `group`'s waiting messages (and `also`) in SQS: forgets them, so they get no more
/// visibility heartbeats and come back, in order, when their timeout runs out.
fn leave_group(shared: &Shared, groups: &mut HashMap<String, VecDeque<Waiting>>, group: &str, also: Option<&str>) {
    let waiting = groups.remove(group).unwrap_or_default();
    for id in waiting.iter().map(|w| w.id.as_str()).chain(also) {
        forget(shared, id);
    }
}
