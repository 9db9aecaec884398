//! The ledger: everything the simulated world saw happen (each hand-out with the routes its
//! reader had, each invoke Lambda accepted, each dead letter a sink wrote, each delete SQS
//! carried out), and the checks a run must pass against it.
//!
//! It records only what the outside world saw, never what fanin believes, so a check fails
//! exactly when SQS, Lambda or a sink would have seen a broken promise.

use std::collections::BTreeMap;

/// What became of one (message, target): the world's side of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// A function accepted the invoke.
    Accepted,
    /// A sink wrote the dead-letter record durably.
    DeadLettered { condition: String, error_type: Option<String> },
}

/// Why a message could be invoked more than once at one target without fanin breaking its
/// promise, or that nothing explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DuplicateCause {
    /// It was in flight when the daemon crashed.
    Crash,
    /// SQS handed a copy out while it was in flight.
    SqsHandOut,
    /// A sink was down for one of its other routes: the message stayed upstream and came back
    /// for every route (fanin keeps no per-route memory across deliveries).
    SiblingRouteFailed,
    /// SQS failed a delete or a visibility change of it (an entry or the whole call).
    UpkeepFailed,
    /// Nothing the world did explains it.
    Unexplained,
}

/// One message's history.
#[derive(Debug, Default)]
struct Message {
    queue: usize,
    group: Option<String>,
    /// Receipt handle → the routes (target names) of the reader that received it.
    receipts: BTreeMap<String, Vec<String>>,
    /// Target → (when, what), in order.
    outcomes: BTreeMap<String, Vec<(u64, Fate)>>,
    /// When SQS deleted it, and which routes had no outcome yet at that moment.
    deleted: Option<(u64, Vec<String>)>,
    /// The routes of its latest hand-out: what it must end with an outcome for.
    last_routes: Vec<String>,
    in_flight_at_crash: bool,
    handed_out_again_by_sqs: bool,
    sink_failed: bool,
    upkeep_failed: bool,
}

/// Counts for the summary.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub messages: u64,
    pub hand_outs: u64,
    pub sqs_hand_outs_in_flight: u64,
    pub accepted: u64,
    pub dead_letters: u64,
    pub dead_letters_by_condition: BTreeMap<String, u64>,
    pub throttled: u64,
    pub server_errors: u64,
    pub function_errors: u64,
    pub not_found: u64,
    pub stalls: u64,
    pub sink_failures: u64,
    pub deletes: u64,
    pub delete_entry_failures: u64,
    pub visibility_changes: u64,
    pub visibility_entry_failures: u64,
    pub stale_receipts: u64,
    pub not_in_flight: u64,
    pub call_errors: u64,
    pub receive_errors: u64,
    pub crashes: u64,
    pub reloads: u64,
    pub faults: u64,
}

impl Tally {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += other.$f;)* };
        }
        sum!(
            messages,
            hand_outs,
            sqs_hand_outs_in_flight,
            accepted,
            dead_letters,
            throttled,
            server_errors,
            function_errors,
            not_found,
            stalls,
            sink_failures,
            deletes,
            delete_entry_failures,
            visibility_changes,
            visibility_entry_failures,
            stale_receipts,
            not_in_flight,
            call_errors,
            receive_errors,
            crashes,
            reloads,
            faults
        );
        for (k, v) in &other.dead_letters_by_condition {
            *self.dead_letters_by_condition.entry(k.clone()).or_default() += v;
        }
    }
}

/// What a run's checks allow. Loss is never allowed, nor a throttled event dead-lettered
/// `RetriesExhausted`; a duplicate after SQS failed a delete or a heartbeat counts as fanin's
/// (it retries those).
#[derive(Debug, Clone)]
pub struct Rules {
    /// Duplicate invokes nothing but fanin explains, allowed per message.
    pub max_unexplained_duplicate_rate: f64,
}

/// The result of the checks.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    pub violations: Vec<String>,
    /// Duplicate invokes (beyond the first accepted one) by cause.
    pub duplicates: BTreeMap<DuplicateCause, u64>,
    /// Unexplained (and, unless excused, upkeep-caused) duplicates per message.
    pub unexplained_rate: f64,
}

/// The world's record of one run.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Orders every entry: the simulation runs on one thread, so this is the order things happened in.
    clock: u64,
    messages: BTreeMap<String, Message>,
    /// Message ids in the order they were published.
    order: Vec<String>,
    pub tally: Tally,
}

impl Ledger {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn message(&mut self, id: &str) -> &mut Message {
        self.messages.get_mut(id).unwrap_or_else(|| panic!("message {id} was never published"))
    }

    pub fn published(&mut self, id: &str, queue: usize, group: Option<String>) {
        self.tally.messages += 1;
        self.order.push(id.to_string());
        self.messages.insert(id.to_string(), Message { queue, group, ..Default::default() });
    }

    /// SQS handed message `id` out under `receipt` to a reader whose source routes to `routes`;
    /// `in_flight`: while an earlier receive of it was still in flight.
    pub fn handed_out(&mut self, id: &str, receipt: &str, routes: &[String], in_flight: bool) {
        self.tally.hand_outs += 1;
        if in_flight {
            self.tally.sqs_hand_outs_in_flight += 1;
        }
        let m = self.message(id);
        m.receipts.insert(receipt.to_string(), routes.to_vec());
        m.last_routes = routes.to_vec();
        m.handed_out_again_by_sqs |= in_flight;
    }

    pub fn accepted(&mut self, id: &str, target: &str) {
        self.tally.accepted += 1;
        let at = self.tick();
        self.message(id).outcomes.entry(target.to_string()).or_default().push((at, Fate::Accepted));
    }

    pub fn dead_lettered(&mut self, id: &str, target: &str, condition: &str, error_type: Option<String>) {
        self.tally.dead_letters += 1;
        *self.tally.dead_letters_by_condition.entry(condition.to_string()).or_default() += 1;
        let at = self.tick();
        let fate = Fate::DeadLettered { condition: condition.to_string(), error_type };
        self.message(id).outcomes.entry(target.to_string()).or_default().push((at, fate));
    }

    /// A sink refused the dead letter of message `id`.
    pub fn sink_failed(&mut self, id: &str) {
        self.tally.sink_failures += 1;
        self.message(id).sink_failed = true;
    }

    /// SQS did not carry out a delete or a visibility change of message `id`.
    pub fn upkeep_failed(&mut self, id: &str) {
        self.message(id).upkeep_failed = true;
    }

    /// SQS deleted message `id`, asked with `receipt`: check 1 is taken now, against the routes
    /// of the reader that received it under that receipt.
    pub fn deleted(&mut self, id: &str, receipt: &str) {
        self.tally.deletes += 1;
        let at = self.tick();
        let m = self.message(id);
        let routes = m.receipts.get(receipt).cloned().unwrap_or_default();
        let missing = routes.into_iter().filter(|t| !m.outcomes.get(t).is_some_and(|o| o.iter().any(|(when, _)| *when < at))).collect();
        m.deleted = Some((at, missing));
    }

    /// The daemon crashed while these messages were in flight.
    pub fn crashed(&mut self, in_flight: &[String]) {
        self.tally.crashes += 1;
        for id in in_flight {
            self.message(id).in_flight_at_crash = true;
        }
    }

    pub fn all_deleted(&self) -> bool {
        self.messages.values().all(|m| m.deleted.is_some())
    }

    /// The checks, once the run has drained.
    pub fn check(&self, rules: &Rules) -> Verdict {
        let mut verdict = Verdict::default();
        let v = &mut verdict.violations;
        let mut unexplained = 0u64;
        for id in &self.order {
            let m = &self.messages[id];
            // 1 and 2: deleted only after every route it had when handed out had an outcome.
            if let Some((at, missing)) = &m.deleted {
                for target in missing {
                    let later = m.outcomes.get(target).and_then(|o| o.iter().find(|(when, _)| when > at));
                    match later {
                        Some(_) => v.push(format!("{id}: deleted before its outcome at {target} (which came only after the delete)")),
                        None => v.push(format!("{id}: LOST: deleted from SQS without ever being delivered or dead-lettered at {target}")),
                    }
                }
            } else {
                // 3: at the end, everything is deleted...
                v.push(format!("{id}: never deleted (queue {}, {} hand-outs)", m.queue, m.receipts.len()));
            }
            // ...and has an outcome at every route of its latest hand-out.
            for target in &m.last_routes {
                if m.outcomes.get(target).is_none_or(Vec::is_empty) {
                    v.push(format!("{id}: no accepted invoke and no dead letter at {target}"));
                }
            }
            if m.receipts.is_empty() {
                v.push(format!("{id}: never handed out"));
            }
            for (target, outcomes) in &m.outcomes {
                for (_, fate) in outcomes {
                    if let Fate::DeadLettered { condition, error_type } = fate {
                        if condition == "RetriesExhausted" && error_type.as_deref() == Some("TooManyRequestsException") {
                            v.push(format!("{id}: dead-lettered RetriesExhausted at {target} although its last failures were throttles"));
                        }
                    }
                }
                // 4: duplicates, by the cause the world can show.
                let extra = outcomes.iter().filter(|(_, f)| *f == Fate::Accepted).count().saturating_sub(1) as u64;
                if extra == 0 {
                    continue;
                }
                let cause = if m.in_flight_at_crash {
                    DuplicateCause::Crash
                } else if m.handed_out_again_by_sqs {
                    DuplicateCause::SqsHandOut
                } else if m.sink_failed {
                    DuplicateCause::SiblingRouteFailed
                } else if m.upkeep_failed {
                    DuplicateCause::UpkeepFailed
                } else {
                    DuplicateCause::Unexplained
                };
                *verdict.duplicates.entry(cause).or_default() += extra;
                if matches!(cause, DuplicateCause::Unexplained | DuplicateCause::UpkeepFailed) {
                    unexplained += extra;
                }
            }
        }
        self.check_fifo_order(v);
        verdict.unexplained_rate = unexplained as f64 / self.order.len().max(1) as f64;
        if verdict.unexplained_rate > rules.max_unexplained_duplicate_rate {
            v.push(format!(
                "{unexplained} duplicate invokes nothing explains ({:.2}% of {} messages, more than the {:.2}% allowed)",
                verdict.unexplained_rate * 100.0,
                self.order.len(),
                rules.max_unexplained_duplicate_rate * 100.0
            ));
        }
        verdict
    }

    /// FIFO: within a message group, each target sees its first outcome of each message in
    /// the order the messages were sent.
    fn check_fifo_order(&self, v: &mut Vec<String>) {
        let mut last: BTreeMap<(usize, &str, &str), (u64, &str)> = BTreeMap::new();
        for id in &self.order {
            let m = &self.messages[id];
            let Some(group) = &m.group else { continue };
            for (target, outcomes) in &m.outcomes {
                let Some((first, _)) = outcomes.first() else { continue };
                let key = (m.queue, group.as_str(), target.as_str());
                if let Some((before, before_id)) = last.get(&key) {
                    if first < before {
                        v.push(format!("{id}: reached {target} before {before_id}, which was sent before it in group {group}"));
                    }
                }
                last.insert(key, (*first, id));
            }
        }
    }
}
