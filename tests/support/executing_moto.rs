//! A moto server of a test's own with Step Functions executions running
//! (`{"stepfunctions":{"execute_state_machine":true}}`): that switch is process-wide and moves
//! every state machine to another backend, so it cannot be thrown on the moto other tests share.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::Moto;

/// moto's server, stopped when dropped.
pub struct ExecutingMoto {
    moto: Moto,
    child: Child,
}

impl Deref for ExecutingMoto {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        &self.moto
    }
}

impl Drop for ExecutingMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ExecutingMoto {
    /// Starts `moto_server` (`FANIN_TEST_MOTO_SERVER`, else the project's `.venv`) on a free
    /// port and turns executions on.
    pub fn start() -> ExecutingMoto {
        let server =
            std::env::var("FANIN_TEST_MOTO_SERVER").unwrap_or_else(|_| format!("{}/.venv/bin/moto_server", env!("CARGO_MANIFEST_DIR")));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {server}: {e}"));
        let addr = format!("127.0.0.1:{port}");
        let moto = ExecutingMoto { moto: Moto { url: format!("http://{addr}") }, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while request(&addr, "GET", "/moto-api/config", "").is_none() {
            assert!(Instant::now() < deadline, "moto at {addr} did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let answer = request(&addr, "POST", "/moto-api/config", r#"{"stepfunctions":{"execute_state_machine":true}}"#);
        let status = answer.as_deref().and_then(|a| a.split_whitespace().nth(1)).unwrap_or_default().to_string();
        assert!(status.starts_with('2'), "moto did not take the config: {answer:?}");
        moto
    }
}

/// One plain HTTP exchange; the whole answer, or `None` when nobody answered.
fn request(addr: &str, method: &str, path: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// A pass-through to moto that records every call made through it, as (action, request JSON):
/// moto drops `SendTaskFailure`'s `cause`, so what fanin sent is checked on the wire.
pub struct Recorder {
    addr: std::net::SocketAddr,
    calls: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Recorder {
    /// Forwards to `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Recorder {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (upstream, kept) = (upstream.to_string(), calls.clone());
        let (stop, _thread) = super::serve::spawn_server("sfn-recorder", listener, move |req: hyper::Request<hyper::body::Incoming>, _| {
            let (upstream, kept) = (upstream.clone(), kept.clone());
            async move {
                let (mut parts, body) = req.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let action = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
                let action = action.rsplit('.').next().unwrap_or_default().to_string();
                kept.lock().unwrap().push((action, serde_json::from_slice(&body).unwrap_or_default()));
                parts.uri = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")).parse().unwrap();
                let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
                match client.request(hyper::Request::from_parts(parts, Full::new(body))).await {
                    Ok(answer) => {
                        let (parts, body) = answer.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        hyper::Response::from_parts(parts, Full::new(body))
                    }
                    Err(e) => hyper::Response::builder().status(502).body(Full::new(Bytes::from(e.to_string()))).unwrap(),
                }
            }
        });
        Recorder { addr, calls, _stop: stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The recorded requests of `action` (`SendTaskFailure`, …).
    pub fn calls(&self, action: &str) -> Vec<serde_json::Value> {
        self.calls.lock().unwrap().iter().filter(|(a, _)| a == action).map(|(_, v)| v.clone()).collect()
    }
}
