//! Step Functions targets against moto: each event starts one execution named after it, a
//! second start of the same event counts as delivered, a missing state machine dead-letters at
//! once, an input over 256 KB is never sent to fail; validate and iam-policy know the kind.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::{numbered, PATIENCE};

/// (name, input) of every execution of `arn`.
async fn executions(moto: &Moto, arn: &str) -> Vec<(String, Value)> {
    let sfn = moto.sfn();
    let listed = sfn.list_executions().state_machine_arn(arn).send().await.unwrap();
    let mut out = Vec::new();
    for e in listed.executions() {
        let described = sfn.describe_execution().execution_arn(e.execution_arn()).send().await.unwrap();
        out.push((e.name().to_string(), serde_json::from_str(described.input().unwrap_or("null")).unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_starts_one_execution_named_after_it_and_a_second_start_counts_as_delivered() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let arn = moto.state_machine(&unique("orders-flow")).await;
    let gone = arn.replace(":stateMachine:", ":stateMachine:gone-");
    let queue = moto.queue(&unique("flow")).await;
    moto.send_all(&queue, &numbered(4)).await;
    // One message whose execution was already started (as after a stop between the start and
    // the delete): the same name, other input (the SQS record's receipt handle changes).
    let sent = moto.sqs().send_message().queue_url(&queue).message_body(r#"{"n":4}"#).send().await.unwrap();
    let id = sent.message_id().unwrap().to_string();
    let name = fanin::dispatch::step_functions::execution_name(&id, "flow");
    moto.sfn().start_execution().state_machine_arn(&arn).name(&name).input(r#"{"before":true}"#).send().await.unwrap();

    let setup = Setup::new("", &format!("[targets.flow]\nstate_machine = \"{arn}\"\n[targets.nowhere]\nstate_machine = \"{gone}\"\n"));
    setup.source(
        "flow",
        &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\n[[routes]]\ntarget = \"flow\"\n[[routes]]\ntarget = \"nowhere\"\n"),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let started = executions(&moto, &arn).await;
    assert_eq!(started.len(), 5, "one execution per event, the one started before not twice: {started:?}");
    let mut numbers: Vec<u64> = started
        .iter()
        .filter_map(|(_, input)| input["Records"][0]["body"].as_str())
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["n"].as_u64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, [0, 1, 2, 3], "the input is the event as a Lambda target would get it");
    assert!(started.iter().any(|(n, input)| *n == name && input == &json!({"before": true})));
    assert!(daemon.log().contains("execution already started for this event; counted as delivered"), "{}", daemon.log());

    // The missing state machine: dead-lettered after one attempt each.
    let records = setup.dead_letters();
    assert_eq!(records.len(), 5, "{records:?}");
    for r in &records {
        assert_eq!(r["fanin"]["target"], "nowhere");
        assert_eq!(r["requestContext"]["condition"], "ResourceNotFound");
        assert_eq!(r["requestContext"]["functionArn"], gone.as_str());
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
        assert_eq!(r["responseContext"]["errorType"], "StateMachineDoesNotExist");
    }
    assert!(lambda.invocations().is_empty(), "no Lambda was called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_over_256_kb_is_dead_lettered_as_too_large_never_sent() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let arn = moto.state_machine(&unique("big-flow")).await;
    let queue = moto.queue(&unique("big")).await;
    moto.sqs().set_queue_attributes().queue_url(&queue).attributes(QueueAttributeName::MaximumMessageSize, "1048576").send().await.unwrap();
    moto.send_all(&queue, &[format!(r#"{{"blob":"{}"}}"#, "x".repeat(300 * 1024))]).await;
    let setup = Setup::new("", &format!("[targets.flow]\nstate_machine = \"{arn}\"\n"));
    setup.source("big", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nshape = \"body\"\ntarget = \"flow\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(executions(&moto, &arn).await.is_empty());
    let records = setup.dead_letters();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["requestContext"]["condition"], "RequestTooLarge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_describes_each_state_machine_and_iam_policy_grants_starting_exactly_those() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let arn = moto.state_machine(&unique("checked")).await;
    let gone = arn.replace(":stateMachine:", ":stateMachine:gone-");
    let setup = Setup::new("", &format!("[targets.flow]\nstate_machine = \"{arn}\"\n[targets.nowhere]\nstate_machine = \"{gone}\"\n"));
    let config = setup.config();
    let mut run = Daemon::spawn(&["validate", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[]);
    assert_eq!(run.wait(PATIENCE).code(), Some(1));
    let out = run.stdout();
    assert!(out.contains(&format!("ok    target flow: state machine {arn}: exists (STANDARD")), "{out}");
    assert!(out.contains(&format!("FAIL  target nowhere: state machine {gone} does not exist")), "{out}");

    let mut run = Daemon::spawn(&["iam-policy", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[]);
    assert!(run.wait(PATIENCE).success());
    let policy: Value = serde_json::from_str(&run.stdout()).unwrap();
    let statement = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "StartExecutions").cloned();
    let mut want = vec![arn.clone(), gone.clone()];
    want.sort();
    assert_eq!(
        statement,
        Some(json!({"Sid": "StartExecutions", "Effect": "Allow", "Action": ["states:StartExecution"], "Resource": want}))
    );
    assert!(policy["Statement"].as_array().unwrap().iter().all(|s| s["Sid"] != "InvokeTargets"), "{policy}");
}
