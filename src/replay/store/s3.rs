//! Dead letters as S3 objects under a prefix (fanin's `s3` sink, a Lambda on-failure destination).

use super::*;

/// S3 objects under a prefix: fanin's `s3` sink or a Lambda on-failure destination.
pub struct S3Store {
    pub(super) client: aws_sdk_s3::Client,
    pub(super) bucket: String,
    pub(super) prefix: String,
    /// Move replayed objects under `replayed/` instead of deleting them.
    pub(super) keep: bool,
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
    pub(super) async fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        let (mut items, mut errors) = (vec![], vec![]);
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_error)?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.starts_with(&format!("{}replayed/", self.prefix)) {
                    continue;
                }
                let body = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(s3_error)?;
                let bytes = body.body.collect().await?.into_bytes();
                match item::parse(&String::from_utf8_lossy(&bytes), key, None) {
                    Ok(letter) => items.push(Item { key: key.to_string(), letter }),
                    Err(e) => errors.push(format!("s3://{}/{key}: {e}", self.bucket)),
                }
            }
        }
        Ok((items, errors))
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
