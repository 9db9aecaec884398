//! Replay at scale: `fanin replay` and `fanin dlq stats` over `sizes` dead-letter records
//! (fanin's record format, as the daemon writes it), from a file and from the in-process SQS,
//! into the in-process Lambda endpoint: records/s, CPU per record and peak RSS. Memory should
//! not grow with the store: the 1,000,000 row's peak within 10 % of the 100,000 row's.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fake_sqs::FakeSqs;
use crate::lambda_endpoint::LambdaEndpoint;
use crate::measure::{self, Done, Usage};

/// Dead-letter record `i`, one line.
fn record(i: usize) -> String {
    format!(
        "{{\"version\":\"1.0\",\"timestamp\":\"2026-12-01T00:00:00.000Z\",\"requestContext\":{{\"requestId\":null,\
         \"functionArn\":\"arn:aws:lambda:us-east-1:123456789012:function:work\",\"condition\":\"RetriesExhausted\",\
         \"approximateInvokeCount\":3}},\"requestPayload\":{{\"order\":{i},\"item\":\"book\",\"quantity\":1}},\
         \"responseContext\":{{\"statusCode\":429,\"errorType\":\"TooManyRequestsException\",\"errorMessage\":\"Rate Exceeded.\"}},\
         \"fanin\":{{\"source\":\"orders\",\"eventId\":\"e{i}\",\"target\":\"work\",\
         \"firstAttemptAt\":\"2026-12-01T00:00:00.000Z\",\"lastAttemptAt\":\"2026-12-01T00:00:01.000Z\"}}}}"
    )
}

fn fanin(args: &[&str], sqs: Option<&FakeSqs>, lambda: &LambdaEndpoint) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanin"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_LAMBDA", lambda.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(sqs) = sqs {
        cmd.env("AWS_ENDPOINT_URL_SQS", sqs.url());
    }
    cmd
}

fn row(label: &str, records: usize, u: &Usage, note: &str) {
    println!(
        "{:<28} {:>9} {:>10.0} {:>12.1} {:>13.1}  {note}",
        label,
        records,
        records as f64 / u.elapsed.as_secs_f64(),
        u.cpu.as_secs_f64() * 1e6 / records as f64,
        u.max_rss_mib
    );
}

pub fn run(sizes: &[usize], concurrency: usize) {
    println!("== Replay at scale: fanin replay and fanin dlq stats, --concurrency {concurrency}, file and in-process SQS");
    println!("{:<28} {:>9} {:>10} {:>12} {:>13}", "", "records", "records/s", "CPU us/rec", "peak RSS MiB");
    // (what, size) → peak RSS, for the flatness line.
    let mut peaks: Vec<(&str, usize, f64)> = Vec::new();
    let concurrency = concurrency.to_string();
    for &records in sizes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dlq.jsonl");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..records {
            writeln!(file, "{}", record(i)).unwrap();
        }
        file.flush().unwrap();
        drop(file);
        let from_file = format!("file:{}", path.display());
        let lambda = LambdaEndpoint::start_counting();

        match measure::run(fanin(&["dlq", "stats", "--from", &from_file], None, &lambda), Done::Exits, Duration::from_secs(900)) {
            Ok(u) => {
                row("dlq stats, file", records, &u, "");
                peaks.push(("dlq stats, file", records, u.max_rss_mib));
            }
            Err(why) => println!("{:<28} {records:>9} {why}", "dlq stats, file"),
        }

        let cmd = fanin(&["replay", "--from", &from_file, "--concurrency", &concurrency], None, &lambda);
        match measure::run(cmd, Done::Exits, Duration::from_secs(1800)) {
            Ok(u) => {
                let left = std::fs::read_to_string(&path).map(|s| s.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(usize::MAX);
                let note = if lambda.accepted_count() < records || left != 0 {
                    format!("NOT ALL REPLAYED: {} accepted, {left} left", lambda.accepted_count())
                } else {
                    "all accepted, file empty".into()
                };
                row("replay, file", records, &u, &note);
                peaks.push(("replay, file", records, u.max_rss_mib));
            }
            Err(why) => println!("{:<28} {records:>9} {why}", "replay, file"),
        }
        drop(dir);

        let sqs = FakeSqs::start(records, record);
        let from_sqs = format!("sqs:{}", sqs.queue_url());
        match measure::run(fanin(&["dlq", "stats", "--from", &from_sqs], Some(&sqs), &lambda), Done::Exits, Duration::from_secs(900)) {
            Ok(u) => {
                row("dlq stats, SQS", records, &u, "");
                peaks.push(("dlq stats, SQS", records, u.max_rss_mib));
            }
            Err(why) => println!("{:<28} {records:>9} {why}", "dlq stats, SQS"),
        }
        drop(sqs);

        let sqs = FakeSqs::start(records, record);
        let lambda = LambdaEndpoint::start_counting();
        let cmd = fanin(&["replay", "--from", &format!("sqs:{}", sqs.queue_url()), "--concurrency", &concurrency], Some(&sqs), &lambda);
        match measure::run(cmd, Done::Exits, Duration::from_secs(1800)) {
            Ok(u) => {
                let note = if sqs.deleted() < records {
                    format!("NOT ALL REPLAYED: {} accepted, {} deleted", lambda.accepted_count(), sqs.deleted())
                } else {
                    format!(
                        "all deleted; {:.0} SQS receive/delete calls per 1000",
                        (sqs.receive_calls() + sqs.delete_calls()) as f64 * 1000.0 / records as f64
                    )
                };
                row("replay, SQS", records, &u, &note);
                peaks.push(("replay, SQS", records, u.max_rss_mib));
            }
            Err(why) => println!("{:<28} {records:>9} {why}", "replay, SQS"),
        }
    }
    for what in ["dlq stats, file", "replay, file", "dlq stats, SQS", "replay, SQS"] {
        let of: Vec<&(&str, usize, f64)> = peaks.iter().filter(|p| p.0 == what).collect();
        if let [small, big] = of[..] {
            println!("{what}: peak RSS {:+.1} % from {} to {} records", (big.2 / small.2 - 1.0) * 100.0, small.1, big.1);
        }
    }
    println!();
}
