//! The claim check: an event over Lambda's asynchronous limit goes to S3 and a target with
//! `large_payloads` gets a pointer event; a target without it dead-letters the event
//! `RequestTooLarge`; a bucket that will not take the payload leaves the event upstream.

use std::time::Duration;

use serde_json::Value;

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_over_the_limit_reaches_a_claim_check_target_as_a_pointer_to_s3() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("large")).await;
    let bucket = unique("payloads");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let huge = "x".repeat(1024 * 1024);
    // One at a time: a batch may not be over 1 MiB.
    moto.send_all(&queue, &["small".to_string()]).await;
    moto.send_all(&queue, std::slice::from_ref(&huge)).await;

    let setup = Setup::new(
        "",
        &format!(
            "[targets.big]\nfunction = \"big\"\nlarge_payloads = {{ bucket = \"{bucket}\", prefix = \"in/\" }}\n\
             [targets.plain]\nfunction = \"plain\"\n\
             [targets.gone]\nfunction = \"gone\"\nlarge_payloads = {{ bucket = \"{bucket}\", prefix = \"in/\" }}\n"
        ),
    );
    lambda.set_missing(&["gone"]);
    let routes = ["big", "plain", "gone"].map(|t| format!("[[routes]]\ntarget = \"{t}\"\n")).concat();
    setup.source("large", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\n{routes}"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    // The target with a claim check got the small event as it is and the large one as a pointer.
    let big = lambda.accepted_payloads("big");
    assert_eq!(big.len(), 2, "{big:?}");
    assert!(big.iter().any(|p| p["Records"][0]["body"] == "small"));
    let pointer = big.iter().find_map(|p| p.get("fanin")).expect("a pointer event")["claimCheck"].clone();
    assert_eq!(pointer["bucket"], bucket.as_str());
    assert_eq!(pointer["source"], "large");
    let key = pointer["key"].as_str().unwrap();
    assert!(key.starts_with("in/large/"), "{key}");
    let stored = moto.s3().get_object().bucket(&bucket).key(key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(pointer["size"], stored.len());
    // The object is the event exactly as it would have been sent.
    let event: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(event["Records"][0]["body"], huge.as_str());
    assert_eq!(event["Records"][0]["messageId"], pointer["eventId"]);

    // The target without one got only the small event; the large one was dead-lettered there.
    // A function that is not there dead-letters what it was sent: the pointer, for the large one.
    assert_eq!(lambda.accepted_payloads("plain").len(), 1);
    let mut dead: Vec<(String, String, bool)> = setup
        .dead_letters()
        .iter()
        .map(|r| {
            let condition = r["requestContext"]["condition"].as_str().unwrap().to_string();
            (r["fanin"]["target"].as_str().unwrap().to_string(), condition, r["requestPayload"]["fanin"]["claimCheck"] == pointer)
        })
        .collect();
    dead.sort();
    let want = |t: &str, c: &str, p| (t.to_string(), c.to_string(), p);
    assert_eq!(
        dead,
        [want("gone", "ResourceNotFound", false), want("gone", "ResourceNotFound", true), want("plain", "RequestTooLarge", false)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_payload_the_bucket_will_not_take_stays_upstream() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("large")).await;
    moto.send_all(&queue, &["x".repeat(1024 * 1024)]).await;
    let setup =
        Setup::new("", &format!("[targets.big]\nfunction = \"big\"\nlarge_payloads = {{ bucket = \"{}\" }}\n", unique("never-made")));
    setup.source("large", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\ntarget = \"big\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the write to fail", || async { daemon.log().contains("could not store the large payload") }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(daemon.running(), "{}", daemon.log());
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(lambda.invocations_for("big").is_empty(), "nothing was sent");
    assert!(setup.dead_letters().is_empty(), "nor dead-lettered");
    let (visible, in_flight) = moto.depth(&queue).await;
    assert_eq!(visible + in_flight, 1, "the message is still in the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_large_for_an_sqs_sink_goes_to_s3_and_replay_reads_it_back() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("large")).await;
    let dead = moto.queue(&unique("dead")).await;
    let bucket = unique("dead-records");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let huge = "y".repeat(1024 * 1024);
    moto.send_all(&queue, std::slice::from_ref(&huge)).await;
    let setup = Setup::new(
        "",
        &format!(
            "[dlq.messages]\ntype = \"sqs\"\nqueue_url = \"{dead}\"\nlarge_records = {{ bucket = \"{bucket}\" }}\n\
             [targets.work]\nfunction = \"work\"\ndlq = \"messages\"\n\
             [targets.big]\nfunction = \"big\"\nlarge_payloads = {{ bucket = \"{bucket}\" }}\ndlq = \"messages\"\n"
        ),
    );
    setup.source("large", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\ntarget = \"work\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the source queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    // The dead-letter message points at the record, as the SQS extended clients write it.
    let received = moto.sqs().receive_message().queue_url(&dead).message_attribute_names("All").visibility_timeout(0).send().await.unwrap();
    let message = &received.messages()[0];
    let pointer: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(pointer[0], "software.amazon.payloadoffloading.PayloadS3Pointer");
    assert_eq!(pointer[1]["s3BucketName"], bucket.as_str());
    let key = pointer[1]["s3Key"].as_str().unwrap().to_string();
    assert!(key.starts_with("fanin/dlq/large/"), "{key}");
    let record_of = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();
    let stored = moto.s3().get_object().bucket(&bucket).key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
    let size = message.message_attributes().unwrap()["ExtendedPayloadSize"].string_value().unwrap().to_string();
    assert_eq!(size, stored.len().to_string());
    let record = record_of(&stored);
    assert_eq!(record["requestContext"]["condition"], "RequestTooLarge");
    assert_eq!(record["requestPayload"]["Records"][0]["body"], huge.as_str());

    let config = setup.config();
    let replay = |target: &str| {
        let args = ["replay", "--from", &format!("sqs:{dead}"), "--config", config.to_str().unwrap(), "--target", target];
        let mut run = Daemon::spawn(&args, &moto, &lambda.url(), &[]);
        let status = run.wait(Duration::from_secs(60));
        (status.code(), format!("{}\n{}", run.stdout(), run.log()))
    };
    // Replayed where it dies again: back in the queue, through S3, with the replay counted.
    let (code, out) = replay("work");
    assert_eq!(code, Some(1), "{out}");
    let stored = moto.s3().get_object().bucket(&bucket).key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(record_of(&stored)["fanin"]["replayCount"], 1, "{out}");
    let (visible, in_flight) = moto.depth(&dead).await;
    assert_eq!(visible + in_flight, 1, "{out}");
    // Replayed to a target with a claim check: delivered, and the message is gone.
    let (code, out) = replay("big");
    assert_eq!(code, Some(0), "{out}");
    let big = lambda.accepted_payloads("big");
    assert_eq!(big.len(), 1, "{out}");
    assert!(big[0]["fanin"]["claimCheck"]["key"].is_string(), "{:?}", big[0]);
    assert_eq!(moto.depth(&dead).await, (0, 0), "{out}");
}
