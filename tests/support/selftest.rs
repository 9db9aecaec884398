//! Self-tests of the fake servers, driven by the real AWS SDK clients.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType as SdkInvocationType, LogType, ThrottleReason};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::fake_sqs::{md5_hex, FakeSqs};
use super::lambda_endpoint::{Accepted, Behavior, InvocationType, LambdaEndpoint, Reply};

type InvokeResult = Result<InvokeOutput, SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn lambda_client(url: &str, operation_timeout: Option<Duration>) -> aws_sdk_lambda::Client {
    let mut b = aws_sdk_lambda::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled());
    if let Some(t) = operation_timeout {
        b = b.timeout_config(TimeoutConfig::builder().operation_timeout(t).build());
    }
    aws_sdk_lambda::Client::from_conf(b.build())
}

fn sqs_client(url: &str) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// Event invoke of `function` with `payload`.
async fn invoke_event(client: &aws_sdk_lambda::Client, function: &str, payload: &str) -> InvokeResult {
    client.invoke().function_name(function).invocation_type(SdkInvocationType::Event).payload(Blob::new(payload)).send().await
}

fn status_of(r: &InvokeResult) -> Option<u16> {
    match r {
        Ok(o) => Some(o.status_code() as u16),
        Err(e) => e.raw_response().map(|r| r.status().as_u16()),
    }
}

#[test]
fn event_dry_run_and_request_response() {
    let ep = LambdaEndpoint::start();
    ep.set_behavior("sync-fn", Behavior::always(Reply::AcceptWith(br#"{"ok":true}"#.to_vec())));
    let client = lambda_client(&ep.url(), None);
    let context = BASE64.encode(r#"{"custom":{"source":"fanin"}}"#);
    runtime().block_on(async {
        let out = client
            .invoke()
            .function_name("my-fn")
            .qualifier("live")
            .invocation_type(SdkInvocationType::Event)
            .client_context(&context)
            .payload(Blob::new(r#"{"n":1}"#))
            .send()
            .await
            .expect("event invoke");
        assert_eq!(out.status_code(), 202);
        assert!(out.payload().is_none_or(|p| p.as_ref().is_empty()));

        let out = client.invoke().function_name("my-fn").invocation_type(SdkInvocationType::DryRun).send().await.expect("dry run");
        assert_eq!(out.status_code(), 204);

        let out =
            client.invoke().function_name("sync-fn").log_type(LogType::Tail).payload(Blob::new("{}")).send().await.expect("sync invoke");
        assert_eq!(out.status_code(), 200);
        assert_eq!(out.executed_version(), Some("$LATEST"));
        assert_eq!(out.payload().unwrap().as_ref(), br#"{"ok":true}"#);
        let log = String::from_utf8(BASE64.decode(out.log_result().expect("log result")).unwrap()).unwrap();
        assert!(log.starts_with("START RequestId: "), "{log}");

        // Default reply body of RequestResponse is `null`.
        let out = client.invoke().function_name("my-fn").send().await.expect("sync invoke");
        assert_eq!(out.payload().unwrap().as_ref(), b"null");
        assert!(out.log_result().is_none());
    });

    let dry_runs = ep.dry_runs();
    assert_eq!(dry_runs.len(), 1);
    assert_eq!((dry_runs[0].invocation_type.clone(), dry_runs[0].status), (InvocationType::DryRun, Some(204)));
    let invs = ep.invocations();
    assert_eq!(invs.len(), 3, "a DryRun is not an invocation the function receives");
    let e = &invs[0];
    assert_eq!((e.function.as_str(), e.function_name.as_str()), ("my-fn", "my-fn"));
    assert_eq!(e.qualifier.as_deref(), Some("live"));
    assert_eq!(e.invocation_type, InvocationType::Event);
    assert_eq!(e.client_context.as_deref(), Some(r#"{"custom":{"source":"fanin"}}"#));
    assert_eq!(e.payload, br#"{"n":1}"#);
    assert_eq!(e.payload_json()["n"], 1);
    assert_eq!(e.status, Some(202));
    assert_eq!((invs[1].invocation_type.clone(), invs[1].status), (InvocationType::RequestResponse, Some(200)));
    assert_eq!(invs[1].log_type.as_deref(), Some("Tail"));
    let ids: std::collections::HashSet<_> = invs.iter().map(|i| i.request_id.clone()).collect();
    assert_eq!(ids.len(), 3, "request ids unique");
    assert!(invs.iter().all(|i| i.request_id.len() == 36));
    assert!(invs.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    assert_eq!(ep.accepted().len(), 3);
    assert_eq!(ep.accepted_count(), 3);
}

#[test]
fn error_replies_map_to_sdk_errors() {
    let ep = LambdaEndpoint::start();
    ep.set_behavior("throttled", Behavior::always(Reply::throttle("ReservedFunctionConcurrentInvocationLimitExceeded", Some(7))));
    ep.set_behavior("throttled-no-retry", Behavior::always(Reply::throttle("CallerRateLimitExceeded", None)));
    ep.set_missing(&["gone"]);
    ep.set_behavior("big", Behavior::always(Reply::too_large()));
    ep.set_behavior("broken", Behavior::always(Reply::service_error()));
    ep.set_behavior("denied", Behavior::always(Reply::access_denied()));
    ep.set_behavior("pending", Behavior::always(Reply::not_ready()));
    let client = lambda_client(&ep.url(), None);
    runtime().block_on(async {
        let r = invoke_event(&client, "throttled", "{}").await;
        assert_eq!(status_of(&r), Some(429));
        match r.unwrap_err().into_service_error() {
            InvokeError::TooManyRequestsException(e) => {
                assert_eq!(e.reason(), Some(&ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded));
                assert_eq!(e.retry_after_seconds(), Some("7"));
                assert_eq!(e.message(), Some("Rate Exceeded."));
                assert_eq!(e.r#type(), Some("User"));
            }
            other => panic!("expected TooManyRequestsException, got {other:?}"),
        }
        match invoke_event(&client, "throttled-no-retry", "{}").await.unwrap_err().into_service_error() {
            InvokeError::TooManyRequestsException(e) => {
                assert_eq!(e.reason(), Some(&ThrottleReason::CallerRateLimitExceeded));
                assert_eq!(e.retry_after_seconds(), None);
            }
            other => panic!("expected TooManyRequestsException, got {other:?}"),
        }

        let r = invoke_event(&client, "gone", "{}").await;
        assert_eq!(status_of(&r), Some(404));
        let e = r.unwrap_err().into_service_error();
        assert!(matches!(e, InvokeError::ResourceNotFoundException(_)), "{e:?}");
        assert_eq!(e.message(), Some("Function not found: arn:aws:lambda:us-east-1:123456789012:function:gone"));

        let r = invoke_event(&client, "big", "{}").await;
        assert_eq!(status_of(&r), Some(413));
        assert!(matches!(r.unwrap_err().into_service_error(), InvokeError::RequestTooLargeException(_)));

        let r = invoke_event(&client, "broken", "{}").await;
        assert_eq!(status_of(&r), Some(500));
        match r.unwrap_err().into_service_error() {
            InvokeError::ServiceException(e) => assert_eq!(e.r#type(), Some("Service")),
            other => panic!("expected ServiceException, got {other:?}"),
        }

        let r = invoke_event(&client, "denied", "{}").await;
        assert_eq!(status_of(&r), Some(403));
        let e = r.unwrap_err().into_service_error();
        assert_eq!(e.code(), Some("AccessDeniedException"));
        assert!(format!("{e:?}").starts_with("Unhandled"), "AccessDeniedException is not a modeled Invoke error: {e:?}");

        let r = invoke_event(&client, "pending", "{}").await;
        assert_eq!(status_of(&r), Some(502));
        assert!(matches!(r.unwrap_err().into_service_error(), InvokeError::ResourceNotReadyException(_)));
    });
    let statuses: Vec<_> = ep.invocations().iter().map(|i| i.status).collect();
    let expected = [429, 429, 404, 413, 500, 403, 502].map(Some);
    assert_eq!(statuses, expected);
    assert!(ep.accepted().is_empty());
}

#[test]
fn protocol_checks() {
    let ep = LambdaEndpoint::start();
    ep.set_payload_limits(16, 32);
    let client = lambda_client(&ep.url(), None);
    runtime().block_on(async {
        // Over the Event limit (16) but not the sync one (32).
        let payload = r#"{"x":"0123456789abcdef"}"#;
        let r = invoke_event(&client, "f", payload).await;
        assert!(matches!(r.unwrap_err().into_service_error(), InvokeError::RequestTooLargeException(_)));
        client.invoke().function_name("f").payload(Blob::new(payload)).send().await.expect("sync within limit");

        let r = invoke_event(&client, "f", "not json").await;
        assert_eq!(status_of(&r), Some(400));
        assert!(matches!(r.unwrap_err().into_service_error(), InvokeError::InvalidRequestContentException(_)));

        let r = client.invoke().function_name("f").invocation_type(SdkInvocationType::Event).client_context("%%%not-base64").send().await;
        assert!(matches!(r.unwrap_err().into_service_error(), InvokeError::InvalidParameterValueException(_)));

        let r = client.invoke().function_name("f:alias1").qualifier("alias2").invocation_type(SdkInvocationType::Event).send().await;
        assert!(matches!(r.unwrap_err().into_service_error(), InvokeError::InvalidParameterValueException(_)));

        // Empty payload is fine.
        let out = client.invoke().function_name("f").invocation_type(SdkInvocationType::Event).send().await.unwrap();
        assert_eq!(out.status_code(), 202);
    });
    let statuses: Vec<_> = ep.invocations().iter().map(|i| i.status).collect();
    assert_eq!(statuses, [413, 200, 400, 400, 400, 202].map(Some));
    assert_eq!(ep.invocations()[3].client_context, None);
}

#[test]
fn function_name_forms() {
    let ep = LambdaEndpoint::start();
    ep.set_behavior("target", Behavior::always(Reply::throttle("CallerRateLimitExceeded", None)));
    let client = lambda_client(&ep.url(), None);
    let names = [
        "arn:aws:lambda:us-east-1:123456789012:function:target:prod",
        "arn:aws:lambda:us-east-1:123456789012:function:target",
        "123456789012:function:target:7",
        "123456789012:function:target",
        "target:blue",
        "target",
    ];
    runtime().block_on(async {
        for name in names {
            let r = invoke_event(&client, name, "{}").await;
            assert_eq!(status_of(&r), Some(429), "{name} must reach the behavior of `target`");
        }
        client.invoke().function_name("target").qualifier("$LATEST").invocation_type(SdkInvocationType::Event).send().await.unwrap_err();
    });
    let got: Vec<_> = ep.invocations().into_iter().map(|i| (i.function, i.function_name, i.qualifier)).collect();
    let expected: Vec<_> = [
        (names[0], Some("prod")),
        (names[1], None),
        (names[2], Some("7")),
        (names[3], None),
        (names[4], Some("blue")),
        (names[5], None),
        ("target", Some("$LATEST")),
    ]
    .into_iter()
    .map(|(f, q)| (f.to_string(), "target".to_string(), q.map(str::to_string)))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn slow_times_out_and_drop_fails_fast() {
    let ep = LambdaEndpoint::start();
    ep.set_behavior("slow", Behavior::always(Reply::slow(Duration::from_millis(1500), Reply::Accept)));
    ep.set_behavior("drop", Behavior::always(Reply::Drop));
    runtime().block_on(async {
        let client = lambda_client(&ep.url(), Some(Duration::from_millis(300)));
        let t0 = Instant::now();
        let r = invoke_event(&client, "slow", "{}").await;
        assert!(matches!(r, Err(SdkError::TimeoutError(_))), "{r:?}");
        assert!(t0.elapsed() < Duration::from_millis(1200));

        let client = lambda_client(&ep.url(), None);
        let t0 = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(10), invoke_event(&client, "drop", "{}"))
            .await
            .expect("a dropped connection must not hang the client");
        // The SDK reports it as DispatchFailure (ConnectorError, kind TransientError: hyper IncompleteMessage).
        assert!(matches!(r, Err(SdkError::DispatchFailure(_)) | Err(SdkError::ResponseError(_))), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));

        // Slow but within the timeout answers normally.
        ep.set_behavior("slow", Behavior::always(Reply::slow(Duration::from_millis(100), Reply::Accept)));
        let r = invoke_event(&client, "slow", "{}").await;
        assert_eq!(status_of(&r), Some(202));
    });
    let statuses: Vec<_> = ep.invocations().iter().map(|i| i.status).collect();
    assert_eq!(statuses, [Some(202), None, Some(202)]);
}

#[test]
fn a_slow_accept_counts_on_its_answer_when_asked_and_open_calls_are_measured() {
    let ep = LambdaEndpoint::start();
    ep.set_behavior("slow", Behavior::always(Reply::slow(Duration::from_millis(600), Reply::Accept)));
    let client = lambda_client(&ep.url(), None);
    for (when, accepted_while_sleeping) in [(Accepted::OnArrival, 3), (Accepted::OnAnswer, 0)] {
        ep.clear();
        ep.set_accepted_when(when);
        // Two workers: the calls run while this thread waits for them to arrive.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let calls: Vec<_> = (0..3)
                .map(|i| {
                    let client = client.clone();
                    tokio::spawn(async move { invoke_event(&client, "slow", &format!(r#"{{"i":{i}}}"#)).await })
                })
                .collect();
            assert!(ep.wait_until(Duration::from_secs(5), |invs| invs.len() == 3), "three calls arrived");
            assert_eq!(ep.accepted_count(), accepted_while_sleeping, "{when:?}: accepted while the answers sleep");
            assert_eq!(ep.accepted().len(), accepted_while_sleeping);
            assert!(ep.invocations().iter().all(|i| i.answered_at.is_none()), "none answered yet");
            for c in calls {
                assert_eq!(status_of(&c.await.unwrap()), Some(202));
            }
        });
        assert_eq!(ep.accepted_count(), 3, "{when:?}: all accepted once answered");
        assert!(ep.invocations().iter().all(|i| i.status == Some(202) && i.answered_at.is_some_and(|a| a > i.received_at)));
        assert_eq!(ep.max_in_flight("slow"), 3, "three open at once");
    }
    // One after another: never more than one open.
    ep.clear();
    runtime().block_on(async {
        for i in 0..3 {
            invoke_event(&client, "slow", &format!(r#"{{"j":{i}}}"#)).await.unwrap();
        }
    });
    assert_eq!(ep.max_in_flight("slow"), 1);
}

#[test]
fn fail_first_and_seeded_random() {
    let ep = LambdaEndpoint::start();
    ep.set_behavior("flaky", Behavior::fail_first(2, Reply::service_error()));
    let mix = || Behavior::random(42, vec![(0.3, Reply::throttle("CallerRateLimitExceeded", Some(1))), (0.1, Reply::service_error())]);
    ep.set_behavior("mixed", mix());
    let client = lambda_client(&ep.url(), None);
    let statuses = runtime().block_on(async {
        let mut flaky = Vec::new();
        for payload in [r#"{"a":1}"#, r#"{"a":1}"#, r#"{"b":2}"#, r#"{"a":1}"#, r#"{"b":2}"#, r#"{"b":2}"#] {
            flaky.push(status_of(&invoke_event(&client, "flaky", payload).await).unwrap());
        }
        assert_eq!(flaky, [500, 500, 500, 202, 500, 202]);

        let mut mixed = Vec::new();
        for i in 0..400 {
            mixed.push(status_of(&invoke_event(&client, "mixed", &format!(r#"{{"i":{}}}"#, i % 200)).await).unwrap());
        }
        mixed
    });
    let share = |s: u16| statuses.iter().filter(|x| **x == s).count() as f64 / statuses.len() as f64;
    assert!((0.2..0.4).contains(&share(429)), "429 share {}", share(429));
    assert!((0.04..0.16).contains(&share(500)), "500 share {}", share(500));
    assert!((0.5..0.7).contains(&share(202)), "202 share {}", share(202));

    // Same seed, same payloads: the same answers, on a fresh endpoint.
    let ep2 = LambdaEndpoint::start();
    ep2.set_behavior("mixed", mix());
    let client2 = lambda_client(&ep2.url(), None);
    let again = runtime().block_on(async {
        let mut v = Vec::new();
        for i in 0..400 {
            v.push(status_of(&invoke_event(&client2, "mixed", &format!(r#"{{"i":{}}}"#, i % 200)).await).unwrap());
        }
        v
    });
    assert_eq!(statuses, again);
}

#[test]
fn usable_from_async_code() {
    runtime().block_on(async {
        let ep = LambdaEndpoint::start();
        ep.set_only_existing(&["present"]);
        let client = lambda_client(&ep.url(), None);
        assert_eq!(status_of(&invoke_event(&client, "present", "{}").await), Some(202));
        assert_eq!(status_of(&invoke_event(&client, "absent", "{}").await), Some(404));
        assert_eq!(ep.invocations_for("absent").len(), 1);
        drop(ep); // stopping inside a runtime must not panic or hang
    });
}

#[test]
fn md5_matches_rfc1321_vectors() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(md5_hex(b"message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
    assert_eq!(md5_hex(b"The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
    assert_eq!(
        md5_hex(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

#[test]
fn fake_sqs_receive_and_delete_everything() {
    const N: usize = 1234;
    let sqs = FakeSqs::start(N, |i| format!(r#"{{"n":{i}}}"#));
    let client = sqs_client(&sqs.url());
    let queue_url = sqs.queue_url();
    assert!(queue_url.starts_with("http://127.0.0.1:") && queue_url.ends_with("/123456789012/bench"));
    runtime().block_on(async {
        let url = client.get_queue_url().queue_name("bench").send().await.unwrap();
        assert_eq!(url.queue_url(), Some(queue_url.as_str()));
        let err = client.get_queue_url().queue_name("nope").send().await.unwrap_err().into_service_error();
        assert!(matches!(err, aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError::QueueDoesNotExist(_)), "{err:?}");

        use aws_sdk_sqs::types::QueueAttributeName as Q;
        let attrs = client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(Q::QueueArn)
            .attribute_names(Q::VisibilityTimeout)
            .attribute_names(Q::FifoQueue)
            .send()
            .await
            .unwrap();
        let attrs = attrs.attributes().unwrap();
        assert_eq!(attrs.get(&Q::QueueArn).map(String::as_str), Some("arn:aws:sqs:us-east-1:123456789012:bench"));
        assert_eq!(attrs.get(&Q::VisibilityTimeout).map(String::as_str), Some("30"));
        assert!(!attrs.contains_key(&Q::FifoQueue));

        let mut seen = std::collections::HashSet::new();
        loop {
            let out = client
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let messages = out.messages();
            if messages.is_empty() {
                break;
            }
            assert!(messages.len() <= 10);
            let mut delete = client.delete_message_batch().queue_url(&queue_url);
            let mut change = client.change_message_visibility_batch().queue_url(&queue_url);
            for (k, m) in messages.iter().enumerate() {
                let body = m.body().unwrap();
                assert_eq!(m.md5_of_body(), Some(md5_hex(body.as_bytes()).as_str()));
                assert!(seen.insert(body.to_string()), "duplicate {body}");
                let a = m.attributes().unwrap();
                use aws_sdk_sqs::types::MessageSystemAttributeName as A;
                assert_eq!(a.get(&A::ApproximateReceiveCount).map(String::as_str), Some("1"));
                assert!(a.get(&A::SentTimestamp).unwrap().parse::<u64>().is_ok());
                assert!(a.contains_key(&A::ApproximateFirstReceiveTimestamp) && a.contains_key(&A::SenderId));
                let entry_id = format!("e{k}");
                delete = delete.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(&entry_id)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap(),
                );
                change = change.entries(
                    aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(&entry_id)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .visibility_timeout(60)
                        .build()
                        .unwrap(),
                );
            }
            let changed = change.send().await.unwrap();
            assert_eq!(changed.successful().len(), messages.len());
            let deleted = delete.send().await.unwrap();
            assert_eq!(deleted.successful().len(), messages.len());
            assert!(deleted.failed().is_empty());
        }
        assert_eq!(seen.len(), N);

        // Empty queue: answers after min(WaitTimeSeconds, 1 s) with no messages.
        let t0 = Instant::now();
        let out = client.receive_message().queue_url(&queue_url).wait_time_seconds(20).send().await.unwrap();
        assert!(out.messages().is_empty());
        assert!(t0.elapsed() >= Duration::from_millis(900) && t0.elapsed() < Duration::from_secs(3));

        // Single-message calls, and a second delete of the same handle is not counted twice.
        client.delete_message().queue_url(&queue_url).receipt_handle("rh-0-0").send().await.unwrap();
        client.change_message_visibility().queue_url(&queue_url).receipt_handle("rh-0-0").visibility_timeout(0).send().await.unwrap();
    });
    assert_eq!(sqs.received(), N);
    assert_eq!(sqs.deleted(), N);
    assert!(sqs.wait_for_deleted(N, Duration::from_millis(10)));
}
