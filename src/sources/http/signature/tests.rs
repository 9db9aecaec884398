use super::*;

/// A verifier of `scheme` over these literal secrets (set as environment variables).
fn verifier(scheme: Scheme, secrets: &[&str], extra: impl FnOnce(&mut SignatureSettings)) -> Verifier {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = SignatureSettings::none();
    settings.scheme = scheme;
    for (i, s) in secrets.iter().enumerate() {
        let path = dir.path().join(format!("secret{i}"));
        std::fs::write(&path, format!("{s}\n")).unwrap();
        settings.secrets.push(SecretRef::File(path));
    }
    extra(&mut settings);
    settings.check(Path::new("hook.toml")).unwrap();
    settings.verifier(Path::new("/")).unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, value.parse().unwrap());
    }
    h
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[test]
fn github_accepts_its_documented_test_vector() {
    // docs.github.com, "Validating webhook deliveries": secret, payload and signature as published.
    let v = verifier(Scheme::Github, &["It's a Secret to Everybody"], |_| {});
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(v.verify(&headers(&[("x-hub-signature-256", good)]), b"Hello, World!", SystemTime::now()), Ok(()));
    // Other bytes, no header, a malformed one, another secret.
    assert_eq!(v.verify(&headers(&[("x-hub-signature-256", good)]), b"Hello, World?", SystemTime::now()), Err(SignatureError::Mismatch));
    assert_eq!(v.verify(&headers(&[]), b"Hello, World!", SystemTime::now()), Err(SignatureError::Missing("x-hub-signature-256")));
    assert_eq!(
        v.verify(&headers(&[("x-hub-signature-256", "sha1=abc")]), b"Hello, World!", SystemTime::now()),
        Err(SignatureError::Malformed("X-Hub-Signature-256"))
    );
    let other = verifier(Scheme::Github, &["another"], |_| {});
    assert_eq!(
        other.verify(&headers(&[("x-hub-signature-256", good)]), b"Hello, World!", SystemTime::now()),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn any_of_several_secrets_may_have_signed() {
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let v = verifier(Scheme::Github, &["the new one", "It's a Secret to Everybody"], |_| {});
    assert_eq!(v.verify(&headers(&[("x-hub-signature-256", good)]), b"Hello, World!", SystemTime::now()), Ok(()));
}

#[test]
fn standard_webhooks_accepts_the_specifications_test_vector() {
    // The Standard Webhooks reference libraries' vector.
    let v = verifier(Scheme::Standard, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], |_| {});
    let body = br#"{"test": 2432232314}"#;
    let h = |sig: &str| {
        headers(&[("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("webhook-timestamp", "1614265330"), ("webhook-signature", sig)])
    };
    let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(v.verify(&h(good), body, at(1614265330)), Ok(()));
    // Several signatures, the good one among them; a v1a one is skipped.
    assert_eq!(v.verify(&h(&format!("v1,Zm9vYmFy v1a,abc {good}")), body, at(1614265330 + 299)), Ok(()));
    // Replayed later than the tolerance, or from the future.
    assert_eq!(v.verify(&h(good), body, at(1614265330 + 301)), Err(SignatureError::Stale));
    assert_eq!(v.verify(&h(good), body, at(1614265330 - 301)), Err(SignatureError::Stale));
    assert_eq!(v.verify(&h(good), br#"{"test": 2432232315}"#, at(1614265330)), Err(SignatureError::Mismatch));
    assert_eq!(v.verify(&h("v2,abc"), body, at(1614265330)), Err(SignatureError::Malformed("webhook-signature")));
    // Svix's own header names.
    let svix = headers(&[("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("svix-timestamp", "1614265330"), ("svix-signature", good)]);
    assert_eq!(v.verify(&svix, body, at(1614265330)), Ok(()));
}

#[test]
fn stripe_takes_any_v1_during_a_rotation_within_the_tolerance() {
    // Computed independently (Python's hmac): HMAC-SHA256("whsec_test_secret", "1492774577.<body>").
    let body = br#"{"id":"evt_test","object":"event"}"#;
    let good = "691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215";
    let v = verifier(Scheme::Stripe, &["whsec_test_secret"], |_| {});
    let h = |value: String| headers(&[("stripe-signature", value.leak())]);
    assert_eq!(v.verify(&h(format!("t=1492774577,v1={good}")), body, at(1492774577)), Ok(()));
    assert_eq!(v.verify(&h(format!("t=1492774577,v1={},v1={good},v0=00", "ab".repeat(32))), body, at(1492774600)), Ok(()));
    assert_eq!(v.verify(&h(format!("t=1492774577,v1={good}")), body, at(1492774577 + 301)), Err(SignatureError::Stale));
    // The timestamp is signed: another one with the same digest does not match.
    assert_eq!(v.verify(&h(format!("t=1492774578,v1={good}")), body, at(1492774577)), Err(SignatureError::Mismatch));
    assert_eq!(v.verify(&h(format!("v1={good}")), body, at(1492774577)), Err(SignatureError::Malformed("Stripe-Signature")));
    assert_eq!(v.verify(&h("t=1492774577,v0=00".into()), body, at(1492774577)), Err(SignatureError::Malformed("Stripe-Signature")));
}

#[test]
fn slack_signs_version_timestamp_and_body() {
    // Computed independently (Python's hmac) over "v0:1531420618:<body>".
    let body = b"token=xyzz0WbapA4vBCDEFasx0mKZ&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let good = "v0=cf58fcd27d0e93bd1f4e6cc6db2408642ba5dded734549a896f3b799df9939b9";
    let v = verifier(Scheme::Slack, &["8f742231b10e8888abcd99yyyzzz85a5"], |_| {});
    let h = |t: &str| headers(&[("x-slack-request-timestamp", t), ("x-slack-signature", good)]);
    assert_eq!(v.verify(&h("1531420618"), body, at(1531420618 + 60)), Ok(()));
    assert_eq!(v.verify(&h("1531420618"), body, at(1531420618 + 301)), Err(SignatureError::Stale));
    assert_eq!(v.verify(&h("1531420619"), body, at(1531420618)), Err(SignatureError::Mismatch));
    assert_eq!(v.verify(&h("soon"), body, at(1531420618)), Err(SignatureError::Malformed("X-Slack-Request-Timestamp")));
}

#[test]
fn hmac_reads_its_header_algorithm_encoding_and_prefix() {
    // Computed independently (Python's hmac): HMAC-SHA512("k", "{\"a\":1}").
    let b64 = "9SdCJoZVW2Uoouf37IKy9UUrADA7sob4dOB1uneJdKbYGt//UjZC/HO2lg91m5KjutE4vhEL9ZIj55/RtcaCXQ==";
    let v = verifier(Scheme::Hmac, &["k"], |s| {
        s.header = Some("X-Signature".into());
        s.algorithm = Algorithm::Sha512;
        s.encoding = Encoding::Base64;
        s.prefix = "sha512=".into();
    });
    let value = format!("sha512={b64}");
    assert_eq!(v.verify(&headers(&[("x-signature", &value)]), br#"{"a":1}"#, SystemTime::now()), Ok(()));
    assert_eq!(v.verify(&headers(&[("x-signature", b64)]), br#"{"a":1}"#, SystemTime::now()), Err(SignatureError::Malformed("signature")));
    assert_eq!(v.verify(&headers(&[("x-signature", &value)]), br#"{"a":2}"#, SystemTime::now()), Err(SignatureError::Mismatch));
    let hex_v = verifier(Scheme::Hmac, &["It's a Secret to Everybody"], |s| s.header = Some("X-Sig".into()));
    let h = headers(&[("x-sig", "757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17")]);
    assert_eq!(hex_v.verify(&h, b"Hello, World!", SystemTime::now()), Ok(()));
}

#[test]
fn bearer_compares_the_whole_token() {
    let v = verifier(Scheme::Bearer, &["s3cret-token"], |_| {});
    assert_eq!(v.verify(&headers(&[("authorization", "Bearer s3cret-token")]), b"", SystemTime::now()), Ok(()));
    assert_eq!(v.verify(&headers(&[("authorization", "Bearer s3cret")]), b"", SystemTime::now()), Err(SignatureError::Mismatch));
    assert_eq!(v.verify(&headers(&[("authorization", "Bearer s3cret-token2")]), b"", SystemTime::now()), Err(SignatureError::Mismatch));
    assert_eq!(
        v.verify(&headers(&[("authorization", "Basic eDp5")]), b"", SystemTime::now()),
        Err(SignatureError::Malformed("Authorization"))
    );
}

#[test]
fn secrets_come_from_files_and_variables_never_inline() {
    let s: SignatureSettings = toml::from_str("scheme = \"github\"\nsecrets = [{ env = \"FANIN_TEST_NO_SUCH_VARIABLE\" }]").unwrap();
    s.check(Path::new("h.toml")).unwrap();
    assert_eq!(s.verifier(Path::new("/")).unwrap_err(), SecretError::Missing("environment variable FANIN_TEST_NO_SUCH_VARIABLE".into()));
    assert!(toml::from_str::<SignatureSettings>("scheme = \"github\"\nsecret = \"inline\"").is_err());
    let none: SignatureSettings = toml::from_str("scheme = \"github\"").unwrap();
    assert_eq!(none.check(Path::new("h.toml")).unwrap_err().key, "signature.secrets");
    let hmac: SignatureSettings = toml::from_str("scheme = \"hmac\"\nsecrets = [{ env = \"X\" }]").unwrap();
    assert_eq!(hmac.check(Path::new("h.toml")).unwrap_err().key, "signature.header");
    let bad: SignatureSettings = toml::from_str("scheme = \"standard\"\nsecrets = [{ file = \"s\" }]").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s"), "whsec_not base64!").unwrap();
    assert!(matches!(bad.verifier(dir.path()), Err(SecretError::Unusable(_))));
}

#[test]
fn the_parsers_take_what_senders_send_and_nothing_else() {
    assert_eq!(parse_stripe("t=1,v1=00,v1=ff"), Some((1, vec![vec![0], vec![255]])));
    assert_eq!(parse_stripe("t=x,v1=00"), None);
    assert_eq!(parse_stripe("t=1,v1=zz"), None);
    assert_eq!(parse_slack("v0=0a"), Some(vec![10]));
    assert_eq!(parse_slack("v1=0a"), None);
    assert_eq!(parse_standard("v1,AA== v1,AQ"), vec![vec![0], vec![1]]);
    assert!(parse_standard("garbage").is_empty());
}
