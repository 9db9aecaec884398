//! `fanin events` and `fanin invoke`: a sample event piped into a one-off invoke with a
//! target's settings; what Lambda answered printed; validate's advice when the call failed.

use crate::support::harness::{Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, InvocationType, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

const TARGETS: &str = "[targets.resize]\nfunction = \"resize\"\nqualifier = \"live\"\nclient_context = { app = \"fanin\" }\n\
                       [targets.plain]\nfunction = \"plain\"\n";

/// Runs a fanin command with `input` on stdin: (exit code, stdout, stderr).
fn fanin(args: &[&str], moto: &Moto, lambda: &LambdaEndpoint, input: Option<&[u8]>) -> (Option<i32>, String, String) {
    let mut run = Daemon::spawn_fed(args, moto, &lambda.url(), &[], input);
    let status = run.wait(PATIENCE);
    (status.code(), run.stdout(), run.log())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_event_piped_into_invoke_reaches_the_function_with_the_targets_settings() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("resize", Behavior::always(Reply::AcceptWith(br#"{"resized":true}"#.to_vec())));
    let setup = Setup::new("", TARGETS);
    let config = setup.config();
    let config = config.to_str().unwrap();
    let (code, event, err) = fanin(&["events", "s3", "--key", "in/photo 1.jpg"], &moto, &lambda, None);
    assert_eq!(code, Some(0), "{err}");
    let args = ["invoke", "--config", config, "--target", "resize", "--event", "-", "--type", "RequestResponse", "--log-tail"];
    let (code, out, err) = fanin(&args, &moto, &lambda, Some(event.as_bytes()));
    assert_eq!(code, Some(0), "{out}\n{err}");

    let calls = lambda.invocations();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.invocation_type, InvocationType::RequestResponse);
    assert_eq!((call.function_name.as_str(), call.qualifier.as_deref()), ("resize", Some("live")));
    assert_eq!(call.client_context.as_deref(), Some(r#"{"app":"fanin"}"#));
    assert_eq!(call.log_type.as_deref(), Some("Tail"));
    let sent = call.payload_json();
    assert_eq!(sent, serde_json::from_str::<serde_json::Value>(&event).unwrap(), "the event as fanin events printed it");
    assert_eq!(sent["Records"][0]["s3"]["object"]["key"], "in/photo+1.jpg");
    for says in [
        "status:           200",
        &format!("request id:       {}", call.request_id),
        "executed version: $LATEST",
        "log tail:",
        "  START RequestId:",
        "response payload:",
        "\"resized\": true",
    ] {
        assert!(out.contains(says), "{says:?} missing from:\n{out}");
    }

    // The target's own type (Event) by default: 202, nothing more to show.
    let (code, out, err) = fanin(&["invoke", "--config", config, "--target", "plain"], &moto, &lambda, None);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("status:           202") && !out.contains("response payload"), "{out}");
    assert_eq!(lambda.invocations()[1].payload_str(), "{}");
    let (code, out, _) = fanin(&["invoke", "--config", config, "--target", "plain", "--type", "DryRun"], &moto, &lambda, None);
    assert_eq!(code, Some(0));
    assert!(out.contains("status:           204"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_shows_its_payload_and_log_tail_and_exits_1() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let error = Reply::FunctionError { kind: "Unhandled".into(), error_type: "KeyError".into(), message: "'Records'".into() };
    lambda.set_behavior("plain", Behavior::always(error));
    let setup = Setup::new("", TARGETS);
    let config = setup.config();
    let args = ["invoke", "--config", config.to_str().unwrap(), "--target", "plain", "--type", "RequestResponse", "--log-tail"];
    let (code, out, err) = fanin(&args, &moto, &lambda, None);
    assert_eq!(code, Some(1), "{out}\n{err}");
    for says in ["function error:   Unhandled", "\"errorType\": \"KeyError\"", "ERROR\tInvoke Error"] {
        assert!(out.contains(says), "{says:?} missing from:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_invoke_gets_validates_advice_a_missing_alias_and_a_missing_permission() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior(
        "resize",
        Behavior::from_fn(|inv, _| match &inv.qualifier {
            Some(q) => Reply::not_found(&format!("{}:{q}", inv.function_name)),
            None => Reply::Accept,
        }),
    );
    lambda.set_behavior("plain", Behavior::always(Reply::access_denied()));
    let setup = Setup::new("", TARGETS);
    let config = setup.config();
    let config = config.to_str().unwrap();
    let (code, out, _) = fanin(&["invoke", "--config", config, "--target", "resize"], &moto, &lambda, None);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("status:           404") && out.contains("ResourceNotFoundException"), "{out}");
    assert!(
        out.contains("function resize has no alias or version \"live\"") && out.contains("aws lambda list-aliases --function-name resize"),
        "{out}"
    );
    let (code, out, _) = fanin(&["invoke", "--config", config, "--target", "plain"], &moto, &lambda, None);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("AccessDeniedException") && out.contains("\"lambda:InvokeFunction\""), "{out}");
    assert!(out.contains("arn:aws:lambda:us-east-1:*:function:plain"), "the statement names the resource: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_send_nothing() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", TARGETS);
    let config = setup.config();
    let config = config.to_str().unwrap();
    let (code, _, err) = fanin(&["invoke", "--config", config, "--target", "nope"], &moto, &lambda, None);
    assert_eq!(code, Some(2));
    assert!(err.contains("no target named \"nope\"") && err.contains("plain, resize"), "{err}");
    let (code, _, err) = fanin(&["invoke", "--config", config, "--target", "plain", "--event", "-"], &moto, &lambda, Some(b"not json"));
    assert_eq!(code, Some(2));
    assert!(err.contains("not JSON"), "{err}");
    let (code, _, err) = fanin(&["invoke", "--config", config, "--target", "plain", "--log-tail"], &moto, &lambda, None);
    assert_eq!(code, Some(2));
    assert!(err.contains("--log-tail needs --type RequestResponse"), "{err}");
    let (code, _, err) = fanin(&["events", "eventbridge", "--detail", "{"], &moto, &lambda, None);
    assert_eq!(code, Some(2), "{err}");
    assert!(lambda.invocations().is_empty());
}
