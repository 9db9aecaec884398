//! Cron at scale: `schedules` every-second schedules for `run` through fanin's own cron source
//! (the code the daemon runs, here in this process, each fire's acknowledgement settled as
//! delivered so its state file is written as in the daemon), beside `tokio-cron-scheduler`
//! with as many jobs. Lateness is from the fire's instant to the event in the queue; a miss is
//! an instant of the measured window some schedule did not fire for; CPU per fire is this
//! process's CPU over the run divided by the fires.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::measure::own_cpu;

pub fn run(schedules: usize, run: Duration) {
    println!("== Cron: {schedules} every-second schedules for {}s", run.as_secs());
    println!(
        "{:<30} {:>8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>13}",
        "scheduler", "fires", "missed", "twice", "p50 ms", "p99 ms", "max ms", "CPU us/fire"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fanin = rt.block_on(fanin_fires(schedules, run));
    report("fanin (croner + sleep_until)", schedules, run, fanin);
    let baseline = rt.block_on(tokio_cron_scheduler_fires(schedules, run));
    report("tokio-cron-scheduler 0.15", schedules, run, baseline);
    println!();
}

/// What one scheduler did: (schedule, fire instant in whole seconds, lateness) per fire, the
/// window's start and the CPU it took.
struct Fires {
    fires: Vec<(usize, u64, Duration)>,
    started: SystemTime,
    cpu: Duration,
}

async fn fanin_fires(schedules: usize, run: Duration) -> Fires {
    let state = tempfile::tempdir().unwrap();
    let (queue, mut rx) = fanin::queue::bounded(10_000);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let health = Arc::new(fanin::telemetry::health::Health::new([]));
    let (started, cpu_before) = (SystemTime::now(), own_cpu());
    for i in 0..schedules {
        let settings = fanin::sources::cron::CronSettings {
            schedule: "* * * * * *".into(),
            timezone: "UTC".into(),
            // With catch-up, each settled fire is also written down: the heavier case.
            catch_up: Some(Duration::from_secs(3600)),
            payload: None,
            parsed: None,
        };
        let source = Box::new(fanin::sources::cron::CronSource::new(settings, None));
        let ctx = fanin::sources::SourceContext {
            name: format!("s{i}").into(),
            queue: queue.clone(),
            shutdown: shutdown.clone(),
            state_dir: state.path().to_path_buf(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            health: health.clone(),
        };
        tokio::spawn(fanin::sources::Source::run(source, ctx));
    }
    drop(queue);
    let mut fires = Vec::new();
    let deadline = tokio::time::Instant::now() + run;
    while let Ok(Some(fanin::queue::Queued { event, .. })) = tokio::time::timeout_at(deadline, rx.recv()).await {
        let late = SystemTime::now().duration_since(event.born).unwrap_or_default();
        let schedule = event.source[1..].parse().unwrap();
        let at = event.born.duration_since(UNIX_EPOCH).unwrap().as_secs();
        fires.push((schedule, at, late));
        event.ack.settle(fanin::event::Outcome::Delivered);
    }
    let cpu = own_cpu() - cpu_before;
    shutdown.cancel();
    Fires { fires, started, cpu }
}

async fn tokio_cron_scheduler_fires(schedules: usize, run: Duration) -> Fires {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let fires = Arc::new(Mutex::new(Vec::new()));
    let scheduler = JobScheduler::new().await.unwrap();
    for i in 0..schedules {
        let fires = fires.clone();
        let job = Job::new("* * * * * *", move |_, _| {
            // An every-second schedule's instant is the whole second just passed.
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            fires.lock().unwrap().push((i, now.as_secs(), Duration::from_nanos(now.subsec_nanos() as u64)));
        })
        .unwrap();
        scheduler.add(job).await.unwrap();
    }
    let (started, cpu_before) = (SystemTime::now(), own_cpu());
    scheduler.start().await.unwrap();
    tokio::time::sleep(run).await;
    let cpu = own_cpu() - cpu_before;
    let mut s = scheduler;
    s.shutdown().await.unwrap();
    let fires = fires.lock().unwrap().clone();
    Fires { fires, started, cpu }
}

fn report(name: &str, schedules: usize, run: Duration, f: Fires) {
    // Instants well inside the window, so start-up and the cut-off at the end do not count as misses.
    let first = f.started.duration_since(UNIX_EPOCH).unwrap().as_secs() + 2;
    let last = first + run.as_secs().saturating_sub(4);
    let mut seen: HashMap<(usize, u64), u32> = HashMap::new();
    for (schedule, at, _) in &f.fires {
        *seen.entry((*schedule, *at)).or_default() += 1;
    }
    let expected: HashSet<(usize, u64)> = (0..schedules).flat_map(|s| (first..=last).map(move |at| (s, at))).collect();
    let missed = expected.iter().filter(|k| !seen.contains_key(k)).count();
    let twice = seen.values().filter(|&&n| n > 1).count();
    let mut late: Vec<Duration> = f.fires.iter().map(|(_, _, l)| *l).collect();
    late.sort();
    let pct = |p: f64| late.get(((late.len() as f64 * p) as usize).min(late.len().saturating_sub(1))).copied().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<30} {:>8} {:>8} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>13.1}",
        f.fires.len(),
        missed,
        twice,
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(late.last().copied().unwrap_or_default()),
        f.cpu.as_secs_f64() * 1e6 / f.fires.len().max(1) as f64
    );
}
