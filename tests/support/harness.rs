//! The integration-test harness: the local AWS (moto), a scratch configuration, and the real
//! `fanin` binary as a child process that prints its command, stdout and stderr when a test fails.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;

/// The moto server that `scripts/test` started.
pub struct Moto {
    pub url: String,
}

impl Moto {
    /// From `FANIN_TEST_MOTO_URL`; integration tests cannot run without it.
    pub fn from_env() -> Moto {
        let url = std::env::var("FANIN_TEST_MOTO_URL")
            .unwrap_or_else(|_| panic!("FANIN_TEST_MOTO_URL is not set: integration tests need a local AWS; run them with scripts/test"));
        Moto { url }
    }

    fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                "test", "test", None, None, "test",
            )))
            .build()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk())
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk()).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk())
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk())
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk())
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk())
    }

    /// Creates a Standard state machine of one Pass state; its ARN.
    pub async fn state_machine(&self, name: &str) -> String {
        let definition = r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#;
        let role = "arn:aws:iam::123456789012:role/fanin-test";
        let out =
            self.sfn().create_state_machine().name(name).definition(definition).role_arn(role).send().await.expect("create state machine");
        out.state_machine_arn().to_string()
    }

    /// The ARN of the queue at `queue_url` (moto's account and region).
    pub fn queue_arn(&self, queue_url: &str) -> String {
        format!("arn:aws:sqs:us-east-1:123456789012:{}", queue_url.rsplit('/').next().unwrap())
    }

    /// Creates a queue (FIFO when the name ends in `.fifo`) and returns its URL.
    pub async fn queue(&self, name: &str) -> String {
        let mut req = self.sqs().create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            req = req.attributes(QueueAttributeName::FifoQueue, "true");
        }
        req.send().await.expect("create queue").queue_url.expect("queue url")
    }

    /// Sends bodies in batches of 10.
    pub async fn send_all(&self, queue_url: &str, bodies: &[String]) {
        let sqs = self.sqs();
        for (n, chunk) in bodies.chunks(10).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id(format!("{n}-{i}")).message_body(b).build().unwrap()
                })
                .collect();
            let out = sqs.send_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await.expect("send batch");
            assert!(out.failed.is_empty(), "send failed: {:?}", out.failed);
        }
    }

    /// Messages in the queue: (visible, in flight).
    pub async fn depth(&self, queue_url: &str) -> (usize, usize) {
        let out = self
            .sqs()
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes.unwrap_or_default();
        let get = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (get(QueueAttributeName::ApproximateNumberOfMessages), get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// Every object under `prefix` in `bucket`, parsed as JSON (missing bucket: none).
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<serde_json::Value> {
        let s3 = self.s3();
        let Ok(list) = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await else { return vec![] };
        let mut out = vec![];
        for obj in list.contents() {
            let body = s3.get_object().bucket(bucket).key(obj.key().unwrap()).send().await.unwrap().body.collect().await.unwrap();
            out.push(serde_json::from_slice(&body.into_bytes()).unwrap());
        }
        out
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A scratch configuration: `config/fanin.toml`, `sources/`, and a state directory.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// A daemon file with `[daemon]` pointing at this setup's directories, plus `rest`.
    pub fn new(daemon_extra: &str, rest: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::create_dir_all(dir.path().join("sources")).unwrap();
        let text = format!(
            "[daemon]\nsources_dir = \"../sources\"\nstate_dir = \"../state\"\nshutdown_grace = \"10s\"\n{daemon_extra}\n\n[aws]\nregion = \"us-east-1\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n{rest}\n"
        );
        std::fs::write(dir.path().join("config/fanin.toml"), text).unwrap();
        Setup { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config/fanin.toml")
    }

    /// Writes `sources/<name>.toml`. Queue sources get one poller unless the text says
    /// otherwise: moto can hand one message to two concurrent receives (SQS does not), and
    /// most tests count deliveries exactly.
    pub fn source(&self, name: &str, text: &str) {
        let text = if text.contains("queue_url") && !text.contains("pollers") { format!("pollers = 1\n{text}") } else { text.to_string() };
        std::fs::write(self.dir.path().join(format!("sources/{name}.toml")), text).unwrap();
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The records in the default dead-letter file.
    pub fn dead_letters(&self) -> Vec<serde_json::Value> {
        read_jsonl(&self.state_dir().join("dlq.jsonl"))
    }
}

/// Parses a JSON-lines file (missing: empty).
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad dead-letter line {l:?}: {e}")))
        .collect()
}

/// The `fanin` binary as a child process.
pub struct Daemon {
    child: Child,
    command: String,
    stdout: PathBuf,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
    status: Option<ExitStatus>,
}

impl Daemon {
    /// `fanin run --config <setup>` against moto, with Lambda at `lambda_url`.
    pub fn start(setup: &Setup, moto: &Moto, lambda_url: &str) -> Daemon {
        Self::spawn(&["run", "--config", setup.config().to_str().unwrap()], moto, lambda_url, &[])
    }

    /// Any `fanin` command line, with the test environment and `extra_env`.
    pub fn spawn(args: &[&str], moto: &Moto, lambda_url: &str, extra_env: &[(&str, &str)]) -> Daemon {
        Self::spawn_fed(args, moto, lambda_url, extra_env, None)
    }

    /// [`Daemon::spawn`], with `input` on its standard input (closed after it).
    pub fn spawn_fed(args: &[&str], moto: &Moto, lambda_url: &str, extra_env: &[(&str, &str)], input: Option<&[u8]>) -> Daemon {
        let logs = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (logs.path().join("stdout"), logs.path().join("stderr"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanin"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ENDPOINT_URL_LAMBDA", lambda_url)
            .env("RUST_LOG", "fanin=debug")
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        // An empty value removes the variable.
        for (k, v) in extra_env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let command = format!("{:?}", cmd);
        let mut child = cmd.spawn().expect("spawn fanin");
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            std::io::Write::write_all(&mut stdin, input).expect("write fanin's standard input");
        }
        Daemon { child, command, stdout, stderr, _logs: logs, status: None }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What it printed to stderr so far (its log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What it printed to stdout so far (a subcommand's output).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait().unwrap() {
            Some(status) => {
                self.status = Some(status);
                false
            }
            None => true,
        }
    }

    /// Waits for it to exit on its own (at most `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.running() {
            assert!(Instant::now() < deadline, "fanin did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.status.unwrap()
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if self.running() {
            unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        }
        self.wait(timeout)
    }

    /// SIGINT, as Ctrl-C sends it (does not wait).
    pub fn interrupt(&mut self) {
        if self.running() {
            unsafe { libc::kill(self.pid(), libc::SIGINT) };
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if self.running() {
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            self.wait(Duration::from_secs(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- command\n{}", self.command);
            eprintln!("---- stdout\n{}", std::fs::read_to_string(&self.stdout).unwrap_or_default());
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(300).collect();
            eprintln!("---- stderr (last {} lines)\n{}", tail.len(), tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
    }
}

/// `GET path` on a plain HTTP/1.0 endpoint: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

impl Daemon {
    /// The address the metrics endpoint listens on, from the log (configured with port 0).
    pub async fn metrics_addr(&self) -> String {
        let mut addr = String::new();
        eventually(Duration::from_secs(60), "the metrics endpoint to listen", || {
            let log = self.log();
            let found = log
                .lines()
                .find(|l| l.contains("/readyz listening"))
                .and_then(|l| l.split("listen=").nth(1))
                .map(|a| a.split_whitespace().next().unwrap_or_default().to_string());
            if let Some(a) = found {
                addr = a;
            }
            let done = !addr.is_empty();
            async move { done }
        })
        .await;
        addr
    }
}

/// Polls `check` until it returns true; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
