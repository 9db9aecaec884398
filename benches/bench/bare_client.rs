//! The limit: one SigV4-signed Invoke per event and nothing else. A pooled hyper client,
//! `CONCURRENCY` invokes in flight, SigV4 written out by hand with the day's signing key
//! derived once, one payload shared by every request; no queue, no SQS, no SDK, no retries,
//! no metrics. What fanin spends above this is what its promises cost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};

const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "test";
const SECRET_KEY: &str = "test";
const FUNCTION: &str = "work";

/// Sends `n` Event invokes of `payload` to `lambda_url`, `concurrency` at a time.
pub fn run(lambda_url: &str, n: usize, concurrency: usize, payload: Bytes) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(http);
        let host = lambda_url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let url: hyper::Uri = format!("{lambda_url}/2015-03-31/functions/{FUNCTION}/invocations").parse().unwrap();
        let signer = Arc::new(Signer::new(host));
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, url, signer, next, payload) = (client.clone(), url.clone(), signer.clone(), next.clone(), payload.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < n {
                        let (date, authorization) = signer.sign(&payload);
                        let request = hyper::Request::post(url.clone())
                            .header("content-type", "application/octet-stream")
                            .header("x-amz-date", date)
                            .header("x-amz-invocation-type", "Event")
                            .header("authorization", authorization)
                            .body(Full::new(payload.clone()))
                            .unwrap();
                        let response = client.request(request).await.expect("the endpoint answers");
                        assert_eq!(response.status(), 202, "Event invokes are accepted");
                        response.into_body().collect().await.unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    });
}

/// SigV4 for `POST /2015-03-31/functions/work/invocations`, the day's key derived once.
struct Signer {
    host: String,
    day: String,
    key: Vec<u8>,
}

impl Signer {
    fn new(host: String) -> Signer {
        let day = chrono::Utc::now().format("%Y%m%d").to_string();
        let mut key = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), day.as_bytes());
        for part in [REGION, "lambda", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        Signer { host, day, key }
    }

    /// (`x-amz-date`, `authorization`) for one request with this body.
    fn sign(&self, body: &[u8]) -> (String, String) {
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let signed_headers = "content-type;host;x-amz-date;x-amz-invocation-type";
        let canonical = format!(
            "POST\n/2015-03-31/functions/{FUNCTION}/invocations\n\ncontent-type:application/octet-stream\nhost:{}\nx-amz-date:{date}\nx-amz-invocation-type:Event\n\n{signed_headers}\n{}",
            self.host,
            hex::encode(Sha256::digest(body))
        );
        let scope = format!("{}/{REGION}/lambda/aws4_request", self.day);
        let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let signature = hex::encode(hmac(&self.key, to_sign.as_bytes()));
        (date, format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}
