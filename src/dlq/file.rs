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
            let mut line = serde_json::to_vec(record).map_err(|e| self.error(e.to_string()))?;
            line.push(b'\n');
            let (file, path) = (self.file.clone(), self.path.clone());
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                if guard.is_none() {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    *guard = Some(OpenOptions::new().create(true).append(true).open(&path)?);
                }
                let f = guard.as_mut().expect("opened above");
                let result = f.write_all(&line).and_then(|_| f.sync_data());
                if result.is_err() {
                    *guard = None;
                }
                result
            })
            .await
            .map_err(|e| self.error(e.to_string()))?
            .map_err(|e| self.error(format!("{}: {e}", self.path.display())))
        })
    }
}

impl FileSink {
    fn error(&self, message: String) -> SinkError {
        SinkError { sink: self.name.clone(), message }
    }
}
