//! Dead letters in a JSON-lines file (fanin's `file` sink), read line by line; what a replay
//! settles goes to a journal, applied to the file in one rewrite at the end (`journal.rs` says
//! why).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;

use super::journal::{self, Journal, Lines};
use super::*;

/// Lines read per batch.
const BATCH: usize = 256;

/// A JSON-lines file (fanin's `file` sink).
pub struct FileStore {
    path: PathBuf,
    mode: Mode,
    /// The file's inode, which the journal names.
    inode: u64,
    /// Its length when opened: lines a running daemon appends later are not read, and are
    /// kept as they are by the rewrite.
    end: u64,
    reader: Mutex<LineReader>,
    /// Bytes read so far.
    position: AtomicU64,
    /// Lines an interrupted replay settled whose rewrite is still to come (looking only: a
    /// replay finishes that rewrite before it reads): skipped, as they are gone.
    settled_before: Lines,
    /// Opened at the first settled record.
    journal: Mutex<Option<Journal>>,
    /// Replaying: the file, locked for this run.
    _lock: Option<File>,
}

struct LineReader {
    lines: BufReader<std::io::Take<File>>,
    /// The number of the next line, from 0.
    next: u64,
}

/// `file` (the dead-letter file at `path`), locked for this replay.
fn locked(file: File, path: &Path) -> anyhow::Result<File> {
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!("another fanin replay is replaying {} now", path.display()),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

impl FileStore {
    pub(super) fn open(path: &Path, mode: Mode) -> anyhow::Result<FileStore> {
        let journal_path = journal::path_of(path);
        // Two replays of one file would write one journal: the second is refused. (An advisory
        // lock on the file itself: the daemon's appends do not take it, and it goes with the
        // process.)
        let lock = match mode {
            Mode::Replay => Some(locked(File::open(path).with_context(|| format!("reading {}", path.display()))?, path)?),
            Mode::Look => None,
        };
        let mut settled_before = Lines::default();
        match mode {
            Mode::Replay => {
                let (removed, written_back) = journal::apply(path, &journal_path)?;
                if removed + written_back > 0 {
                    eprintln!(
                        "finished the rewrite an interrupted replay left: {removed} removed, {written_back} written back ({})",
                        path.display()
                    );
                }
            }
            Mode::Look => {
                let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
                if let Some(left) = journal::read(&journal_path)?.filter(|l| l.inode == file.metadata().map(|m| m.ino()).unwrap_or(0)) {
                    eprintln!(
                        "an interrupted replay settled {} of these records ({} says which); they are left out: the next replay removes them",
                        left.settled.count(),
                        journal_path.display()
                    );
                    settled_before = left.settled;
                }
            }
        }
        let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
        // The journal's rewrite made a new file: the lock goes with the one read from now on.
        // (Let go first: a second lock of the same file by this process would be refused too.)
        let relock = lock.is_some();
        drop(lock);
        let lock = if relock { Some(locked(file.try_clone()?, path)?) } else { None };
        let meta = file.metadata()?;
        Ok(FileStore {
            path: path.to_path_buf(),
            mode,
            inode: meta.ino(),
            end: meta.len(),
            reader: Mutex::new(LineReader { lines: BufReader::with_capacity(1 << 16, file.take(meta.len())), next: 0 }),
            position: AtomicU64::new(0),
            settled_before,
            journal: Mutex::new(None),
            _lock: lock,
        })
    }

    pub(super) fn len(&self) -> u64 {
        self.end
    }

    pub(super) fn position(&self) -> u64 {
        self.position.load(Ordering::Relaxed)
    }

    pub(super) fn next(&self, whole: bool) -> anyhow::Result<Option<Batch>> {
        let mut reader = self.reader.lock().unwrap();
        let mut batch = Batch::default();
        let mut line = Vec::new();
        let mut read = 0;
        while read < BATCH {
            line.clear();
            let n = reader.lines.read_until(b'\n', &mut line).with_context(|| format!("reading {}", self.path.display()))?;
            if n == 0 {
                break;
            }
            read += 1;
            self.position.fetch_add(n as u64, Ordering::Relaxed);
            let number = reader.next;
            reader.next += 1;
            if self.settled_before.contains(number) {
                continue;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            // Where the line is, for messages and the id of a record that has none: made only then.
            let key = || format!("{}:{}", self.path.display(), number + 1);
            let text = match std::str::from_utf8(text) {
                Ok(t) if t.trim().is_empty() => continue,
                Ok(t) => t,
                Err(e) => {
                    batch.unreadable.push(format!("{}: not UTF-8 ({e})", key()));
                    continue;
                }
            };
            match item::parse(text, key, None, whole) {
                Ok(letter) => batch.items.push(Item { key: number.to_string(), letter }),
                Err(e) => batch.unreadable.push(format!("{}: {e}", key())),
            }
        }
        Ok((read > 0).then_some(batch))
    }

    /// Journals line `key`'s outcome: removed (`None`) or replaced.
    pub(super) fn settle(&self, key: &str, replacement: Option<&str>) -> anyhow::Result<()> {
        if self.mode != Mode::Replay {
            bail!("{} was opened only to look", self.path.display());
        }
        let line: u64 = key.parse().with_context(|| format!("not a line number: {key}"))?;
        let mut journal = self.journal.lock().unwrap();
        if journal.is_none() {
            *journal = Some(Journal::create(&journal::path_of(&self.path), self.inode, self.end)?);
        }
        let journal = journal.as_mut().expect("created above");
        match replacement {
            None => journal.removed(line)?,
            Some(record) => journal.replaced(line, record)?,
        }
        Ok(())
    }

    pub(super) fn flush(&self) -> anyhow::Result<()> {
        if let Some(journal) = self.journal.lock().unwrap().as_mut() {
            journal.sync().with_context(|| format!("writing {}", journal::path_of(&self.path).display()))?;
        }
        Ok(())
    }

    /// Applies the journal: one rewrite of the file.
    pub(super) fn finish(&self) -> anyhow::Result<()> {
        self.flush()?;
        let Some(journal) = self.journal.lock().unwrap().take() else { return Ok(()) };
        drop(journal);
        journal::apply(&self.path, &journal::path_of(&self.path))?;
        Ok(())
    }
}
