//! The pattern language against the EventBridge documentation's examples, and its errors.

use super::*;
use serde_json::json;

fn pat(v: Value) -> Pattern {
    Pattern::parse(&v).unwrap_or_else(|e| panic!("pattern refused: {e}"))
}

fn err(v: Value) -> PatternError {
    match Pattern::parse(&v) {
        Ok(p) => panic!("pattern accepted: {p:?}"),
        Err(e) => e,
    }
}

/// The EC2 state-change event from the "Event patterns" page.
fn ec2_event() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
    })
}

/// The sample event from the event-ruler README, used by the content-filtering examples.
fn ruler_event() -> Value {
    json!({
        "version": "0",
        "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "012345679012",
        "time": "2017-10-02T16:24:49Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {
            "c-count": 5,
            "d-count": 3,
            "x-limit": 301.8,
            "source-ip": "10.0.0.33",
            "instance-id": "i-000000aaaaaa00000",
            "state": "running"
        }
    })
}

/// An S3 "Object Created" event as delivered to EventBridge.
fn s3_object_created(key: &str) -> Value {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-11-12T00:00:00Z",
        "region": "ca-central-1",
        "resources": ["arn:aws:s3:::example-bucket"],
        "detail": {
            "version": "0",
            "bucket": {"name": "example-bucket"},
            "object": {
                "key": key,
                "size": 5,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "617f08299329d189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject"
        }
    })
}

fn with_detail(detail: Value) -> Value {
    json!({"source": "test", "detail": detail})
}

#[test]
fn ec2_termination_example() {
    let p = pat(json!({
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["terminated"]}
    }));
    assert!(p.matches(&ec2_event()));
    let mut running = ec2_event();
    running["detail"]["state"] = json!("running");
    assert!(!p.matches(&running));
    let mut other_source = ec2_event();
    other_source["source"] = json!("aws.fargate");
    assert!(!p.matches(&other_source));
}

#[test]
fn array_of_values_is_or() {
    let p = pat(json!({"source": ["aws.ec2", "aws.fargate"]}));
    assert!(p.matches(&json!({"source": "aws.ec2"})));
    assert!(p.matches(&json!({"source": "aws.fargate"})));
    assert!(!p.matches(&json!({"source": "aws.s3"})));
}

#[test]
fn pattern_field_missing_from_event_does_not_match() {
    let p = pat(json!({"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}));
    assert!(!p.matches(&json!({"source": "aws.ec2"})));
    assert!(!p.matches(&json!({"source": "aws.ec2", "detail": {}})));
    // Same name but wrong nesting.
    assert!(!p.matches(&json!({"source": "aws.ec2", "state": "terminated"})));
}

#[test]
fn macie_nested_numbers_example() {
    let p = pat(json!({
        "source": ["aws.macie"],
        "detail-type": ["Macie Alert"],
        "detail": {"risk-score": [80], "trigger": {"risk": [8]}}
    }));
    let event = json!({
        "source": "aws.macie",
        "detail-type": "Macie Alert",
        "detail": {
            "notification-type": "ALERT_CREATED",
            "tags": ["Custom_Alert", "Insider"],
            "risk-score": 80,
            "trigger": {"alert-type": "basic", "risk": 8}
        }
    });
    assert!(p.matches(&event));
    let mut lower_risk = event.clone();
    lower_risk["detail"]["trigger"]["risk"] = json!(7);
    assert!(!p.matches(&lower_risk));
    let mut string_score = event;
    string_score["detail"]["risk-score"] = json!("80");
    assert!(!p.matches(&string_score));
}

#[test]
fn null_and_empty_string_example() {
    let event = json!({
        "source": "aws.autoscaling",
        "detail-type": "EC2 Instance Launch Successful",
        "resources": [],
        "detail": {"eventVersion": "", "responseElements": null}
    });
    assert!(pat(json!({"detail": {"eventVersion": [""]}})).matches(&event));
    assert!(pat(json!({"detail": {"responseElements": [null]}})).matches(&event));
    // Null and the empty string are not interchangeable.
    assert!(!pat(json!({"detail": {"eventVersion": [null]}})).matches(&event));
    assert!(!pat(json!({"detail": {"responseElements": [""]}})).matches(&event));
}

#[test]
fn null_versus_missing_versus_exists() {
    let null_event = with_detail(json!({"x": null}));
    let missing_event = with_detail(json!({}));
    let null_p = pat(json!({"detail": {"x": [null]}}));
    assert!(null_p.matches(&null_event));
    assert!(!null_p.matches(&missing_event));
    let exists = pat(json!({"detail": {"x": [{"exists": true}]}}));
    assert!(exists.matches(&null_event));
    assert!(!exists.matches(&missing_event));
    let absent = pat(json!({"detail": {"x": [{"exists": false}]}}));
    assert!(!absent.matches(&null_event));
    assert!(absent.matches(&missing_event));
}

#[test]
fn booleans_match_exactly() {
    let p = pat(json!({"detail": {"enabled": [true]}}));
    assert!(p.matches(&with_detail(json!({"enabled": true}))));
    assert!(!p.matches(&with_detail(json!({"enabled": false}))));
    assert!(!p.matches(&with_detail(json!({"enabled": "true"}))));
}

#[test]
fn strings_are_case_sensitive_and_not_numbers() {
    let p = pat(json!({"detail": {"state": ["Running"]}}));
    assert!(!p.matches(&with_detail(json!({"state": "running"}))));
    let p = pat(json!({"detail": {"code": ["5"]}}));
    assert!(!p.matches(&with_detail(json!({"code": 5}))));
}

#[test]
fn numbers_compare_numerically() {
    let five = pat(json!({"detail": {"n": [5]}}));
    assert!(five.matches(&with_detail(json!({"n": 5}))));
    assert!(five.matches(&with_detail(json!({"n": 5.0}))));
    assert!(!five.matches(&with_detail(json!({"n": 5.5}))));
    let p = pat(json!({"detail": {"n": [300.0]}}));
    assert!(p.matches(&serde_json::from_str(r#"{"detail": {"n": 3.0e2}}"#).unwrap()));
    assert!(p.matches(&with_detail(json!({"n": 300}))));
    // Large integers (account numbers) compare exactly.
    let p = pat(json!({"detail": {"n": [123456789012345678u64]}}));
    assert!(p.matches(&with_detail(json!({"n": 123456789012345678u64}))));
    assert!(!p.matches(&with_detail(json!({"n": 123456789012345679u64}))));
}

#[test]
fn event_arrays_match_if_any_element_matches() {
    // The "Arrays in event patterns" example.
    let p = pat(json!({"resources": [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"
    ]}));
    let event = json!({"resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
    ]});
    assert!(p.matches(&event));
    assert!(!p.matches(&json!({"resources": ["arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f"]})));
    assert!(!p.matches(&json!({"resources": []})));
    // Nested arrays are flattened.
    let p = pat(json!({"tags": ["b"]}));
    assert!(p.matches(&json!({"tags": [["a"], ["b", "c"]]})));
}

#[test]
fn arrays_of_objects_match_within_one_element() {
    let event = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}
    ]});
    assert!(pat(json!({"employees": {"firstName": ["Anna"]}})).matches(&event));
    assert!(pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}})).matches(&event));
    assert!(!pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}})).matches(&event));
    // Multi-level arrays.
    let nested = json!({"employees": [
        [{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}],
        [{"firstName": "Peter", "lastName": "Jones"}]
    ]});
    assert!(pat(json!({"employees": {"firstName": ["Peter"]}})).matches(&nested));
    assert!(!pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}})).matches(&nested));
}

#[test]
fn s3_object_created_prefix_and_suffix() {
    let p = pat(json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["example-bucket"]},
            "object": {"key": [{"prefix": "uploads/"}]}
        }
    }));
    assert!(p.matches(&s3_object_created("uploads/cat.png")));
    assert!(!p.matches(&s3_object_created("other/cat.png")));

    let png = pat(json!({
        "source": ["aws.s3"],
        "detail": {"object": {"key": [{"suffix": ".png"}]}}
    }));
    assert!(png.matches(&s3_object_created("uploads/cat.png")));
    assert!(!png.matches(&s3_object_created("uploads/cat.PNG")));
    assert!(!png.matches(&s3_object_created("uploads/cat.png.txt")));

    let both = pat(json!({"detail": {"object": {
        "key": [{"wildcard": "uploads/*.png"}],
        "size": [{"numeric": [">", 0]}]
    }}}));
    assert!(both.matches(&s3_object_created("uploads/a/b.png")));
    assert!(!both.matches(&s3_object_created("downloads/b.png")));
}

#[test]
fn prefix_matching() {
    let p = pat(json!({"time": [{"prefix": "2017-10-02"}]}));
    assert!(p.matches(&ruler_event()));
    assert!(p.matches(&json!({"time": "2017-10-02T18:43:48Z"})));
    assert!(!p.matches(&json!({"time": "2017-10-03T18:43:48Z"})));
    // Prefix applies to strings only.
    let p = pat(json!({"n": [{"prefix": "12"}]}));
    assert!(!p.matches(&json!({"n": 123})));
}

#[test]
fn prefix_ignore_case() {
    let p = pat(json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}));
    for service in ["EventBridge", "eventbridge", "EVENTBRIDGE", "eVeNtB"] {
        assert!(p.matches(&with_detail(json!({"service": service}))), "{service}");
    }
    assert!(!p.matches(&with_detail(json!({"service": "Event Bridge"}))));
}

#[test]
fn suffix_matching_and_ignore_case() {
    let p = pat(json!({"source": [{"suffix": "ec2"}]}));
    assert!(p.matches(&ruler_event()));
    assert!(!p.matches(&json!({"source": "aws.EC2"})));
    let p = pat(json!({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}));
    assert!(p.matches(&with_detail(json!({"FileName": "photo.png"}))));
    assert!(p.matches(&with_detail(json!({"FileName": "photo.PNG"}))));
    assert!(p.matches(&with_detail(json!({"FileName": "photo.Png"}))));
    assert!(!p.matches(&with_detail(json!({"FileName": "photo.jpg"}))));
}

#[test]
fn equals_ignore_case() {
    let p = pat(json!({"source": [{"equals-ignore-case": "AWS.EC2"}]}));
    assert!(p.matches(&ruler_event()));
    let p = pat(json!({"Name": [{"equals-ignore-case": "alice"}]}));
    assert!(p.matches(&json!({"Name": "Alice"})));
    assert!(p.matches(&json!({"Name": "ALICE"})));
    assert!(!p.matches(&json!({"Name": "Alicia"})));
}

#[test]
fn wildcard_matching() {
    let p = pat(json!({"source": [{"wildcard": "Simple*Service"}]}));
    assert!(p.matches(&json!({"source": "SimpleQueueService"})));
    assert!(p.matches(&json!({"source": "SimpleService"})));
    assert!(!p.matches(&json!({"source": "SimpleServiceX"})));
    let p = pat(json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}));
    assert!(p.matches(&json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})));
    assert!(!p.matches(&json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"})));
    let p = pat(json!({"key": [{"wildcard": "dir/*.png"}]}));
    assert!(p.matches(&json!({"key": "dir/a.png"})));
    assert!(p.matches(&json!({"key": "dir/a/b.png"})));
    assert!(!p.matches(&json!({"key": "dir/a.jpg"})));
    // "*.png" then "a*a" with overlapping pieces.
    let p = pat(json!({"k": [{"wildcard": "a*a"}]}));
    assert!(p.matches(&json!({"k": "aa"})));
    assert!(!p.matches(&json!({"k": "a"})));
}

#[test]
fn wildcard_escapes() {
    // JSON "a\\*b" is the pattern text a\*b: a literal star.
    let p = Pattern::parse_str(r#"{"k": [{"wildcard": "a\\*b"}]}"#).unwrap();
    assert!(p.matches(&json!({"k": "a*b"})));
    assert!(!p.matches(&json!({"k": "axb"})));
    let p = Pattern::parse_str(r#"{"k": [{"wildcard": "c:\\\\*"}]}"#).unwrap();
    assert!(p.matches(&json!({"k": "c:\\temp"})));
    assert!(!p.matches(&json!({"k": "c:/temp"})));
}

#[test]
fn anything_but_string_and_number() {
    let p = pat(json!({"detail": {"state": [{"anything-but": "initializing"}]}}));
    assert!(p.matches(&ruler_event()));
    assert!(!p.matches(&with_detail(json!({"state": "initializing"}))));
    // The field must be present.
    assert!(!p.matches(&with_detail(json!({}))));
    // Other types are not excluded.
    assert!(p.matches(&with_detail(json!({"state": 5}))));
    let p = pat(json!({"detail": {"x-limit": [{"anything-but": 123}]}}));
    assert!(p.matches(&ruler_event()));
    assert!(!p.matches(&with_detail(json!({"x-limit": 123}))));
    assert!(!p.matches(&with_detail(json!({"x-limit": 123.0}))));
    assert!(p.matches(&with_detail(json!({"x-limit": "123"}))));
}

#[test]
fn anything_but_lists() {
    let p = pat(json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}));
    assert!(p.matches(&ruler_event()));
    assert!(!p.matches(&with_detail(json!({"state": "stopped"}))));
    assert!(!p.matches(&with_detail(json!({"state": "overloaded"}))));
    let p = pat(json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}));
    assert!(p.matches(&ruler_event()));
    assert!(!p.matches(&with_detail(json!({"x-limit": 200}))));
    assert!(!p.matches(&with_detail(json!({"x-limit": 3.0e2}))));
    // An event array matches if any element is not excluded.
    let p = pat(json!({"tags": [{"anything-but": "a"}]}));
    assert!(p.matches(&json!({"tags": ["a", "b"]})));
    assert!(!p.matches(&json!({"tags": ["a", "a"]})));
}

#[test]
fn anything_but_prefix_and_suffix() {
    let p = pat(json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}));
    assert!(p.matches(&ruler_event()));
    assert!(!p.matches(&with_detail(json!({"state": "initializing"}))));
    let p = pat(json!({"Region": [{"anything-but": {"prefix": "us-"}}]}));
    assert!(p.matches(&json!({"Region": "eu-west-1"})));
    assert!(!p.matches(&json!({"Region": "us-east-1"})));
    let p = pat(json!({"FileName": [{"anything-but": {"suffix": ".png"}}]}));
    assert!(p.matches(&json!({"FileName": "photo.jpg"})));
    assert!(!p.matches(&json!({"FileName": "photo.png"})));
    let p = pat(json!({"Region": [{"anything-but": {"prefix": ["us-", "eu-"]}}]}));
    assert!(p.matches(&json!({"Region": "ap-south-1"})));
    assert!(!p.matches(&json!({"Region": "eu-west-1"})));
}

#[test]
fn anything_but_ignore_case() {
    let p = pat(json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}));
    assert!(p.matches(&with_detail(json!({"state": "running"}))));
    assert!(!p.matches(&with_detail(json!({"state": "INITIALIZING"}))));
    assert!(!p.matches(&with_detail(json!({"state": "Initializing"}))));
    let p = pat(json!({"state": [{"anything-but": {"equals-ignore-case": ["stopped", "overloaded"]}}]}));
    assert!(!p.matches(&json!({"state": "Stopped"})));
    assert!(!p.matches(&json!({"state": "OVERLOADED"})));
    assert!(p.matches(&json!({"state": "running"})));
}

#[test]
fn anything_but_wildcard() {
    let p = pat(json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}));
    assert!(p.matches(&json!({"FilePath": "/usr/bin/env"})));
    assert!(!p.matches(&json!({"FilePath": "/usr/lib/libc.so"})));
    let p = pat(json!({"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}));
    assert!(!p.matches(&json!({"FilePath": "/usr/bin/env"})));
    assert!(p.matches(&json!({"FilePath": "/home/me/notes.txt"})));
}

#[test]
fn numeric_matching_example() {
    let p = pat(json!({"detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"numeric": ["=", 3.018e2]}]
    }}));
    assert!(p.matches(&ruler_event()));
    let check = |c: Value, d: Value, x: Value| p.matches(&with_detail(json!({"c-count": c, "d-count": d, "x-limit": x})));
    assert!(check(json!(1), json!(9.99), json!(301.8)));
    assert!(!check(json!(0), json!(3), json!(301.8)), "lower bound is exclusive");
    assert!(!check(json!(6), json!(3), json!(301.8)));
    assert!(!check(json!(5), json!(10), json!(301.8)), "< 10 excludes 10");
    assert!(!check(json!(5), json!(3), json!(301.9)));
    assert!(!check(json!("5"), json!(3), json!(301.8)), "only numbers match");
}

#[test]
fn numeric_operators() {
    let m = |range: Value, n: Value| pat(json!({"n": [{"numeric": range}]})).matches(&json!({"n": n}));
    assert!(m(json!([">=", 5]), json!(5)));
    assert!(!m(json!([">", 5]), json!(5)));
    assert!(m(json!(["<=", 5]), json!(5.0)));
    assert!(!m(json!(["<", 5]), json!(5)));
    assert!(m(json!(["=", 5]), json!(5.0)));
    assert!(m(json!([">=", -1.5, "<", 0]), json!(-1.5)));
    // Values outside the documented range never match numerically.
    assert!(!m(json!([">", 0]), json!(6.0e9)));
    assert!(!m(json!([">", 0]), json!(null)));
    assert!(!m(json!([">", 0]), json!(true)));
}

#[test]
fn cidr_matching() {
    let p = pat(json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}));
    assert!(p.matches(&with_detail(json!({"sourceIPAddress": "10.0.0.0"}))));
    assert!(p.matches(&with_detail(json!({"sourceIPAddress": "10.0.0.255"}))));
    assert!(!p.matches(&with_detail(json!({"sourceIPAddress": "10.0.1.0"}))));
    assert!(!p.matches(&with_detail(json!({"sourceIPAddress": "not an ip"}))));
    let p = pat(json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}}));
    assert!(p.matches(&ruler_event()));
    let p = pat(json!({"ip": [{"cidr": "2001:db8::/32"}]}));
    assert!(p.matches(&json!({"ip": "2001:db8:1::5"})));
    assert!(!p.matches(&json!({"ip": "2001:db9::5"})));
    assert!(!p.matches(&json!({"ip": "10.0.0.1"})));
    // An exact IP string matches other spellings of the same address.
    let p = pat(json!({"ip": ["2001:db8::1"]}));
    assert!(p.matches(&json!({"ip": "2001:0db8:0:0:0:0:0:1"})));
}

#[test]
fn exists_true_example() {
    let p = pat(json!({"detail": {"state": [{"exists": true}]}}));
    let matching = json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2015-11-11T21:29:54Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
        "detail": {"instance-id": "i-abcd1111", "state": "pending"}
    });
    assert!(p.matches(&matching));
    let not_matching = json!({
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"c-count": {"c1": 100}}
    });
    assert!(!p.matches(&not_matching));
}

#[test]
fn exists_false_example_and_leaf_only() {
    let p = pat(json!({"detail": {"c-count": [{"exists": false}]}}));
    let without = json!({
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"state": ["initializing", "running"]}
    });
    assert!(p.matches(&without));
    // c-count is not a leaf here, so it does not "exist".
    let object_valued = json!({
        "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}
    });
    assert!(p.matches(&object_valued));
    assert!(!pat(json!({"detail": {"c-count": [{"exists": true}]}})).matches(&object_valued));
    assert!(!p.matches(&ruler_event()));
    // A missing parent means the field is missing too.
    assert!(p.matches(&json!({"source": "x"})));
    assert!(p.matches(&json!({"detail": "a string"})));
}

#[test]
fn exists_with_arrays() {
    let absent = pat(json!({"tags": [{"exists": false}]}));
    let present = pat(json!({"tags": [{"exists": true}]}));
    assert!(present.matches(&json!({"tags": ["a"]})));
    assert!(!absent.matches(&json!({"tags": ["a"]})));
    // An empty array holds no values.
    assert!(absent.matches(&json!({"tags": []})));
    assert!(!present.matches(&json!({"tags": []})));
    // In an array of objects, exists:false with nothing else picking an element needs
    // the field to be absent from every element...
    let p = pat(json!({"items": {"sku": [{"exists": false}]}}));
    assert!(p.matches(&json!({"items": [{"name": "a"}, {"name": "b"}]})));
    assert!(!p.matches(&json!({"items": [{"name": "a"}, {"name": "b", "sku": "x"}]})));
    // ...but is judged within the element the other conditions picked.
    let p = pat(json!({"items": {"name": ["b"], "sku": [{"exists": false}]}}));
    assert!(p.matches(&json!({"items": [{"name": "a", "sku": "x"}, {"name": "b"}]})));
    assert!(!p.matches(&json!({"items": [{"name": "a"}, {"name": "b", "sku": "x"}]})));
}

#[test]
fn absent_or_value_in_one_leaf() {
    let p = pat(json!({"detail": {"state": [{"exists": false}, "running"]}}));
    assert!(p.matches(&with_detail(json!({}))));
    assert!(p.matches(&with_detail(json!({"state": "running"}))));
    assert!(!p.matches(&with_detail(json!({"state": "stopped"}))));
}

#[test]
fn complex_example() {
    let p = pat(json!({
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}],
            "source-ip": [{"cidr": "10.0.0.0/8"}]
        }
    }));
    assert!(p.matches(&ruler_event()));
    let mut e = ruler_event();
    e["detail"]["x-limit"] = json!(200);
    assert!(!p.matches(&e));
    let mut e = ruler_event();
    e["detail"]["source-ip"] = json!("192.168.0.1");
    assert!(!p.matches(&e));
}

#[test]
fn or_examples() {
    // "source" && ("metricName" || "namespace")
    let p = pat(json!({
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"namespace": ["AWS/EC2", "AWS/ES"]}
        ]
    }));
    assert!(p.matches(&json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"})));
    assert!(p.matches(&json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"})));
    assert!(!p.matches(&json!({"source": "aws.cloudwatch", "namespace": "AWS/S3"})));
    assert!(!p.matches(&json!({"source": "aws.ec2", "metricName": "ReadLatency"})));
}

#[test]
fn or_nested_and_parallel() {
    // ("source" && ("metricName" || ("metricType" && "namespace" && ("metricId" || "spaceId")) || "scope"))
    let p = pat(json!({
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {
                "metricType": ["MetricType"],
                "namespace": ["AWS/EC2", "AWS/ES"],
                "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]
            },
            {"scope": ["Service"]}
        ]
    }));
    let base = |extra: Value| {
        let mut e = json!({"source": "aws.cloudwatch"});
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    assert!(p.matches(&base(json!({"scope": "Service"}))));
    assert!(p.matches(&base(json!({"metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000}))));
    assert!(!p.matches(&base(json!({"metricType": "MetricType", "namespace": "AWS/EC2"}))));
    assert!(!p.matches(&base(json!({"metricType": "MetricType", "spaceId": 1000}))));

    // Parallel $or at two levels.
    let p = pat(json!({
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
        "detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}]}
    }));
    assert!(p.matches(&json!({"namespace": "AWS/EC2", "detail": {"detail-type": "CloudWatch Alarm State Change"}})));
    assert!(!p.matches(&json!({"namespace": "AWS/EC2", "detail": {"source": "aws.ec2"}})));
    assert!(!p.matches(&json!({"detail": {"source": "aws.cloudwatch"}})));
}

#[test]
fn or_with_exists_false() {
    let p = pat(json!({"detail": {"$or": [
        {"state": [{"exists": false}]},
        {"state": ["running"]}
    ]}}));
    assert!(p.matches(&with_detail(json!({}))));
    assert!(p.matches(&with_detail(json!({"state": "running"}))));
    assert!(!p.matches(&with_detail(json!({"state": "stopped"}))));
}

#[test]
fn or_entries_share_array_elements_with_parent() {
    let p = pat(json!({"items": {
        "kind": ["book"],
        "$or": [{"price": [{"numeric": ["<", 10]}]}, {"sale": [true]}]
    }}));
    assert!(p.matches(&json!({"items": [{"kind": "cd", "price": 5}, {"kind": "book", "sale": true}]})));
    assert!(!p.matches(&json!({"items": [{"kind": "cd", "price": 5}, {"kind": "book", "price": 20}]})));
}

#[test]
fn repeated_key_last_one_wins() {
    let p = Pattern::parse_str(r#"{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}"#).unwrap();
    assert!(p.matches(&with_detail(json!({"location": "eu-west"}))));
    assert!(!p.matches(&with_detail(json!({"location": "us-east"}))));
}

#[test]
fn parse_str_and_from_str() {
    let p: Pattern = r#"{"source": ["aws.ec2"]}"#.parse().unwrap();
    assert!(p.matches(&ec2_event()));
    let e = Pattern::parse_str("{not json").unwrap_err();
    assert_eq!(e.path, "");
    assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
    let e = "[1]".parse::<Pattern>().unwrap_err();
    assert_eq!(e.path, "");
}

#[test]
fn errors_name_the_bad_leaf() {
    let e = err(json!({"detail": {"state": "running"}}));
    assert_eq!(e.path, "detail.state");
    assert!(e.message.contains("array"), "{}", e.message);
    assert_eq!(e.to_string(), format!("detail.state: {}", e.message));
    let e = err(json!({"Records": {"s3": {"object": {"key": [{"prefixx": "a"}]}}}}));
    assert_eq!(e.path, "Records.s3.object.key[0]");
    assert!(e.message.contains("prefixx"), "{}", e.message);
    let e = err(json!({"detail": {"state": []}}));
    assert_eq!(e.path, "detail.state");
    let e = err(json!({"detail": {}}));
    assert_eq!(e.path, "detail");
    let e = err(json!({}));
    assert_eq!(e.path, "");
    let e = err(json!({"a": [["nested"]]}));
    assert_eq!(e.path, "a[0]");
    let e = err(json!({"a": ["ok", {"prefix": "x", "suffix": "y"}]}));
    assert_eq!(e.path, "a[1]");
    let e = err(json!({"a": [{"exists": "yes"}]}));
    assert_eq!(e.path, "a[0].exists");
    let e = err(json!({"a": [{"prefix": 5}]}));
    assert_eq!(e.path, "a[0].prefix");
    let e = err(json!({"a": [{"prefix": {"equals-ignore-cas": "x"}}]}));
    assert_eq!(e.path, "a[0].prefix.equals-ignore-cas");
}

#[test]
fn numeric_errors() {
    let e = err(json!({"n": [{"numeric": ["!=", 5]}]}));
    assert_eq!(e.path, "n[0].numeric[0]");
    let e = err(json!({"n": [{"numeric": [">", "5"]}]}));
    assert_eq!(e.path, "n[0].numeric[1]");
    let e = err(json!({"n": [{"numeric": [">", 5, ">", 6]}]}));
    assert_eq!(e.path, "n[0].numeric[2]");
    let e = err(json!({"n": [{"numeric": [">", 5, "<", 1]}]}));
    assert_eq!(e.path, "n[0].numeric[3]");
    let e = err(json!({"n": [{"numeric": ["=", 5, "<", 10]}]}));
    assert_eq!(e.path, "n[0].numeric[2]");
    let e = err(json!({"n": [{"numeric": [">"]}]}));
    assert_eq!(e.path, "n[0].numeric");
    let e = err(json!({"n": [{"numeric": 5}]}));
    assert_eq!(e.path, "n[0].numeric");
    let e = err(json!({"n": [{"numeric": ["<", 6.0e9]}]}));
    assert_eq!(e.path, "n[0].numeric[1]");
}

#[test]
fn anything_but_and_operator_errors() {
    let e = err(json!({"s": [{"anything-but": ["a", 1]}]}));
    assert_eq!(e.path, "s[0].anything-but");
    let e = err(json!({"s": [{"anything-but": null}]}));
    assert_eq!(e.path, "s[0].anything-but");
    let e = err(json!({"s": [{"anything-but": {"exists": true}}]}));
    assert_eq!(e.path, "s[0].anything-but.exists");
    let e = err(json!({"s": [{"anything-but": {"prefix": ""}}]}));
    assert_eq!(e.path, "s[0].anything-but.prefix");
    let e = err(json!({"s": [{"anything-but": {"suffix": ["a", 1]}}]}));
    assert_eq!(e.path, "s[0].anything-but.suffix[1]");
    let e = err(json!({"s": [{"wildcard": "a**b"}]}));
    assert_eq!(e.path, "s[0].wildcard");
    let e = Pattern::parse_str(r#"{"s": [{"wildcard": "a\\b"}]}"#).unwrap_err();
    assert_eq!(e.path, "s[0].wildcard");
    let e = err(json!({"s": [{"cidr": "10.0.0.0"}]}));
    assert_eq!(e.path, "s[0].cidr");
    let e = err(json!({"s": [{"cidr": "10.0.0.0/33"}]}));
    assert_eq!(e.path, "s[0].cidr");
    let e = err(json!({"s": [{"equals-ignore-case": ["a"]}]}));
    assert_eq!(e.path, "s[0].equals-ignore-case");
}

#[test]
fn or_errors() {
    let e = err(json!({"$or": [{"a": ["x"]}]}));
    assert_eq!(e.path, "$or");
    let e = err(json!({"detail": {"$or": {"a": ["x"]}}}));
    assert_eq!(e.path, "detail.$or");
    let e = err(json!({"detail": {"$or": [{"a": ["x"]}, "b"]}}));
    assert_eq!(e.path, "detail.$or[1]");
    let e = err(json!({"$or": [{"a": ["x"]}, {"b": {"c": "y"}}]}));
    assert_eq!(e.path, "$or[1].b.c");
    let e = err(json!({"$or": [{"numeric": [1]}, {"prefix": ["abc"]}]}));
    assert_eq!(e.path, "$or[0].numeric");
    let e = err(json!({"$or": [{"a": ["x"]}, {}]}));
    assert_eq!(e.path, "$or[1]");
}

#[test]
fn or_expansion_is_bounded() {
    let or = json!([{"a": ["1"]}, {"b": ["2"]}, {"c": ["3"]}, {"d": ["4"]}]);
    // 4^6 = 4096 combinations.
    let p = json!({
        "k1": {"$or": or.clone()}, "k2": {"$or": or.clone()}, "k3": {"$or": or.clone()},
        "k4": {"$or": or.clone()}, "k5": {"$or": or.clone()}, "k6": {"$or": or}
    });
    let e = err(p);
    assert!(e.message.contains("combinations"), "{}", e.message);
}

#[test]
fn dotted_pattern_keys_reach_nested_event_fields() {
    let p = pat(json!({"detail": {"order.status": ["shipped"]}}));
    assert!(p.matches(&with_detail(json!({"order": {"status": "shipped"}}))));
    assert!(!p.matches(&with_detail(json!({"order": {"status": "packed"}}))));
    // The path has to end where the pattern says: one level deeper is another field.
    let p = pat(json!({"detail": {"order.status": {"code": ["shipped"]}}}));
    assert!(!p.matches(&with_detail(json!({"order": {"status": "shipped"}}))));
    // Several levels in one key, over an event with much else in it.
    let p = pat(json!({"detail": {"a.b-c.d": {"items": [{"prefix": "sku-"}]}}}));
    let event = with_detail(json!({
        "noise": {"x": [1, 2, 3], "y": {"z": "w"}},
        "a": {"b-c": {"d": {"items": ["pen", "sku-12"], "other": true}}, "e": 1},
    }));
    assert!(p.matches(&event));
}

#[test]
fn dotted_event_keys_meet_nested_pattern_fields() {
    let p = pat(json!({"detail": {"order": {"status": ["shipped"]}}}));
    assert!(p.matches(&with_detail(json!({"order.status": "shipped"}))));
    assert!(!p.matches(&with_detail(json!({"order.status": {"status": "shipped"}}))));
    // Dotted on both sides, and a dotted key beside a nested object of the same name.
    let p = pat(json!({"detail": {"order.status": ["shipped"], "order": {"id": ["o-1"]}}}));
    assert!(p.matches(&with_detail(json!({"order.status": "shipped", "order": {"id": "o-1"}}))));
    assert!(!p.matches(&with_detail(json!({"order.status": "packed", "order": {"id": "o-1"}}))));
    // exists:false sees the dotted field too.
    let p = pat(json!({"detail": {"order": {"status": [{"exists": false}]}}}));
    assert!(!p.matches(&with_detail(json!({"order.status": "shipped"}))));
    assert!(p.matches(&with_detail(json!({"order.id": "o-1"}))));
}

#[test]
fn ignore_case_spells_each_pattern_character_both_ways() {
    // `ΰ` is two bytes in lower case and six in upper case (Υ and two combining marks); `ɐ` and `Ɐ` differ by one.
    let p = pat(json!({"x": [{"equals-ignore-case": "ɐΰk"}]}));
    assert!(p.matches(&json!({"x": "Ɐ\u{3a5}\u{308}\u{301}K"})));
    assert!(p.matches(&json!({"x": "ɐΰk"})));
    assert!(p.matches(&json!({"x": "ⱯΰK"})));
    assert!(!p.matches(&json!({"x": "Ɐ\u{3a5}\u{308}\u{301}"})));
    assert!(!p.matches(&json!({"x": "Ɐ\u{3a5}\u{308}\u{301}Kx"})));
    // `ῆ` upper-cases to two characters, `Η͂`.
    let p = pat(json!({"x": [{"prefix": {"equals-ignore-case": "ῆa"}}]}));
    assert!(p.matches(&json!({"x": "Η͂Abc"})));
    assert!(!p.matches(&json!({"x": "xΗ͂A"})));
    let p = pat(json!({"x": [{"suffix": {"equals-ignore-case": "aⱥ"}}]}));
    assert!(p.matches(&json!({"x": "xxAȺ"})));
    assert!(!p.matches(&json!({"x": "AȺx"})));
    let p = pat(json!({"x": [{"anything-but": {"equals-ignore-case": "ΰ"}}]}));
    assert!(!p.matches(&json!({"x": "\u{3a5}\u{308}\u{301}"})));
    assert!(p.matches(&json!({"x": "Υ"})));
    // Only the pattern is spelled both ways, not the event: a Kelvin sign in the event is not `k`.
    let p = pat(json!({"x": [{"equals-ignore-case": "k"}]}));
    assert!(!p.matches(&json!({"x": "\u{212a}"})));
    // ASCII patterns take the fast path and say the same.
    let p = pat(json!({"x": [{"suffix": {"equals-ignore-case": ".PNG"}}]}));
    assert!(p.matches(&json!({"x": "cat.png"})));
    assert!(!p.matches(&json!({"x": "png"})));
}

#[test]
fn too_complex_wildcards_are_refused_with_eventbridges_message() {
    let e = err(json!({"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}));
    assert_eq!(e.path, "EventBusArn");
    assert!(e.message.starts_with("Rule is too complex"), "{}", e.message);
    // A field's wildcards count together, across `$or` branches and anything-but too.
    let stacks = |names: &[&str]| {
        let list: Vec<Value> = names.iter().map(|n| json!({"wildcard": format!("*:stack/{n}/*")})).collect();
        Pattern::parse(&json!({"detail": {"stack-id": list}}))
    };
    assert!(stacks(&["Api", "Data", "Web"]).is_ok());
    assert!(stacks(&["Api", "Data", "Web", "Jobs"]).is_err());
    let e = err(json!({"$or": [
        {"k": [{"wildcard": "*:a/*"}, {"wildcard": "*:b/*"}]},
        {"k": [{"anything-but": {"wildcard": ["*:c/*", "*:d/*"]}}]},
    ]}));
    assert_eq!(e.path, "k");
    // Repeats after a star are what costs, not length or the number of distinct pieces.
    assert!(Pattern::parse(&json!({"k": [{"wildcard": "/home/*/dir/dir/dir/dir/dir/a.txt"}]})).is_ok());
    assert!(Pattern::parse(&json!({"k": [{"wildcard": "a*b*c*d"}]})).is_ok());
    assert!(Pattern::parse(&json!({"k": [{"wildcard": "*a*a*a*a*a*"}]})).is_err());
}

#[test]
fn complexity_counts_matching_wildcard_prefixes() {
    use super::complexity::complexity;
    use super::wildcard::Wildcard;
    let of = |patterns: &[&str]| {
        let ws: Vec<Wildcard> = patterns.iter().map(|p| Wildcard::parse(p).unwrap()).collect();
        complexity(&ws.iter().collect::<Vec<_>>(), 100)
    };
    // `"x*yy"` against `"xyy`: `"x*`, `"x*y` and `"x*yy` all fit.
    assert_eq!(of(&["x*yy"]), 3);
    // The leading quote and the star both fit a value's first byte.
    assert_eq!(of(&["*"]), 2);
    assert_eq!(of(&["plain"]), 1);
    // The same wildcard twice counts once; two that share a start count each.
    assert_eq!(of(&["x*yy", "x*yy"]), 3);
    assert_eq!(of(&["pre*ab", "pre*cd"]), 4);
    assert_eq!(of(&["*:*:*:*:*:event-bus/*"]), 11);
}

#[test]
fn accepted_wildcards_match_in_linear_time() {
    // The matcher never goes back, so its work is bounded by the value's length whatever the
    // pattern. Count it: every byte handed to a piece search, over values built to make a
    // backtracking matcher retry (long runs of a piece's first byte, near misses at the end).
    let patterns = ["*a*a*b", "*aaaa*", "a*ab*ab*abc", "*x*y*z*", "*:*:*:event-bus/*", "*ab*ab*ab"];
    for pattern in patterns {
        let w = super::wildcard::Wildcard::parse(pattern).unwrap();
        for n in [10usize, 1_000, 100_000] {
            for value in ["a".repeat(n), format!("{}b", "ab".repeat(n)), ":".repeat(n)] {
                let scanned = w.bytes_searched(&value);
                assert!(scanned <= value.len(), "{pattern} over {} bytes searched {scanned} bytes", value.len());
            }
        }
    }
}

#[test]
fn explain_names_the_deciding_fields() {
    let p = pat(json!({"source": ["aws.ec2"], "detail": {"state": ["running"]}}));
    let no = p.explain(&ec2_event());
    assert!(!no.matched);
    assert_eq!(no.fields.len(), 1);
    assert_eq!(no.fields[0].path, "detail.state");
    assert_eq!(no.fields[0].found, "\"terminated\"");
    let yes = p.explain(&json!({"source": "aws.ec2", "detail": {"state": "running"}}));
    let paths: Vec<&str> = yes.fields.iter().map(|f| f.path.as_str()).collect();
    assert!(yes.matched);
    assert_eq!(paths, ["source", "detail.state"]);
    // Each `$or` alternative gives its first failing field; a dotted event key is seen nested.
    let p = pat(json!({"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}));
    let no = p.explain(&json!({"b.c": "3"}));
    let paths: Vec<String> = no.fields.iter().map(|f| f.to_string()).collect();
    assert_eq!(paths, ["a: absent (does not match)", "b.c: \"3\" (does not match)"]);
}
