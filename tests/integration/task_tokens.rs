//! Task tokens on queue-fed sources, against state machines moto really runs: a
//! `sqs:sendMessage.waitForTaskToken` task is completed with the function's answer, failed
//! with fanin's cause, kept alive by heartbeats; a task that is gone settles its message; with
//! `Event` the function completes the task and fanin sends only the failure of a dead letter;
//! a callback that cannot be sent leaves the message upstream; a FIFO group's next message
//! waits for the callback of the one before.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::executing_moto::{ExecutingMoto, Recorder};
use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, Invocation, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

/// A Standard state machine of one task that sends `{"TaskToken": …, "n": $.n}` to `queue`
/// and waits for the token; `heartbeat` sets the state's `HeartbeatSeconds`.
async fn waiting_machine(moto: &Moto, queue: &str, heartbeat: Option<u32>) -> String {
    let mut task = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue, "MessageBody": {"TaskToken.$": "$$.Task.Token", "n.$": "$.n"}},
        "End": true
    });
    if let Some(seconds) = heartbeat {
        task["HeartbeatSeconds"] = json!(seconds);
    }
    let definition = json!({"StartAt": "Ask", "States": {"Ask": task}}).to_string();
    let out = moto
        .sfn()
        .create_state_machine()
        .name(unique("ask"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/fanin-test")
        .send()
        .await
        .expect("create state machine");
    out.state_machine_arn().to_string()
}

async fn start(moto: &Moto, machine: &str, n: u64) -> String {
    let out = moto.sfn().start_execution().state_machine_arn(machine).name(unique("run")).input(json!({ "n": n }).to_string()).send().await;
    out.expect("start execution").execution_arn().to_string()
}

/// (status, output, error, cause) of an execution once it is no longer running.
async fn finished(moto: &Moto, execution: &str) -> (String, Option<Value>, Option<String>, Option<String>) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let d = moto.sfn().describe_execution().execution_arn(execution).send().await.unwrap();
        if d.status().as_str() != "RUNNING" {
            return (
                d.status().as_str().to_string(),
                d.output().map(|o| serde_json::from_str(o).unwrap()),
                d.error().map(str::to_string),
                d.cause().map(str::to_string),
            );
        }
        assert!(std::time::Instant::now() < deadline, "execution {execution} still running after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn status(moto: &Moto, execution: &str) -> String {
    moto.sfn().describe_execution().execution_arn(execution).send().await.unwrap().status().as_str().to_string()
}

/// `fanin run` with its Step Functions calls through a [`Recorder`]: moto keeps a failure's
/// error but drops its cause, so the cause is checked as fanin sent it.
fn run_recorded(setup: &Setup, moto: &Moto, lambda: &LambdaEndpoint) -> (Daemon, Recorder) {
    let recorder = Recorder::start(&moto.url);
    let (config, sfn) = (setup.config(), recorder.url());
    let daemon =
        Daemon::spawn(&["run", "--config", config.to_str().unwrap()], moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SFN", sfn.as_str())]);
    (daemon, recorder)
}

/// `n` of the message body in an SQS-shaped invocation.
fn n_of(inv: &Invocation) -> u64 {
    let body: Value = serde_json::from_str(inv.payload_json()["Records"][0]["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    body["n"].as_u64().unwrap_or(u64::MAX)
}

fn token_of(inv: &Invocation) -> String {
    let body: Value = serde_json::from_str(inv.payload_json()["Records"][0]["body"].as_str().unwrap()).unwrap();
    body["TaskToken"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_task_succeeds_with_the_functions_answer_and_fails_with_fanins_cause() {
    let moto = ExecutingMoto::start();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior(
        "work",
        Behavior::from_fn(|inv, _| match n_of(inv) {
            1 => Reply::FunctionError { kind: "Unhandled".into(), error_type: "KeyError".into(), message: "'Records'".into() },
            n => Reply::AcceptWith(json!({ "done": n }).to_string().into_bytes()),
        }),
    );
    let queue = moto.queue(&unique("asks")).await;
    let machine = waiting_machine(&moto, &queue, None).await;
    let setup = Setup::new(
        "",
        "[targets.work]\nfunction = \"work\"\ninvocation_type = \"RequestResponse\"\n\
         retry = { max_attempts = 2, base_delay = \"50ms\", max_delay = \"100ms\" }\n",
    );
    setup.source("asks", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntask_token = \"$.TaskToken\"\ntarget = \"work\"\n"));
    let (mut daemon, recorder) = run_recorded(&setup, &moto, &lambda);
    let (fine, failing) = (start(&moto, &machine, 0).await, start(&moto, &machine, 1).await);

    let (state, output, ..) = finished(&moto, &fine).await;
    assert_eq!((state.as_str(), output), ("SUCCEEDED", Some(json!({"done": 0}))), "the function's answer is the task's output");
    let (state, _, error, _) = finished(&moto, &failing).await;
    assert_eq!((state.as_str(), error.as_deref()), ("FAILED", Some("KeyError")), "the function's error type fails the task");
    let failures = recorder.calls("SendTaskFailure");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!((&failures[0]["error"], &failures[0]["cause"]), (&json!("KeyError"), &json!("'Records'")), "fanin's cause on the wire");
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    assert_eq!(lambda.invocations_for("work").iter().filter(|i| n_of(i) == 1).count(), 2, "retried, then dead-lettered");
    let records = setup.dead_letters();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["requestContext"]["condition"], "RetriesExhausted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_slow_task_alive_and_a_task_that_timed_out_settles_its_message() {
    let moto = ExecutingMoto::start();
    let lambda = LambdaEndpoint::start();
    // Four seconds of work against a heartbeat timeout of two.
    lambda.set_default_behavior(Behavior::always(Reply::slow(Duration::from_secs(4), Reply::AcceptWith(br#"{"slow":true}"#.to_vec()))));
    let (beating, silent) = (moto.queue(&unique("beating")).await, moto.queue(&unique("silent")).await);
    let (beating_machine, silent_machine) =
        (waiting_machine(&moto, &beating, Some(2)).await, waiting_machine(&moto, &silent, Some(2)).await);
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\ninvocation_type = \"RequestResponse\"\n");
    let source = |queue: &str, extra: &str| {
        format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntask_token = \"$.TaskToken\"\n{extra}target = \"work\"\n")
    };
    setup.source("beating", &source(&beating, "heartbeat = \"1s\"\n"));
    setup.source("silent", &source(&silent, ""));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let (kept, lost) = (start(&moto, &beating_machine, 0).await, start(&moto, &silent_machine, 1).await);

    let (state, output, ..) = finished(&moto, &kept).await;
    assert_eq!((state.as_str(), output), ("SUCCEEDED", Some(json!({"slow": true}))), "heartbeats kept the task open");
    let (state, _, error, _) = finished(&moto, &lost).await;
    // Step Functions says States.HeartbeatTimeout; moto says States.Timeout.
    assert_eq!(state, "FAILED", "without heartbeats the task times out");
    assert!(matches!(error.as_deref(), Some("States.HeartbeatTimeout" | "States.Timeout")), "{error:?}");
    // The silent source's callback finds its task gone: the message is settled, not retried forever.
    for queue in [&beating, &silent] {
        eventually(PATIENCE, "the queue to be empty", || async { moto.depth(queue).await == (0, 0) }).await;
    }
    eventually(PATIENCE, "the gone task to be logged", || async { daemon.log().contains("the task is gone") }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert_eq!(lambda.invocations().len(), 2, "each event invoked once");
    assert!(setup.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_event_the_function_completes_the_task_and_fanin_fails_only_a_dead_letter() {
    let moto = ExecutingMoto::start();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("hand-off", Behavior::from_fn(|inv, _| if n_of(inv) == 1 { Reply::not_found("hand-off") } else { Reply::Accept }));
    let queue = moto.queue(&unique("hand-off")).await;
    let machine = waiting_machine(&moto, &queue, None).await;
    let setup = Setup::new("", "[targets.hand-off]\nfunction = \"hand-off\"\n");
    setup.source("hand-off", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntask_token = \"$.TaskToken\"\ntarget = \"hand-off\"\n"));
    let (mut daemon, recorder) = run_recorded(&setup, &moto, &lambda);
    let (handed, dead) = (start(&moto, &machine, 0).await, start(&moto, &machine, 1).await);

    let (state, _, error, _) = finished(&moto, &dead).await;
    assert_eq!((state.as_str(), error.as_deref()), ("FAILED", Some("ResourceNotFound")), "the dead-letter condition is the error");
    let failures = recorder.calls("SendTaskFailure");
    assert_eq!(failures.len(), 1, "{failures:?}");
    let cause = failures[0]["cause"].as_str().unwrap_or_default();
    assert!(cause.starts_with("ResourceNotFoundException (404): Function not found"), "{cause}");
    assert!(recorder.calls("SendTaskSuccess").is_empty(), "the accepted event's task is the function's to complete");
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    // The accepted event's task is the function's to complete: fanin left it running.
    assert_eq!(status(&moto, &handed).await, "RUNNING");
    let invoked = lambda.invocations_for("hand-off").into_iter().find(|i| n_of(i) == 0).expect("the accepted event");
    moto.sfn().send_task_success().task_token(token_of(&invoked)).output(r#"{"by":"function"}"#).send().await.unwrap();
    let (state, output, ..) = finished(&moto, &handed).await;
    assert_eq!((state.as_str(), output), ("SUCCEEDED", Some(json!({"by": "function"}))));
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_cannot_be_sent_leaves_the_message_upstream() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("unreachable")).await;
    moto.send_all(&queue, &[json!({"TaskToken": "token-1", "n": 0}).to_string()]).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\ninvocation_type = \"RequestResponse\"\n");
    setup.source(
        "unreachable",
        &format!(
            "type = \"sqs\"\nqueue_url = \"{queue}\"\nvisibility_timeout = \"30s\"\ntask_token = \"$.TaskToken\"\ntarget = \"work\"\n"
        ),
    );
    // Step Functions is nowhere: every callback fails to connect.
    let config = setup.config();
    let mut daemon = Daemon::spawn(
        &["run", "--config", config.to_str().unwrap()],
        &moto,
        &lambda.url(),
        &[("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:9")],
    );
    eventually(PATIENCE, "the callback to be given up", || async {
        daemon.log().contains("task callback not taken; the message stays upstream")
    })
    .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert_eq!(moto.depth(&queue).await, (0, 1), "the message stays in the queue, hidden until its visibility runs out");
    assert_eq!(lambda.invocations_for("work").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_groups_next_message_waits_for_the_task_callback_of_the_one_before() {
    // moto without executions takes any token's callback: the order is what is checked here.
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("work", Behavior::from_fn(|inv, _| Reply::AcceptWith(json!({ "done": n_of(inv) }).to_string().into_bytes())));
    let queue = moto.queue(&format!("{}.fifo", unique("asks"))).await;
    for n in 0..3 {
        let body = json!({ "TaskToken": format!("token-{n}"), "n": n }).to_string();
        let send = moto.sqs().send_message().queue_url(&queue).message_body(body).message_group_id("g");
        send.message_deduplication_id(format!("d{n}")).send().await.unwrap();
    }
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\ninvocation_type = \"RequestResponse\"\n");
    setup.source(
        "asks",
        &format!(
            "type = \"sqs\"\nqueue_url = \"{queue}\"\npollers = 1\nwait_time = \"1s\"\ntask_token = \"$.TaskToken\"\ntarget = \"work\"\n"
        ),
    );
    let (mut daemon, recorder) = run_recorded(&setup, &moto, &lambda);
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let completed: Vec<(String, String)> = recorder
        .calls("SendTaskSuccess")
        .iter()
        .map(|c| (c["taskToken"].as_str().unwrap().to_string(), c["output"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> = (0..3).map(|n| (format!("token-{n}"), json!({ "done": n }).to_string())).collect();
    assert_eq!(completed, want, "each task completed with its answer, in the group's order");
    let invoked: Vec<u64> = lambda.invocations_for("work").iter().map(n_of).collect();
    assert_eq!(invoked, [0, 1, 2]);
}
