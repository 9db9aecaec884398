//! X-Ray trace propagation: the `AWSTraceHeader` an SQS message was sent with reaches the
//! function as `X-Amzn-Trace-Id` (Invoke and function URL) and a state machine as
//! `traceHeader`; with `[tracing] start_traces` a cron fire starts a new trace in X-Ray's format.

use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};

use crate::support::executing_moto::Recorder;
use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// Sends `body` with `trace` as its `AWSTraceHeader` (one by one: `SendMessageBatch` in moto drops it).
async fn send_traced(moto: &Moto, queue: &str, body: &str, trace: Option<&str>) {
    let mut send = moto.sqs().send_message().queue_url(queue).message_body(body);
    if let Some(trace) = trace {
        let value = MessageSystemAttributeValue::builder().data_type("String").string_value(trace).build().unwrap();
        send = send.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value);
    }
    send.send().await.expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messages_trace_header_reaches_the_function_its_url_and_a_state_machine() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let machine = moto.state_machine(&unique("traced-flow")).await;
    let queue = moto.queue(&unique("traced")).await;
    send_traced(&moto, &queue, r#"{"n":0}"#, Some(TRACE)).await;
    send_traced(&moto, &queue, r#"{"n":1}"#, None).await;
    let setup = Setup::new(
        "",
        &format!(
            "[targets.work]\nfunction = \"work\"\n[targets.hook]\nurl = \"{}\"\nauth = \"NONE\"\n[targets.flow]\nstate_machine = \"{machine}\"\n",
            lambda.function_url("hook")
        ),
    );
    setup.source(
        "traced",
        &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\n[[routes]]\ntarget = \"work\"\n[[routes]]\ntarget = \"hook\"\n[[routes]]\ntarget = \"flow\"\n"),
    );
    let recorder = Recorder::start(&moto.url);
    let (config, sfn) = (setup.config(), recorder.url());
    let mut daemon =
        Daemon::spawn(&["run", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SFN", sfn.as_str())]);
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    for function in ["work", "hook"] {
        let calls = lambda.invocations_for(function);
        assert_eq!(calls.len(), 2, "{function}");
        for call in calls {
            let traced = call.payload_str().contains(r#"\"n\":0"#);
            let want = traced.then_some(TRACE);
            assert_eq!(call.trace_header.as_deref(), want, "{function}: the message's own trace, and none where it had none");
        }
    }
    let starts = recorder.calls("StartExecution");
    assert_eq!(starts.len(), 2, "{starts:?}");
    let traced: Vec<_> = starts.iter().filter_map(|s| s["traceHeader"].as_str()).collect();
    assert_eq!(traced, [TRACE], "only the traced message's execution carries a traceHeader: {starts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_start_traces_a_cron_fire_starts_a_trace_of_its_own() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", "[tracing]\nstart_traces = true\n[targets.work]\nfunction = \"work\"\n");
    setup.source("tick", "type = \"cron\"\nschedule = \"* * * * * *\"\ntarget = \"work\"\n");
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "two fires", || async { lambda.invocations_for("work").len() >= 2 }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let calls = lambda.invocations_for("work");
    let mut roots = Vec::new();
    for call in &calls {
        let header = call.trace_header.clone().expect("a trace for every fire");
        let root = header.strip_prefix("Root=1-").unwrap_or_else(|| panic!("X-Ray's format: {header}"));
        let (time, id) = root.split_once('-').unwrap();
        let time = u64::from_str_radix(time, 16).unwrap();
        assert!(time <= now && now - time < 120, "the trace id starts with the time it began: {header}");
        assert!(id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()), "{header}");
        roots.push(header);
    }
    roots.sort();
    roots.dedup();
    assert_eq!(roots.len(), calls.len(), "each fire its own trace");
}
