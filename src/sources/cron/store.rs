//! Where claims are kept: a few conditional writes on small objects, behind [`ClaimStore`] so
//! the lease protocol runs the same against S3 and, in tests, against memory.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::config::S3Location;
use crate::BoxFuture;

/// A claim object as read: its body and the ETag a conditional write names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub body: Vec<u8>,
    pub etag: String,
}

/// How a create-if-absent came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Written; its ETag.
    Written(String),
    /// The key was there already.
    Exists,
}

/// How a replace-if-match came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// Written; the new ETag.
    Written(String),
    /// The object changed since that ETag was read (or is gone).
    Conflict,
}

/// The store did not answer, or answered something other than the conditions' outcomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Conditional writes on claim objects. Object-safe: the claims hold an `Arc<dyn ClaimStore>`.
pub trait ClaimStore: Send + Sync {
    /// Writes `body` at `key` unless something is there (`If-None-Match: *`).
    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<Created, StoreError>>;
    /// The object at `key`, or `None` when there is none.
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Stored>, StoreError>>;
    /// Writes `body` at `key` if the object there still has `etag` (`If-Match`).
    fn replace<'a>(&'a self, key: &'a str, etag: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<Replaced, StoreError>>;
    /// `key` as people find it (`s3://bucket/key`), for logs.
    fn describe(&self, key: &str) -> String;
}

/// Conflicting writes to one key that S3 asks to retry (409 `ConditionalRequestConflict`).
const CONFLICT_RETRIES: u32 = 3;

/// Claims in an S3 bucket.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, location: &S3Location) -> Self {
        S3Store { client, bucket: location.bucket.clone() }
    }

    /// A conditional put: `if_none_match` or `if_match` set; 412 (and 404 for `If-Match` on a
    /// missing key) is the condition failing; 409 is retried as S3 asks.
    async fn put(&self, key: &str, body: Vec<u8>, if_match: Option<&str>) -> Result<Option<String>, StoreError> {
        for attempt in 1..=CONFLICT_RETRIES {
            let mut put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/json")
                .body(ByteStream::from(body.clone()));
            put = match if_match {
                Some(etag) => put.if_match(etag),
                None => put.if_none_match("*"),
            };
            let out = put.send().await;
            let status = match &out {
                Ok(written) => return Ok(Some(written.e_tag().unwrap_or_default().to_string())),
                Err(e) => e.raw_response().map(|r| r.status().as_u16()),
            };
            match status {
                Some(412) => return Ok(None),
                Some(404) if if_match.is_some() => return Ok(None),
                Some(409) if attempt < CONFLICT_RETRIES => tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await,
                _ => {
                    let error = out.err().map(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()).unwrap_or_default();
                    return Err(StoreError(format!("{}: {error}", self.describe(key))));
                }
            }
        }
        Err(StoreError(format!("{}: writes kept conflicting", self.describe(key))))
    }
}

impl ClaimStore for S3Store {
    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<Created, StoreError>> {
        Box::pin(async move { Ok(self.put(key, body, None).await?.map_or(Created::Exists, Created::Written)) })
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Stored>, StoreError>> {
        Box::pin(async move {
            let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
                // S3 answers a missing key with 403, not 404, to a role without `s3:ListBucket`
                // (which the generated policy does not grant): the sweep reads keys that may
                // not exist. A claim really hidden by a deny cannot be taken over either way.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => return Ok(None),
                Err(e) => return Err(StoreError(format!("{}: {}", self.describe(key), aws_sdk_s3::error::DisplayErrorContext(e)))),
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let body = out.body.collect().await.map_err(|e| StoreError(format!("{}: {e}", self.describe(key))))?.into_bytes().to_vec();
            Ok(Some(Stored { body, etag }))
        })
    }

    fn replace<'a>(&'a self, key: &'a str, etag: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<Replaced, StoreError>> {
        Box::pin(async move { Ok(self.put(key, body, Some(etag)).await?.map_or(Replaced::Conflict, Replaced::Written)) })
    }

    fn describe(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// Claims in memory, with S3's conditional semantics: for unit tests and the fleet simulation.
/// Every call may wait a while first (`latency`), as a store across a network does, so a
/// simulated kill can fall between a delivery and the write that records it.
#[cfg(test)]
pub(crate) mod memory {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    pub(crate) struct MemoryStore {
        objects: Mutex<HashMap<String, Stored>>,
        versions: Mutex<u64>,
        latency: Option<Box<dyn Fn() -> Duration + Send + Sync>>,
        /// While set, every call fails (S3 unreachable).
        pub(crate) down: std::sync::atomic::AtomicBool,
    }

    impl MemoryStore {
        /// Calls that each wait what `latency` says first.
        pub(crate) fn with_latency(latency: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
            MemoryStore { latency: Some(Box::new(latency)), ..Default::default() }
        }

        /// The body at `key`, now.
        pub(crate) fn body(&self, key: &str) -> Option<Vec<u8>> {
            self.objects.lock().unwrap().get(key).map(|s| s.body.clone())
        }

        /// Puts `body` at `key` unconditionally (a claim some other writer left).
        pub(crate) fn put(&self, key: &str, body: Vec<u8>) {
            let etag = self.next_etag();
            self.objects.lock().unwrap().insert(key.to_string(), Stored { body, etag });
        }

        pub(crate) fn keys(&self) -> Vec<String> {
            let mut keys: Vec<String> = self.objects.lock().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        }

        fn next_etag(&self) -> String {
            let mut v = self.versions.lock().unwrap();
            *v += 1;
            format!("\"v{v}\"")
        }

        async fn wait(&self) -> Result<(), StoreError> {
            if let Some(latency) = &self.latency {
                tokio::time::sleep(latency()).await;
            }
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError("memory store down".into()));
            }
            Ok(())
        }
    }

    impl ClaimStore for MemoryStore {
        fn create<'a>(&'a self, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<Created, StoreError>> {
            Box::pin(async move {
                self.wait().await?;
                let mut objects = self.objects.lock().unwrap();
                if objects.contains_key(key) {
                    return Ok(Created::Exists);
                }
                let etag = self.next_etag();
                objects.insert(key.to_string(), Stored { body, etag: etag.clone() });
                Ok(Created::Written(etag))
            })
        }

        fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Stored>, StoreError>> {
            Box::pin(async move {
                self.wait().await?;
                Ok(self.objects.lock().unwrap().get(key).cloned())
            })
        }

        fn replace<'a>(&'a self, key: &'a str, etag: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<Replaced, StoreError>> {
            Box::pin(async move {
                self.wait().await?;
                let mut objects = self.objects.lock().unwrap();
                match objects.get_mut(key) {
                    Some(stored) if stored.etag == etag => {
                        let etag = self.next_etag();
                        *stored = Stored { body, etag: etag.clone() };
                        Ok(Replaced::Written(etag))
                    }
                    _ => Ok(Replaced::Conflict),
                }
            })
        }

        fn describe(&self, key: &str) -> String {
            format!("memory://{key}")
        }
    }

    #[tokio::test]
    async fn conditions_hold_as_in_s3() {
        let store = MemoryStore::default();
        let Created::Written(first) = store.create("k", b"a".to_vec()).await.unwrap() else { panic!("not written") };
        assert_eq!(store.create("k", b"b".to_vec()).await.unwrap(), Created::Exists);
        assert_eq!(store.read("k").await.unwrap().unwrap(), Stored { body: b"a".to_vec(), etag: first.clone() });
        let Replaced::Written(second) = store.replace("k", &first, b"c".to_vec()).await.unwrap() else { panic!("not replaced") };
        assert_eq!(store.replace("k", &first, b"d".to_vec()).await.unwrap(), Replaced::Conflict, "a stale ETag wins nothing");
        assert_eq!(store.replace("missing", &second, b"e".to_vec()).await.unwrap(), Replaced::Conflict);
        assert_eq!(store.read("k").await.unwrap().unwrap().body, b"c");
        assert_eq!(store.read("missing").await.unwrap(), None);
    }
}
