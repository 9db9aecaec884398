//! The file store's journal: what a replay did to which line, appended as it happens and
//! applied to the dead-letter file in one rewrite at the end (or, after a crash, at the start
//! of the next replay).
//!
//! Why a journal rather than writing the new file as the replay goes: records settle out of
//! order (one retries for minutes while thousands behind it are accepted), so a new file
//! written in order would have to hold every record behind the slow one; a journal holds one
//! bit per line in memory and a line per settled record on disk, whatever the order. And a
//! crash part way loses at most the last second of it (fsync'd every second, as the whole file
//! used to be rewritten), where a half-written new file would lose the whole run's removals.
//!
//! Format, one entry a line: a header `fanin-replay-journal 1 <inode> <length>` naming the
//! file it applies to (its inode, and its length when the replay started: the lines it read);
//! `-N` line N (from 0) was removed; `+N RECORD` line N died again and RECORD replaces it. A
//! torn last entry (a crash mid-write) is ignored.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

const MAGIC: &str = "fanin-replay-journal 1";

/// One bit per line of the file.
#[derive(Default, Debug)]
pub struct Lines(Vec<u64>);

impl Lines {
    pub fn set(&mut self, n: u64) {
        let (word, bit) = ((n / 64) as usize, n % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    pub fn contains(&self, n: u64) -> bool {
        self.0.get((n / 64) as usize).is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// The journal of a replay under way.
pub struct Journal {
    file: BufWriter<File>,
    /// Entries written since the last sync.
    dirty: bool,
}

/// What a journal left behind says.
pub struct Left {
    /// The inode of the file it applies to.
    pub inode: u64,
    /// The file's length when that replay started.
    pub len: u64,
    /// The lines it settled (removed or replaced).
    pub settled: Lines,
}

/// The journal of the dead-letter file `path`.
pub fn path_of(path: &Path) -> PathBuf {
    super::beside(path, ".replay-journal")
}

impl Journal {
    /// Starts the journal of a file of inode `inode` and length `len`, durably.
    pub fn create(path: &Path, inode: u64, len: u64) -> anyhow::Result<Journal> {
        let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        writeln!(file, "{MAGIC} {inode} {len}")?;
        file.sync_all()?;
        sync_dir(path)?;
        Ok(Journal { file: BufWriter::with_capacity(1 << 16, file), dirty: false })
    }

    pub fn removed(&mut self, line: u64) -> std::io::Result<()> {
        self.dirty = true;
        writeln!(self.file, "-{line}")
    }

    /// `record` is one line of JSON (serde_json writes no newline inside one).
    pub fn replaced(&mut self, line: u64, record: &str) -> std::io::Result<()> {
        self.dirty = true;
        writeln!(self.file, "+{line} {record}")
    }

    /// Makes every entry so far durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        self.dirty = false;
        Ok(())
    }
}

/// Reads the journal at `path`, if there is one.
pub fn read(path: &Path) -> anyhow::Result<Option<Left>> {
    let file = match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.with_context(|| format!("reading {}", path.display()))?,
    };
    let mut lines = BufReader::new(file).split(b'\n');
    let header = match lines.next() {
        Some(line) => String::from_utf8_lossy(&line?).into_owned(),
        None => String::new(),
    };
    let Some(rest) = header.strip_prefix(MAGIC) else {
        // Torn before its header was whole: nothing was settled under it.
        return Ok(Some(Left { inode: 0, len: 0, settled: Lines::default() }));
    };
    let mut fields = rest.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(inode)), Some(Ok(len))) = (fields.next(), fields.next()) else {
        return Ok(Some(Left { inode: 0, len: 0, settled: Lines::default() }));
    };
    let mut settled = Lines::default();
    for entry in lines {
        if let Some(n) = entry_line(&entry?) {
            settled.set(n);
        }
    }
    Ok(Some(Left { inode, len, settled }))
}

/// The line number an entry settles; `None` for a torn one.
fn entry_line(entry: &[u8]) -> Option<u64> {
    let (kind, rest) = entry.split_first()?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    match (kind, &rest[digits..]) {
        (b'-', []) => Some(n),
        // A replacement is whole when its record is: JSON ends with `}`.
        (b'+', [b' ', record @ ..]) if record.ends_with(b"}") => Some(n),
        _ => None,
    }
}

/// Applies the journal at `journal` to the dead-letter file `path` in one rewrite, and
/// removes the journal. The new file is written beside it, fsync'd and renamed over it: a
/// crash leaves the old file and the journal (applied again next time), or the new file.
/// Returns (records removed, records written back).
pub fn apply(path: &Path, journal: &Path) -> anyhow::Result<(usize, usize)> {
    let Some(left) = read(journal)? else { return Ok((0, 0)) };
    let current = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::remove_file(journal)?;
            return Ok((0, 0));
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // Another inode: the rewrite was renamed into place before the journal could go.
    if current.ino() != left.inode || left.inode == 0 {
        std::fs::remove_file(journal)?;
        return Ok((0, 0));
    }
    let tmp = super::beside(path, ".replay-tmp");
    let mut out = BufWriter::with_capacity(1 << 16, File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?);
    let mut original = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    // The lines the replay read, less those it settled.
    let mut reader = BufReader::with_capacity(1 << 16, (&mut original).take(left.len));
    let (mut n, mut line) = (0u64, Vec::new());
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if !left.settled.contains(n) {
            out.write_all(&line)?;
            // A last line left torn by a crash keeps a line of its own.
            if !line.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
        }
        n += 1;
    }
    // What died again, after them: it died last.
    let mut written_back = 0;
    for entry in BufReader::new(File::open(journal)?).split(b'\n').skip(1) {
        let entry = entry?;
        if entry.first() == Some(&b'+') && entry_line(&entry).is_some() {
            let at = entry.iter().position(|&b| b == b' ').expect("checked by entry_line") + 1;
            out.write_all(&entry[at..])?;
            out.write_all(b"\n")?;
            written_back += 1;
        }
    }
    // What a running daemon appended meanwhile, as it is.
    drop(reader);
    std::io::copy(&mut original, &mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(path)?;
    std::fs::remove_file(journal)?;
    Ok((left.settled.count() - written_back, written_back))
}

/// A rename or a new file is durable once its directory is.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}
