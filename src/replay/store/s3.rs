//! Dead letters as S3 objects under a prefix (fanin's `s3` sink, a Lambda on-failure
//! destination), listed a page at a time and fetched a few at once.

use futures_util::StreamExt;

use super::*;

/// Keys listed per page: a page's records are what one read holds.
const PAGE: i32 = 100;
/// Objects fetched at once.
const FETCHES: usize = 16;

/// S3 objects under a prefix: fanin's `s3` sink or a Lambda on-failure destination.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Move replayed objects under `replayed/` instead of deleting them.
    keep: bool,
    /// Where the listing goes on: `None` before the first page; `Some(None)` once read through.
    next_page: tokio::sync::Mutex<Option<Option<String>>>,
    /// Objects read.
    pub(super) read: AtomicU64,
}

/// `CopySource` is URL-encoded: every byte but unreserved characters and `/`.
fn percent_encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl S3Store {
    pub(super) fn new(client: aws_sdk_s3::Client, bucket: String, prefix: String, keep: bool) -> S3Store {
        S3Store { client, bucket, prefix, keep, next_page: tokio::sync::Mutex::new(None), read: AtomicU64::new(0) }
    }

    pub(super) async fn next(&self, whole: bool) -> anyhow::Result<Option<Batch>> {
        let mut next_page = self.next_page.lock().await;
        loop {
            let token = match &*next_page {
                Some(None) => return Ok(None),
                Some(Some(token)) => Some(token.clone()),
                None => None,
            };
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .max_keys(PAGE)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(s3_error)?;
            *next_page = Some(page.next_continuation_token().filter(|_| page.is_truncated() == Some(true)).map(str::to_string));
            let replayed = format!("{}replayed/", self.prefix);
            let keys: Vec<String> =
                page.contents().iter().filter_map(|o| o.key()).filter(|k| !k.starts_with(&replayed)).map(str::to_string).collect();
            if keys.is_empty() {
                continue;
            }
            let fetched: Vec<(String, anyhow::Result<bytes::Bytes>)> = futures_util::stream::iter(keys)
                .map(|key| async move {
                    let body = self.client.get_object().bucket(&self.bucket).key(&key).send().await.map_err(s3_error);
                    let bytes = match body {
                        Ok(body) => body.body.collect().await.map(|b| b.into_bytes()).map_err(anyhow::Error::from),
                        Err(e) => Err(e),
                    };
                    (key, bytes)
                })
                .buffered(FETCHES)
                .collect()
                .await;
            let mut batch = Batch::default();
            for (key, bytes) in fetched {
                self.read.fetch_add(1, Ordering::Relaxed);
                match bytes.map_err(|e| e.to_string()).and_then(|b| item::parse(&String::from_utf8_lossy(&b), || key.clone(), None, whole))
                {
                    Ok(letter) => batch.items.push(Item { key, letter }),
                    Err(e) => batch.unreadable.push(format!("s3://{}/{key}: {e}", self.bucket)),
                }
            }
            return Ok(Some(batch));
        }
    }

    pub(super) async fn remove(&self, key: &str) -> anyhow::Result<()> {
        if self.keep {
            let rest = key.strip_prefix(&self.prefix).unwrap_or(key);
            let target = format!("{}replayed/{rest}", self.prefix);
            let source = format!("{}/{}", self.bucket, percent_encode_key(key));
            self.client.copy_object().bucket(&self.bucket).key(target).copy_source(source).send().await.map_err(s3_error)?;
        }
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(s3_error)?;
        Ok(())
    }

    pub(super) async fn put(&self, key: &str, body: String) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_url_encoded_as_s3_requires() {
        // moto takes an unencoded CopySource; S3 does not.
        assert_eq!(percent_encode_key("dlq/2026/event 1+x.json"), "dlq/2026/event%201%2Bx.json");
        assert_eq!(percent_encode_key("ü/%"), "%C3%BC/%25");
    }
}
