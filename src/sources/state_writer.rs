//! The one thread that writes every source's state files (cron's last fires, polled alarms'
//! states), so that file writes never run on a runtime worker and never hold up a fire.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, OnceLock};

use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::warn;

/// A state file kept in memory and written by the writer thread.
pub trait StateFile: Send + Sync + 'static {
    /// The file. Writes of one file that wait together are done once.
    fn path(&self) -> &Path;
    /// Writes the file as the state now is in memory.
    fn write_now(&self) -> std::io::Result<()>;
    /// What a lost write costs, said in the warning when one fails.
    fn if_lost(&self) -> &'static str;
}

/// How long the writer lets writes gather before it writes: schedules due at one instant
/// settle together, and this keeps the thread's writes out of the moments fires are due.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

struct Write {
    file: Arc<dyn StateFile>,
    source: Arc<str>,
    _waiter: TaskTrackerToken,
}

/// Writes `file` on the writer thread, soon. `waiter` is dropped once it is written, so the
/// source's shutdown waits for it.
pub fn write_later(file: Arc<dyn StateFile>, source: Arc<str>, waiter: TaskTrackerToken) {
    let _ = writer().send(Write { file, source, _waiter: waiter });
}

fn writer() -> &'static Sender<Write> {
    static WRITER: OnceLock<Sender<Write>> = OnceLock::new();
    WRITER.get_or_init(|| {
        let (tx, rx) = channel::<Write>();
        std::thread::Builder::new()
            .name("fanin-state".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    std::thread::sleep(GATHER);
                    // Each write puts down the state as it is then: one per file is enough.
                    let due: HashMap<PathBuf, Write> =
                        std::iter::once(first).chain(rx.try_iter()).map(|w| (w.file.path().to_path_buf(), w)).collect();
                    for write in due.into_values() {
                        if let Err(e) = write.file.write_now() {
                            warn!(source = %write.source, file = %write.file.path().display(), error = %e, "could not write the state file; {}", write.file.if_lost());
                        }
                    }
                }
            })
            .expect("a thread for state files");
        tx
    })
}
