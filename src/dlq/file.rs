//! The file sink: JSON lines, each fsync'd before the write counts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::BoxFuture;

/// Appends records to one file.
pub struct FileSink {
    name: String,
    path: PathBuf,
    // Opened on first write, and again after a failure, so a sink that was down recovers.
    file: Arc<Mutex<Option<File>>>,
}

impl FileSink {
    pub fn new(name: &str, path: PathBuf) -> Self {
        FileSink { name: name.to_string(), path, file: Arc::new(Mutex::new(None)) }
    }
}

impl DeadLetterSink for FileSink {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut line = serde_json::to_vec(record).map_err(|e| self.error(e))?;
            line.push(b'\n');
            let (file, path) = (self.file.clone(), self.path.clone());
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                // `fanin replay` rewrites the file and renames the new one into place: appends
                // to the file opened before would go to one no path names any more.
                if guard.as_ref().is_some_and(|f| !still_at(f, &path)) {
                    *guard = None;
                }
                if guard.is_none() {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let mut f = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
                    end_the_last_line(&mut f)?;
                    *guard = Some(f);
                }
                let f = guard.as_mut().expect("opened above");
                let result = f.write_all(&line).and_then(|_| f.sync_data());
                if result.is_err() {
                    *guard = None;
                }
                result
            })
            .await
            .map_err(|e| self.error(e))?
            .map_err(|e| self.error(format!("{}: {e}", self.path.display())))
        })
    }
}

/// Whether `f` is still the file at `path`.
fn still_at(f: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => (open.dev(), open.ino()) == (named.dev(), named.ino()),
        _ => false,
    }
}

/// A write cut short (a crash, a full disk) leaves a last line without its newline; the
/// next record must not be glued to it, or a whole record would become unreadable with it.
fn end_the_last_line(f: &mut File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    f.seek(SeekFrom::End(-1))?;
    f.read_exact(&mut last)?;
    if last[0] != b'\n' {
        f.write_all(b"\n")?;
    }
    Ok(())
}

impl FileSink {
    fn error(&self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SinkError {
        SinkError::new(&self.name, cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::record::{FaninContext, RequestContext, ResponseContext};
    use crate::dlq::Condition;

    fn record(id: &str) -> DeadLetterRecord {
        DeadLetterRecord {
            version: "1.0".into(),
            timestamp: "2026-12-05T00:00:00.000Z".into(),
            request_context: RequestContext {
                request_id: None,
                function_arn: "work".into(),
                condition: Condition::ResourceNotFound,
                approximate_invoke_count: 1,
            },
            request_payload: serde_json::json!({}),
            response_context: ResponseContext::default(),
            response_payload: None,
            fanin: FaninContext {
                source: "s".into(),
                event_id: id.into(),
                target: "work".into(),
                first_attempt_at: None,
                last_attempt_at: None,
                replay_count: 0,
            },
        }
    }

    /// A replay renames its rewrite over the file; the next record must land in the new one.
    #[tokio::test]
    async fn a_file_replaced_under_the_sink_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dlq.jsonl");
        let sink = FileSink::new("local", path.clone());
        sink.write(&record("a")).await.unwrap();
        let tmp = dir.path().join("rewrite");
        std::fs::write(&tmp, "").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        sink.write(&record("b")).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"eventId\":\"b\"") && !text.contains("\"eventId\":\"a\""), "{text}");
    }
}
