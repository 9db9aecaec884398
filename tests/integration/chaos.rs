//! Chaos: traffic from every SQS-backed source type while fanin is killed with SIGKILL and
//! restarted at random moments, Lambda throttles (429 with `Reason` and `retryAfterSeconds`),
//! fails (500) or stalls past the invoke timeout for stretches, and the dead-letter sinks are
//! down (an SQS sink whose queue is removed and recreated, a file sink on a full disk). At the
//! end nothing may be lost: every message sent is delivered or dead-lettered.
//!
//! The first cycle is always the same failing stretch: the function is missing (404, dead-
//! lettered at once) while fanin is killed, the dead-letter queue is removed and the disk is
//! full, so every run kills at least once and has its dead-letter writes refused. The cycles
//! after it are drawn from the seed.
//!
//! `FANIN_CHAOS_CYCLES` (default 3: the test suite's short run) and `FANIN_CHAOS_SEED` (default:
//! the clock) steer it; `scripts/chaos [CYCLES]` runs a long one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::harness::{unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

/// A fixed-seed xorshift: the run can be repeated from the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// The mark every message carries, and which the payload and its dead-letter record show again.
fn mark(n: usize) -> String {
    format!("chaos{n:06}z")
}

/// The marks in `text` (one payload or one record), each once.
fn marks(text: &str) -> BTreeSet<usize> {
    text.match_indices("chaos")
        .filter_map(|(i, _)| text.get(i + 5..i + 12))
        .filter(|m| m.ends_with('z'))
        .filter_map(|m| m[..6].parse().ok())
        .collect()
}

/// The body of message `n` for a source of `kind`, as that service would deliver it.
fn body(kind: &str, n: usize) -> String {
    let m = mark(n);
    match kind {
        "sqs" => format!(r#"{{"order":"{m}"}}"#),
        "s3" => format!(
            r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-27T00:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{{"principalId":"AWS:X"}},"requestParameters":{{"sourceIPAddress":"10.0.0.1"}},"responseElements":{{"x-amz-request-id":"R","x-amz-id-2":"I"}},"s3":{{"s3SchemaVersion":"1.0","configurationId":"chaos","bucket":{{"name":"chaos","ownerIdentity":{{"principalId":"O"}},"arn":"arn:aws:s3:::chaos"}},"object":{{"key":"{m}","size":1,"eTag":"e","sequencer":"{n:016X}"}}}}}}]}}"#
        ),
        "sns" => format!(
            r#"{{"Type":"Notification","MessageId":"{m}","TopicArn":"arn:aws:sns:us-east-1:123456789012:chaos","Message":"{m}","Timestamp":"2026-11-27T00:00:00.000Z","SignatureVersion":"1","Signature":"x","SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem","UnsubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:chaos:1"}}"#
        ),
        "eventbridge" => format!(
            r#"{{"version":"0","id":"{m}","detail-type":"Chaos","source":"chaos.test","account":"123456789012","time":"2026-11-27T00:00:00Z","region":"us-east-1","resources":[],"detail":{{"order":"{m}"}}}}"#
        ),
        "cloudwatch_alarm" => format!(
            r#"{{"version":"0","id":"{m}","detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","account":"123456789012","time":"2026-11-27T00:00:00Z","region":"us-east-1","resources":["arn:aws:cloudwatch:us-east-1:123456789012:alarm:{m}"],"detail":{{"alarmName":"{m}","state":{{"value":"ALARM","reason":"chaos","timestamp":"2026-11-27T00:00:00.000+0000"}},"previousState":{{"value":"OK","reason":"calm","timestamp":"2026-11-26T00:00:00.000+0000"}},"configuration":{{"metrics":[]}}}}}}"#
        ),
        _ => unreachable!(),
    }
}

const KINDS: [&str; 5] = ["sqs", "s3", "sns", "eventbridge", "cloudwatch_alarm"];

/// What Lambda does for a stretch.
fn lambda_mood(rng: &mut Rng) -> (&'static str, Reply) {
    match rng.below(5) {
        0 => ("429", Reply::throttle("ConcurrentInvocationLimitExceeded", Some(1))),
        1 => ("500", Reply::service_error()),
        2 => ("stall", Reply::slow(Duration::from_secs(3), Reply::Drop)),
        _ => ("accept", Reply::Accept),
    }
}

/// Points the file sink's path at the real file, or at a full disk (`/dev/full`).
fn file_sink(link: &Path, real: &Path, full: bool) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(if full { Path::new("/dev/full") } else { real }, link).unwrap();
}

/// Dead-letter writes `daemon` logged as refused (the event stayed upstream).
fn sink_refusals(daemon: &Daemon) -> usize {
    daemon.log().matches("dead-letter write failed").count()
}

/// Whether `daemon` logged a refused dead-letter write for `target`'s sink.
fn sink_refused_for(daemon: &Daemon, target: &str) -> bool {
    daemon.log().lines().any(|l| l.contains("dead-letter write failed") && l.contains(&format!("target={target} ")))
}

/// Receives and deletes everything in the dead-letter queue; the marks of its records.
async fn drain(moto: &Moto, queue: &str) -> Vec<usize> {
    let sqs = moto.sqs();
    let mut found = Vec::new();
    loop {
        let Ok(out) = sqs.receive_message().queue_url(queue).max_number_of_messages(10).wait_time_seconds(0).send().await else {
            return found;
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return found;
        }
        for m in messages {
            found.extend(marks(m.body().unwrap_or_default()));
            sqs.delete_message().queue_url(queue).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_through_kills_faults_and_sinks_that_are_down() {
    let cycles: usize = std::env::var("FANIN_CHAOS_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("FANIN_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    let mut rng = Rng(seed);
    println!("chaos: {cycles} cycles, FANIN_CHAOS_SEED={seed}");
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let dlq_name = unique("chaos-dlq");
    let mut dlq = moto.queue(&dlq_name).await;
    let setup = Setup::new(
        "",
        &format!(
            "[dlq.messages]\ntype = \"sqs\"\nqueue_url = \"{dlq}\"\n\
             [dlq.disk]\ntype = \"file\"\npath = \"../state/disk.jsonl\"\n\
             [targets.a]\nfunction = \"a\"\ninvoke_timeout = \"1s\"\ndlq = \"messages\"\nretry = {{ max_attempts = 4, base_delay = \"200ms\", max_delay = \"1s\", max_event_age = \"1h\" }}\n\
             [targets.b]\nfunction = \"b\"\ninvoke_timeout = \"1s\"\ndlq = \"disk\"\nretry = {{ max_attempts = 4, base_delay = \"200ms\", max_delay = \"1s\", max_event_age = \"1h\" }}\n"
        ),
    );
    std::fs::create_dir_all(setup.state_dir()).unwrap();
    let (link, real) = (setup.state_dir().join("disk.jsonl"), setup.state_dir().join("disk.real.jsonl"));
    std::fs::write(&real, "").unwrap();
    file_sink(&link, &real, false);
    let mut queues = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let queue = moto.queue(&unique(kind)).await;
        let target = if i % 2 == 0 { "a" } else { "b" };
        setup.source(kind, &format!("type = \"{kind}\"\nqueue_url = \"{queue}\"\npollers = 2\nwait_time = \"1s\"\nvisibility_timeout = \"4s\"\ntarget = \"{target}\"\n"));
        queues.push((kind, queue));
    }

    let started = Instant::now();
    let (mut sent, mut dead_from_queue) = (0usize, Vec::new());
    let (mut kills, mut moods, mut dlq_outages, mut disk_outages) = (0, BTreeMap::<&str, usize>::new(), 0, 0);
    let (mut dlq_down, mut disk_full, mut refused_writes) = (false, false, 0);
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    for cycle in 0..cycles {
        for (kind, queue) in &queues {
            let bodies: Vec<String> = (sent..sent + 8).map(|n| body(kind, n)).collect();
            moto.send_all(queue, &bodies).await;
            sent += 8;
        }
        // The first cycle: a failing stretch whose dead letters find both sinks down.
        let forced = cycle == 0;
        let (mood, reply) = if forced { ("404", Reply::not_found("chaos")) } else { lambda_mood(&mut rng) };
        *moods.entry(mood).or_default() += 1;
        lambda.set_default_behavior(Behavior::always(reply));
        if forced {
            file_sink(&link, &real, true);
            (disk_full, disk_outages) = (true, disk_outages + 1);
        }
        match if forced { 0 } else { rng.below(4) } {
            // SIGKILL, at a random moment, and back after a random pause; while it is dead the
            // dead-letter queue may be removed (a sink that is down when it starts).
            0 | 1 => {
                tokio::time::sleep(rng.millis(100, 1500)).await;
                daemon.kill9();
                kills += 1;
                refused_writes += sink_refusals(&daemon);
                if !dlq_down && (forced || rng.below(2) == 0) {
                    dead_from_queue.extend(drain(&moto, &dlq).await);
                    moto.sqs().delete_queue().queue_url(&dlq).send().await.unwrap();
                    (dlq_down, dlq_outages) = (true, dlq_outages + 1);
                }
                tokio::time::sleep(rng.millis(0, 800)).await;
                daemon = Daemon::start(&setup, &moto, &lambda.url());
            }
            // The disk fills up; it is noticed when the sink next opens its file.
            2 if !disk_full => {
                file_sink(&link, &real, true);
                (disk_full, disk_outages) = (true, disk_outages + 1);
            }
            _ => {}
        }
        if forced {
            // More traffic for the restarted fanin, which finds both sinks down; until it has
            // refused a dead-letter write to each.
            for (kind, queue) in &queues {
                let bodies: Vec<String> = (sent..sent + 8).map(|n| body(kind, n)).collect();
                moto.send_all(queue, &bodies).await;
                sent += 8;
            }
            let refused = tokio::time::timeout(PATIENCE, async {
                while !(sink_refused_for(&daemon, "a") && sink_refused_for(&daemon, "b")) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
            .await;
            assert!(refused.is_ok(), "no dead-letter write was refused while both sinks were down");
        }
        tokio::time::sleep(rng.millis(500, 2000)).await;
        if dlq_down && rng.below(2) == 0 {
            dlq = moto.queue(&dlq_name).await;
            dlq_down = false;
        }
        if disk_full && rng.below(2) == 0 {
            file_sink(&link, &real, false);
            disk_full = false;
        }
        println!("cycle {cycle}: sent {sent}, lambda {mood}, accepted so far {}", lambda.accepted_count());
    }

    // Calm: Lambda answers, the sinks are back; everything must drain.
    lambda.set_default_behavior(Behavior::accept());
    if dlq_down {
        dlq = moto.queue(&dlq_name).await;
    }
    file_sink(&link, &real, false);
    let drained = tokio::time::timeout(PATIENCE * 2, async {
        loop {
            let mut empty = true;
            for (_, q) in &queues {
                empty &= moto.depth(q).await == (0, 0);
            }
            if empty {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success(), "{}", daemon.log());
    refused_writes += sink_refusals(&daemon);
    dead_from_queue.extend(drain(&moto, &dlq).await);
    let dead_on_disk: Vec<usize> = std::fs::read_to_string(&real).unwrap().lines().flat_map(marks).collect();

    let mut delivered: BTreeMap<usize, usize> = BTreeMap::new();
    for inv in lambda.accepted() {
        for m in marks(&inv.payload_str()) {
            *delivered.entry(m).or_default() += 1;
        }
    }
    let dead: BTreeSet<usize> = dead_from_queue.iter().chain(&dead_on_disk).copied().collect();
    let lost: Vec<usize> = (0..sent).filter(|n| !delivered.contains_key(n) && !dead.contains(n)).collect();
    let duplicates = delivered.values().map(|c| c - 1).sum::<usize>()
        + (dead_from_queue.len() + dead_on_disk.len() - dead.len())
        + dead.iter().filter(|n| delivered.contains_key(n)).count();
    println!(
        "chaos: {cycles} cycles in {:.0?} (seed {seed}): {kills} SIGKILLs, Lambda stretches {moods:?}, dead-letter queue removed {dlq_outages}×, disk full {disk_outages}×, dead-letter writes refused {refused_writes} (logged; repeats rate-limited)",
        started.elapsed()
    );
    println!(
        "sent {sent}, delivered {}, dead-lettered {}, lost {} (must be 0), duplicates {duplicates}",
        delivered.len(),
        dead.len(),
        lost.len()
    );
    assert!(kills >= 1 && dlq_outages >= 1 && disk_outages >= 1, "the faults did not happen");
    assert!(refused_writes >= 2, "{refused_writes} dead-letter writes refused while the sinks were down");
    assert!(drained.is_ok(), "the queues did not drain: {lost:?} still missing");
    assert!(lost.is_empty(), "lost: {}", lost.iter().map(|n| mark(*n)).collect::<Vec<_>>().join(", "));
}
