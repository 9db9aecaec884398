//! The SQS reader every queue-fed source type shares (`sqs`, `s3`, `sns`, `eventbridge`,
//! `cloudwatch_alarm` with a queue): long polling, batches, visibility kept alive while events
//! wait or retry, batched deletes once an event's every route has settled, FIFO order per
//! message group.

pub(crate) mod intake;
mod origin;
pub mod settings;
mod settle;
mod upkeep;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::Message;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

pub use intake::{queue_arn, sent_at};
pub use origin::{Origin, Wiring};
pub use settings::SqsSettings;

use super::{Source, SourceContext};
use crate::event::{Ack, Disposition, Event};
use crate::queue::{QueueSender, Reserved, Room};
use crate::sources::decode::sns_envelope::SKIP_SNS_SUBSCRIPTION_CONFIRMATION;
use crate::sources::task_token::{self, Callbacks, Task};
use crate::telemetry::events::{DuplicateSuppressed, EventReceived, EventSkipped};
use intake::Intake;
use settle::{settle, settled};
#[allow(unused_imports)] // the simulation answers these calls
pub(crate) use wire::{Failed, QueueWire, SqsError, SqsWire};

/// Reads one SQS queue.
pub struct SqsReader {
    settings: SqsSettings,
    wire: Box<dyn QueueWire>,
    sns: Option<aws_sdk_sns::Client>,
    /// With `task_token`: the SDK configuration its Step Functions client is made from.
    sdk: Option<aws_config::SdkConfig>,
}

impl SqsReader {
    /// `sns`: for an `sns` source, to confirm its topic's subscription when asked.
    pub fn new(settings: SqsSettings, sdk: &aws_config::SdkConfig, sns: Option<aws_sdk_sns::Client>) -> Self {
        let sdk_for_tasks = settings.task_token.is_some().then(|| sdk.clone());
        SqsReader { wire: Box::new(SqsWire::new(sdk, &settings.queue_url)), settings, sns, sdk: sdk_for_tasks }
    }

    /// A reader whose calls go to `wire` instead of SQS (the simulation's queue).
    #[cfg(test)]
    pub(crate) fn with_wire(settings: SqsSettings, wire: Box<dyn QueueWire>) -> Self {
        SqsReader { settings, wire, sns: None, sdk: None }
    }
}

/// A message handed out (or waiting its turn in a FIFO group) and not yet deleted.
struct Held {
    /// The newest receipt handle: SQS deletes and extends a message received more than once
    /// only through the handle of its latest receive.
    receipt: String,
    /// When its current visibility timeout runs out.
    visible_at: Instant,
    /// Settled, its delete queued: a copy arriving now is deleted too.
    deleting: bool,
}

/// A FIFO message waiting for the one before it in its group to settle.
struct Waiting {
    events: Vec<Event>,
    /// The slots its events were received with (fewer if the batch's room ran short).
    room: Room,
    settled: oneshot::Receiver<Disposition>,
    id: String,
}

/// State the pollers, the ack waiters and the upkeep tasks share.
struct Shared {
    name: Arc<str>,
    settings: SqsSettings,
    wire: Box<dyn QueueWire>,
    sns: Option<aws_sdk_sns::Client>,
    queue: QueueSender,
    labels: intake::Labels,
    fifo: bool,
    /// Message id → its receipt and visibility deadline. Keyed by message id: a copy of a
    /// message that is still held (SQS hands a message out twice now and then) is not
    /// dispatched again, only its newer receipt is kept.
    held: Mutex<HashMap<String, Held>>,
    /// FIFO: message group → messages received after the one in dispatch, in order.
    groups: Mutex<HashMap<String, VecDeque<Waiting>>>,
    /// (message id, receipt handle) of settled messages, for the batched deleter.
    deletes: mpsc::UnboundedSender<(String, String)>,
    waiters: TaskTracker,
    health: Arc<crate::telemetry::health::Health>,
    /// `fanin_events_received_total` of this source.
    received: metrics::Counter,
    /// With `task_token`: the calls that complete and heartbeat each message's task.
    callbacks: Option<Arc<Callbacks>>,
}

#[cfg(test)]
impl Shared {
    /// A reader's shared state around `wire`, for tests of its parts.
    fn for_test(settings: SqsSettings, wire: Box<dyn QueueWire>) -> Shared {
        Shared {
            name: "test".into(),
            labels: intake::Labels {
                source: "test".into(),
                queue_arn: String::new(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
            },
            fifo: false,
            settings,
            wire,
            sns: None,
            queue: crate::queue::bounded(10).0,
            held: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            deletes: mpsc::unbounded_channel().0,
            waiters: TaskTracker::new(),
            health: Arc::new(crate::telemetry::health::Health::new(["test"])),
            received: metrics::Counter::noop(),
            callbacks: None,
        }
    }
}

impl Source for SqsReader {
    fn run(self: Box<Self>, ctx: SourceContext) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        Box::pin(async move {
            let (deletes, delete_rx) = mpsc::unbounded_channel();
            let shared = Arc::new(Shared {
                name: ctx.name.clone(),
                labels: intake::Labels {
                    source: ctx.name.to_string(),
                    queue_arn: intake::queue_arn(&self.settings.queue_url, &ctx.region),
                    region: ctx.region.clone(),
                    account: ctx.account.clone(),
                },
                fifo: self.settings.queue_url.ends_with(".fifo"),
                settings: self.settings,
                wire: self.wire,
                sns: self.sns,
                queue: ctx.queue,
                held: Mutex::new(HashMap::new()),
                groups: Mutex::new(HashMap::new()),
                deletes,
                waiters: TaskTracker::new(),
                health: ctx.health.clone(),
                received: EventReceived { source: &ctx.name }.counter(),
                callbacks: self.sdk.as_ref().map(|sdk| Arc::new(Callbacks::new(sdk, ctx.name.clone()))),
            });
            info!(source = %shared.name, queue = %shared.settings.queue_url, fifo = shared.fifo, pollers = shared.settings.pollers, "sqs source started");

            let (deletes_stop, heartbeats_stop) = (CancellationToken::new(), CancellationToken::new());
            let deleter = tokio::spawn(upkeep::delete_loop(shared.clone(), delete_rx, deletes_stop.clone()));
            let heartbeat = tokio::spawn(upkeep::heartbeat_loop(shared.clone(), heartbeats_stop.clone()));

            let pollers: Vec<_> =
                (0..shared.settings.pollers).map(|_| tokio::spawn(poll_loop(shared.clone(), ctx.shutdown.clone()))).collect();
            for poller in pollers {
                poller.await?;
            }
            // Every event handed out settles: the dispatcher finishes or drops it.
            shared.waiters.close();
            shared.waiters.wait().await;
            deletes_stop.cancel();
            deleter.await?;
            // Only now: a delete SQS keeps failing is tried again while the message stays
            // hidden, and the heartbeats are what keep it hidden.
            heartbeats_stop.cancel();
            heartbeat.await?;
            info!(source = %shared.name, "sqs source stopped");
            Ok(())
        })
    }
}

async fn poll_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let s = &shared.settings;
    let (mut failures, mut first) = (0u32, true);
    loop {
        // Room for a whole batch first: a full queue stops the pulling, nothing is dropped.
        let mut room = tokio::select! {
            _ = shutdown.cancelled() => return,
            room = shared.queue.reserve(s.batch_size as usize) => match room {
                Ok(room) => room,
                Err(_) => return,
            },
        };
        let receive = shared.wire.receive(s.batch_size, s.wait_time, s.visibility_timeout);
        // A receive abandoned at shutdown may have taken messages: they come back after the visibility timeout.
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = receive => r,
        };
        let messages = match result {
            Ok(messages) => {
                if failures > 0 || first {
                    shared.health.source_ok(&shared.name);
                }
                (failures, first) = (0, false);
                messages
            }
            Err(e) => {
                failures += 1;
                let pause = Duration::from_millis(500 * 2u64.pow(failures.min(6)));
                let error = crate::error_chain(&e);
                if let Some(left_out) = crate::telemetry::log_limit::allow(&format!("receive:{}", shared.name)) {
                    warn!(source = %shared.name, error, retry_in = ?pause, similar_left_out = left_out, "receive failed");
                }
                shared.health.source_failed(&shared.name, error);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        // The timeout started when SQS answered, somewhere in a long poll: counted from the
        // answer's arrival, not from the request (up to `wait_time` earlier).
        let received = Instant::now();
        // Every message of the batch is held (and so heartbeated) before any is handed on:
        // handing one on may wait for room, and the rest must not run out of visibility meanwhile.
        let messages: Vec<(Message, String)> = messages
            .into_iter()
            .filter_map(|message| {
                let (Some(id), Some(receipt)) = (message.message_id.clone(), message.receipt_handle.clone()) else {
                    warn!(source = %shared.name, "message without id or receipt handle; left for redelivery");
                    return None;
                };
                hold(&shared, &id, receipt, received + s.visibility_timeout).then_some((message, id))
            })
            .collect();
        for (message, id) in messages {
            let group = intake::group(&message).filter(|_| shared.fifo);
            let Some((events, settled)) = events(&shared, &message, &id, group.is_some()) else { continue };
            let Some(group) = group else {
                if !send(&shared, Some(&mut room), events).await {
                    return;
                }
                continue;
            };
            let settled = settled.expect("a FIFO message's acknowledgement is awaited");
            let first_of_group = {
                let mut groups = shared.groups.lock().unwrap();
                match groups.get_mut(&group) {
                    // Its group has a message in dispatch: wait behind it.
                    Some(waiting) => {
                        let room = room.split_off(events.len());
                        waiting.push_back(Waiting { events, room, settled, id });
                        None
                    }
                    None => {
                        groups.insert(group.clone(), VecDeque::new());
                        Some((events, settled, id))
                    }
                }
            };
            if let Some((events, settled, id)) = first_of_group {
                if !send(&shared, Some(&mut room), events).await {
                    return;
                }
                shared.waiters.spawn(settle(shared.clone(), id, settled, group));
            }
        }
    }
}

/// Holds message `id` under its newest `receipt`; false when a copy of it is already held,
/// in which case this copy is not dispatched: counted, and its receipt kept for the delete
/// and the heartbeats (or deleted at once when the first copy has already settled).
fn hold(shared: &Shared, id: &str, receipt: String, visible_at: Instant) -> bool {
    let mut held = shared.held.lock().unwrap();
    let Some(first) = held.get_mut(id) else {
        held.insert(id.to_string(), Held { receipt, visible_at, deleting: false });
        return true;
    };
    DuplicateSuppressed { source: &shared.name }.emit();
    debug!(source = %shared.name, message_id = id, "received again while in flight; not dispatched twice");
    if first.deleting {
        let _ = shared.deletes.send((id.to_string(), receipt.clone()));
    }
    first.receipt = receipt;
    first.visible_at = visible_at;
    false
}

/// Settled: queues message `id`'s delete under its newest receipt.
fn delete(shared: &Shared, id: &str) {
    if let Some(held) = shared.held.lock().unwrap().get_mut(id) {
        held.deleting = true;
        let _ = shared.deletes.send((id.to_string(), held.receipt.clone()));
    }
}

/// Left in SQS: forgets message `id`, so it gets no more heartbeats and comes back when its
/// visibility timeout runs out (never set to 0: a hot loop).
fn forget(shared: &Shared, id: &str) {
    shared.held.lock().unwrap().remove(id);
}

/// The events `message` becomes, sharing one acknowledgement; `None` when it becomes none
/// (an S3 test event, an SNS confirmation, everything filtered out by the source), in which
/// case it is deleted at once and counted. A FIFO message's acknowledgement is awaited (the
/// next of its group follows it); any other's deletes or forgets the message where it settles.
fn events(shared: &Arc<Shared>, message: &Message, id: &str, fifo: bool) -> Option<(Vec<Event>, Option<oneshot::Receiver<Disposition>>)> {
    match intake::intake(message, &shared.settings, &shared.labels) {
        Intake::Confirm { topic_arn, token } => {
            shared.waiters.spawn(confirm(shared.clone(), id.to_string(), topic_arn, token));
            None
        }
        Intake::Skip(reason) => {
            EventSkipped { source: &shared.name, reason }.emit();
            debug!(source = %shared.name, message_id = id, reason, "skipped");
            delete(shared, id);
            None
        }
        Intake::Events(parts) => {
            let born = intake::sent_at(message);
            let (ack, settled) = if let Some(task) = task_of(shared, message, id) {
                with_task(shared, id, task, fifo)
            } else if fifo {
                let (ack, settled) = Ack::new();
                (ack, Some(settled))
            } else {
                // Counted among the waiters, so the source outlives the acknowledgement.
                let (shared, id, waiter) = (shared.clone(), id.to_string(), shared.waiters.token());
                let ack = Ack::calling(move |disposition| {
                    settled(&shared, &id, disposition);
                    drop(waiter);
                });
                (ack, None)
            };
            let acks = ack.fan_out(parts.len());
            let trace = intake::trace(message);
            let events = parts
                .into_iter()
                .zip(acks)
                .map(|(part, ack)| {
                    shared.received.increment(1);
                    Event {
                        id: part.id,
                        source: shared.name.clone(),
                        born,
                        payload: part.payload,
                        invalid: part.invalid,
                        filter_view: part.filter_view,
                        trace: trace.clone(),
                        ack,
                    }
                })
                .collect();
            Some((events, settled))
        }
    }
}

/// The task token message `id` carries, when the source has `task_token`.
fn task_of(shared: &Shared, message: &Message, id: &str) -> Option<Arc<Task>> {
    let path = shared.settings.task_token.as_ref()?;
    shared.callbacks.as_ref()?;
    let token = path.find(message.body().unwrap_or_default());
    if token.is_none() {
        debug!(source = %shared.name, message_id = id, path = %path, "no task token in the message; delivered without a callback");
    }
    token.map(Task::new)
}

/// The acknowledgement of a message with a Step Functions task: heartbeats while its events are
/// out, and once they settle the task's callback before the message is deleted or left; a
/// FIFO message's disposition is awaited through the receiver, as without a task.
fn with_task(shared: &Arc<Shared>, id: &str, task: Arc<Task>, fifo: bool) -> (Ack, Option<oneshot::Receiver<Disposition>>) {
    let callbacks = shared.callbacks.clone().expect("a task comes with the callbacks");
    let stop = CancellationToken::new();
    if let Some(every) = shared.settings.heartbeat {
        shared.waiters.spawn(task_token::heartbeats(callbacks.clone(), task.clone(), every, stop.clone()));
    }
    let (tx, rx) = if fifo {
        let (tx, rx) = oneshot::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    // Counted among the waiters, so the source outlives the callback.
    let (shared, id, waiter, heartbeats) = (shared.clone(), id.to_string(), shared.waiters.token(), stop.drop_guard());
    let ack = Ack::hearing(move |disposition, told| {
        drop(heartbeats);
        let done = move |shared: &Shared, id: &str, disposition| match tx {
            Some(tx) => {
                let _ = tx.send(disposition);
            }
            None => settled(shared, id, disposition),
        };
        let runtime = tokio::runtime::Handle::try_current();
        if disposition == Disposition::Failed || runtime.is_err() {
            // Left upstream: no callback, the message comes back and is delivered again.
            done(&shared, &id, Disposition::Failed);
            drop(waiter);
            return;
        }
        let tracker = shared.waiters.clone();
        tracker.spawn(async move {
            let disposition = callbacks.complete(&task, &id, disposition, told).await;
            done(&shared, &id, disposition);
            drop(waiter);
        });
    });
    (ack, rx)
}

/// Confirms the subscription of the source's topic (in the topic's region), then deletes the
/// confirmation message; if SNS refuses, the message comes back after its visibility timeout
/// and is tried again (a token stays valid for three days).
async fn confirm(shared: Arc<Shared>, id: String, topic_arn: String, token: String) {
    let Some(sns) = &shared.sns else {
        // Nothing here can confirm it: held, it would be heartbeated forever.
        warn!(source = %shared.name, topic = %topic_arn, "a subscription confirmation this source has no SNS client to confirm; skipped");
        EventSkipped { source: &shared.name, reason: SKIP_SNS_SUBSCRIPTION_CONFIRMATION }.emit();
        delete(&shared, &id);
        return;
    };
    let region = topic_arn.split(':').nth(3).filter(|r| !r.is_empty()).map(|r| aws_config::Region::new(r.to_string()));
    let confirmed = sns
        .confirm_subscription()
        .topic_arn(&topic_arn)
        .token(token)
        .customize()
        .config_override(aws_sdk_sns::config::Builder::default().region(region))
        .send()
        .await;
    match confirmed {
        Ok(out) => {
            info!(source = %shared.name, topic = %topic_arn, subscription = out.subscription_arn().unwrap_or_default(), "confirmed the queue's subscription to the topic");
            EventSkipped { source: &shared.name, reason: SKIP_SNS_SUBSCRIPTION_CONFIRMATION }.emit();
            delete(&shared, &id);
        }
        Err(e) => {
            forget(&shared, &id);
            warn!(
            source = %shared.name, topic = %topic_arn, error = %DisplayErrorContext(&e),
            "could not confirm the queue's subscription to the topic; trying again when the message comes back"
            )
        }
    }
}

/// Hands `events` to the dispatcher, through the room reserved for the batch while it lasts;
/// false once the dispatcher is gone.
async fn send(shared: &Shared, mut room: Option<&mut Room>, events: Vec<Event>) -> bool {
    for event in events {
        let event = match room.as_deref_mut() {
            Some(room) => match shared.queue.send_reserved(room, event) {
                Reserved::Sent => continue,
                Reserved::Closed => return false,
                Reserved::NoRoom(event) => event,
            },
            None => event,
        };
        if shared.queue.send(event).await.is_err() {
            return false;
        }
    }
    true
}
