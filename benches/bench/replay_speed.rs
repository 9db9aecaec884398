//! Replay speed: `fanin replay --from file:` of `records` dead-letter records (Lambda's own
//! on-failure record format, as fanin writes it) into the in-process Lambda endpoint. SQS's
//! own redrive moves at most 500 messages a second; the goal is ten times that.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::lambda_endpoint::LambdaEndpoint;
use crate::measure::{self, Done};

pub fn run(records: usize, concurrency: usize) {
    println!("== Replay: fanin replay --from file: of {records} dead-letter records, --concurrency {concurrency}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlq.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..records {
        writeln!(
            file,
            "{{\"version\":\"1.0\",\"timestamp\":\"2026-12-01T00:00:00.000Z\",\"requestContext\":{{\"requestId\":null,\
             \"functionArn\":\"arn:aws:lambda:us-east-1:123456789012:function:work\",\"condition\":\"RetriesExhausted\",\
             \"approximateInvokeCount\":3}},\"requestPayload\":{{\"order\":{i},\"item\":\"book\",\"quantity\":1}},\
             \"responseContext\":{{\"statusCode\":429,\"errorType\":\"TooManyRequestsException\",\"errorMessage\":\"Rate Exceeded.\"}},\
             \"fanin\":{{\"source\":\"orders\",\"eventId\":\"e{i}\",\"target\":\"work\",\
             \"firstAttemptAt\":\"2026-12-01T00:00:00.000Z\",\"lastAttemptAt\":\"2026-12-01T00:00:01.000Z\"}}}}"
        )
        .unwrap();
    }
    file.flush().unwrap();
    drop(file);

    let lambda = LambdaEndpoint::start_counting();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanin"));
    cmd.args(["replay", "--from", &format!("file:{}", path.display()), "--concurrency", &concurrency.to_string()])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_LAMBDA", lambda.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match measure::run(cmd, Done::Exits, Duration::from_secs(600)) {
        Ok(u) => {
            let left = std::fs::read_to_string(&path).map(|s| s.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(usize::MAX);
            println!("{:<12} {:>10} {:>12} {:>12} {:>12}", "records", "records/s", "CPU us/rec", "peak RSS MiB", "left in file");
            println!(
                "{:<12} {:>10.0} {:>12.1} {:>12.1} {:>12}",
                records,
                records as f64 / u.elapsed.as_secs_f64(),
                u.cpu.as_secs_f64() * 1e6 / records as f64,
                u.max_rss_mib,
                left
            );
            if lambda.accepted_count() < records || left != 0 {
                println!("NOT ALL REPLAYED: {} invokes accepted, {left} records left", lambda.accepted_count());
            }
        }
        Err(why) => println!("fanin replay: {why}"),
    }
    println!();
}
