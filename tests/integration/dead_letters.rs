//! Dead letters: what Lambda refuses is recorded before the message is deleted; a sink that
//! is down keeps the message in SQS until it is back; events too old are recorded as such.

use std::time::Duration;

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Accepted, Behavior, LambdaEndpoint, Reply};
use crate::support::{body_n, numbered, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_function_is_dead_lettered_after_one_attempt() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("ghost", Behavior::not_found());
    let queue = moto.queue(&unique("ghostly")).await;
    moto.send_all(&queue, &numbered(20)).await;
    let setup = Setup::new("", "[targets.ghost]\nfunction = \"ghost\"\nqualifier = \"live\"\n");
    setup.source("ghostly", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"ghost\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());

    eventually(PATIENCE, "20 dead-letter records", || async { setup.dead_letters().len() >= 20 }).await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let records = setup.dead_letters();
    assert_eq!(records.len(), 20);
    let mut numbers: Vec<u64> = records.iter().map(|r| body_n(&r["requestPayload"])).collect();
    numbers.sort();
    assert_eq!(numbers, (0..20).collect::<Vec<_>>());
    let r = &records[0];
    assert_eq!(r["version"], "1.0");
    assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r["requestContext"]["condition"], "ResourceNotFound");
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
    // A function given by name is named by its full ARN, in the account STS reports.
    assert_eq!(r["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:123456789012:function:ghost:live");
    assert!(r["requestContext"]["requestId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(r["responseContext"]["statusCode"], 404);
    assert_eq!(r["responseContext"]["errorType"], "ResourceNotFoundException");
    assert_eq!(r["fanin"]["source"], "ghostly");
    assert_eq!(r["fanin"]["target"], "ghost");
    assert_eq!(r["fanin"]["eventId"], r["requestPayload"]["Records"][0]["messageId"]);
    assert!(r["fanin"]["firstAttemptAt"].is_string() && r["fanin"]["lastAttemptAt"].is_string());
    assert_eq!(lambda.invocations().len(), 20, "one attempt each: a 404 is not retried");
}

/// A sink that is down: the message must stay in SQS and come back, then land once the sink exists.
async fn sink_down_then_back(
    sink_toml: &str,
    create_sink: impl std::future::Future<Output = ()>,
    moto: &Moto,
    lambda: &LambdaEndpoint,
) -> Setup {
    lambda.set_behavior("ghost", Behavior::not_found());
    let queue = moto.queue(&unique("stuck")).await;
    moto.send_all(&queue, &numbered(3)).await;
    let setup = Setup::new("", &format!("{sink_toml}\n[targets.ghost]\nfunction = \"ghost\"\ndlq = \"remote\"\n"));
    setup.source("stuck", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"ghost\"\nvisibility_timeout = \"3s\"\n"));
    let mut daemon = Daemon::start(&setup, moto, &lambda.url());

    // Each message tried, the record refused, the message left: it comes back for a second try.
    eventually(PATIENCE, "every message to come back at least once", || async {
        let tries = lambda.invocations();
        (0..3).all(|n| tries.iter().filter(|i| body_n(&i.payload_json()) == n).count() >= 2)
    })
    .await;
    let (visible, in_flight) = moto.depth(&queue).await;
    assert_eq!(visible + in_flight, 3, "a message was deleted although its dead-letter record was not written");
    assert!(daemon.log().contains("dead-letter write failed"), "the log says so");
    assert!(daemon.running(), "the daemon keeps running while the sink is down");

    create_sink.await;
    eventually(PATIENCE, "the queue to be empty once the sink is back", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(setup.dead_letters().is_empty(), "nothing went to the default file sink");
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_sink_that_is_missing_keeps_messages_until_it_exists() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let bucket = unique("dlq-bucket");
    let sink = format!("[dlq.remote]\ntype = \"s3\"\nbucket = \"{bucket}\"\nprefix = \"dead/\"\n");
    let create = async { moto.s3().create_bucket().bucket(&bucket).send().await.map(|_| ()).unwrap() };
    sink_down_then_back(&sink, create, &moto, &lambda).await;

    let records = moto.objects(&bucket, "dead/").await;
    let mut numbers: Vec<u64> = records.iter().map(|r| body_n(&r["requestPayload"])).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers, vec![0, 1, 2]);
    assert!(records.iter().all(|r| r["requestContext"]["condition"] == "ResourceNotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_sink_that_is_missing_keeps_messages_until_it_exists() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let name = unique("dlq-queue");
    let url = format!("{}/123456789012/{name}", moto.url);
    let sink = format!("[dlq.remote]\ntype = \"sqs\"\nqueue_url = \"{url}\"\n");
    let create = async {
        moto.queue(&name).await;
    };
    sink_down_then_back(&sink, create, &moto, &lambda).await;

    let out = moto.sqs().receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let mut numbers: Vec<u64> = out
        .messages()
        .iter()
        .map(|m| {
            let record: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(record["requestContext"]["condition"], "ResourceNotFound");
            body_n(&record["requestPayload"])
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers, vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_older_than_max_event_age_are_dead_lettered_as_such() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("down", Behavior::always(Reply::service_error()));
    let queue = moto.queue(&unique("aging")).await;
    moto.send_all(&queue, &numbered(5)).await;
    let setup = Setup::new(
        "",
        "[targets.down]\nfunction = \"down\"\nretry = { max_attempts = 1000, base_delay = \"100ms\", max_delay = \"300ms\", max_event_age = \"3s\" }\n",
    );
    setup.source("aging", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"down\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "5 dead-letter records", || async { setup.dead_letters().len() >= 5 }).await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    for r in setup.dead_letters() {
        assert_eq!(r["requestContext"]["condition"], "EventAgeExceeded", "{r}");
        assert!(r["requestContext"]["approximateInvokeCount"].as_u64().unwrap() >= 2, "retried until too old: {r}");
        assert_eq!(r["responseContext"]["statusCode"], 500);
        assert_eq!(r["responseContext"]["errorType"], "ServiceException");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_gets_its_own_condition_and_the_message_goes_only_when_all_settled() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("denied", Behavior::always(Reply::access_denied()));
    lambda.set_behavior("large", Behavior::always(Reply::too_large()));
    lambda.set_behavior("refused", Behavior::always(Reply::error(400, "InvalidRequestContentException", "Could not parse request body")));
    lambda.set_behavior("kms", Behavior::always(Reply::error(502, "KMSDisabledException", "key disabled")));
    // Slow, so the other routes settle first and the message must wait for this one; accepted
    // only when it answers, as fanin sees it.
    lambda.set_behavior("fine", Behavior::always(Reply::slow(Duration::from_secs(8), Reply::Accept)));
    lambda.set_accepted_when(Accepted::OnAnswer);
    let queue = moto.queue(&unique("fanned")).await;
    moto.send_all(&queue, &numbered(1)).await;
    let targets: String = ["denied", "large", "refused", "kms", "fine"]
        .iter()
        .map(|t| format!("[targets.{t}]\nfunction = \"{t}\"\ninvoke_timeout = \"30s\"\nretry = {{ max_attempts = 5, base_delay = \"10ms\" , max_delay = \"10ms\", max_event_age = \"1h\" }}\n"))
        .collect();
    let setup = Setup::new("", &targets);
    let routes: String = ["denied", "large", "refused", "kms", "fine"].iter().map(|t| format!("[[routes]]\ntarget = \"{t}\"\n")).collect();
    setup.source("fanned", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\n{routes}"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());

    eventually(PATIENCE, "four dead-letter records", || async { setup.dead_letters().len() >= 4 }).await;
    // Give a wrongly sent delete time to land while "fine" is still answering.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (visible, in_flight) = moto.depth(&queue).await;
    let fine = lambda.invocations_for("fine");
    assert!(
        fine.len() == 1 && fine[0].answered_at.is_none(),
        "the slow route answered before the others were dead-lettered: the check below would prove nothing"
    );
    assert_eq!(visible + in_flight, 1, "the message went before its last route settled");
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let mut got: Vec<(String, String, u64)> = setup
        .dead_letters()
        .iter()
        .map(|r| {
            (
                r["fanin"]["target"].as_str().unwrap().to_string(),
                r["requestContext"]["condition"].as_str().unwrap().to_string(),
                r["requestContext"]["approximateInvokeCount"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let want = |t: &str, c: &str| (t.to_string(), c.to_string(), 1);
    assert_eq!(
        got,
        vec![want("denied", "AccessDenied"), want("kms", "Rejected"), want("large", "RequestTooLarge"), want("refused", "InvalidEvent")],
        "terminal errors are dead-lettered after one attempt"
    );
    assert_eq!(lambda.accepted().len(), 1);
    assert_eq!(lambda.invocations().len(), 5, "one attempt per route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_timeouts_and_502s_are_retried_until_delivered() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior(
        "shaky",
        Behavior::from_fn(|_, seen| match seen {
            0 => Reply::Drop,
            1 => Reply::slow(Duration::from_secs(4), Reply::service_error()),
            2 => Reply::not_ready(),
            _ => Reply::Accept,
        }),
    );
    let queue = moto.queue(&unique("shaky")).await;
    moto.send_all(&queue, &numbered(10)).await;
    let setup = Setup::new(
        "",
        "[targets.shaky]\nfunction = \"shaky\"\ninvoke_timeout = \"1s\"\nretry = { max_attempts = 4, base_delay = \"50ms\", max_delay = \"100ms\", max_event_age = \"1h\" }\n",
    );
    setup.source("shaky", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"shaky\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    assert!(setup.dead_letters().is_empty(), "{:?}", setup.dead_letters());
    let log = daemon.log();
    assert!(log.contains("ConnectionError") && log.contains("Timeout") && log.contains("ResourceNotReadyException"), "each failure logged");
    for n in 0..10 {
        let tries: Vec<_> = lambda.invocations().into_iter().filter(|i| body_n(&i.payload_json()) == n).collect();
        let statuses: Vec<_> = tries.iter().map(|i| i.status).collect();
        assert_eq!(statuses, vec![None, Some(500), Some(502), Some(202)], "message {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_errors_are_retried_where_the_target_says_so() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // The key comes back after two failed attempts, for both functions.
    for function in ["patient", "strict"] {
        lambda.set_behavior(function, Behavior::fail_first(2, Reply::error(502, "KMSAccessDeniedException", "grant missing")));
    }
    let queue = moto.queue(&unique("kms")).await;
    moto.send_all(&queue, &numbered(1)).await;
    let retry = "max_attempts = 5, base_delay = \"10ms\", max_delay = \"10ms\"";
    let setup = Setup::new(
        "",
        &format!(
            "[targets.patient]\nfunction = \"patient\"\nretry = {{ {retry}, retry_kms_errors = true }}\n\
             [targets.strict]\nfunction = \"strict\"\nretry = {{ {retry} }}\n"
        ),
    );
    setup.source("kms", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\n[[routes]]\ntarget = \"patient\"\n[[routes]]\ntarget = \"strict\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    assert_eq!(lambda.invocations_for("patient").len(), 3, "two KMS errors retried, then delivered");
    assert!(lambda.invocations_for("patient")[2].is_accepted());
    assert_eq!(lambda.invocations_for("strict").len(), 1, "dead-lettered at the first KMS error");
    let dead = setup.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0]["fanin"]["target"].as_str(), dead[0]["requestContext"]["condition"].as_str()), (Some("strict"), Some("Rejected")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_file_left_torn_by_a_crash_gets_the_next_record_on_a_line_of_its_own() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("ghost", Behavior::not_found());
    let queue = moto.queue(&unique("torn")).await;
    moto.send_all(&queue, &numbered(3)).await;
    let setup = Setup::new("", "[targets.ghost]\nfunction = \"ghost\"\n");
    setup.source("torn", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"ghost\"\n"));
    std::fs::create_dir_all(setup.state_dir()).unwrap();
    let torn = "{\"version\":\"1.0\",\"timestamp\":\"2026-";
    std::fs::write(setup.state_dir().join("dlq.jsonl"), torn).unwrap();
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let text = std::fs::read_to_string(setup.state_dir().join("dlq.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], torn, "the torn line is kept as it was");
    let records: Vec<serde_json::Value> =
        lines[1..].iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let mut numbers: Vec<u64> = records.iter().map(|r| body_n(&r["requestPayload"])).collect();
    numbers.sort();
    assert_eq!(numbers, [0, 1, 2]);
}
