//! The HTTP server under the test endpoints (the Lambda endpoint, the fake SQS): one thread
//! with a current-thread runtime, HTTP/1.1 with keep-alive.

use std::convert::Infallible;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, Notify};

/// What a handler answers.
pub type Resp = Response<Full<Bytes>>;

/// Serves `handler` on `listener` from a new thread named `name`. The handler gets a
/// per-connection `Notify`: notifying it closes the connection at once without a response.
/// Sending on the returned channel (or dropping it) stops the server; the thread then drops the
/// runtime, which closes all connections.
pub fn spawn_server<H, F>(name: &str, listener: std::net::TcpListener, handler: H) -> (oneshot::Sender<()>, JoinHandle<()>)
where
    H: Fn(Request<Incoming>, Arc<Notify>) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Resp> + Send + 'static,
{
    listener.set_nonblocking(true).expect("nonblocking listener");
    let (tx, mut rx) = oneshot::channel::<()>();
    let handler = Arc::new(handler);
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let stream = tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                continue;
                            }
                        },
                    };
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        let kill = Arc::new(Notify::new());
                        let conn_kill = kill.clone();
                        let service = hyper::service::service_fn(move |req| {
                            let fut = handler(req, conn_kill.clone());
                            async move { Ok::<_, Infallible>(fut.await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            _ = conn => {}
                            _ = kill.notified() => {} // dropping `conn` closes the socket
                        }
                    });
                }
            });
        })
        .expect("spawn server thread");
    (tx, thread)
}
