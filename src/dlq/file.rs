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
