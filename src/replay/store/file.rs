//! Dead letters in a JSON-lines file (fanin's `file` sink), rewritten in place after a replay.

use super::*;

/// A JSON-lines file (fanin's `file` sink).
pub struct FileStore {
    pub(super) path: PathBuf,
    pub(super) state: Mutex<FileState>,
}

#[derive(Default)]
pub(super) struct FileState {
    /// The lines as first read (bytes: a line that is not UTF-8 is kept as it was); line
    /// numbers are the items' keys for the whole run.
    pub(super) lines: Vec<Vec<u8>>,
    /// Line number → its replacement (`None`: removed); grows over the run.
    pub(super) settled: HashMap<usize, Option<String>>,
    /// Length of the file as fanin last wrote (or first read) it.
    pub(super) written_len: usize,
    /// Lines others (a running daemon) appended since: kept at the end of every rewrite.
    pub(super) appended: Vec<u8>,
}

impl FileStore {
    pub(super) fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        let bytes = std::fs::read(&self.path).with_context(|| format!("reading {}", self.path.display()))?;
        let mut state = self.state.lock().unwrap();
        let lines = bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec());
        let mut lines: Vec<Vec<u8>> = lines.collect();
        // The text after the last newline (nothing, in a whole file) is a line only if not empty.
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        *state = FileState { written_len: bytes.len(), lines, ..Default::default() };
        let (mut items, mut errors) = (vec![], vec![]);
        for (n, line) in state.lines.iter().enumerate() {
            let key = format!("{}:{}", self.path.display(), n + 1);
            let line = match std::str::from_utf8(line) {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => line,
                Err(e) => {
                    errors.push(format!("{key}: not UTF-8 ({e})"));
                    continue;
                }
            };
            match item::parse(line, &key, None) {
                Ok(letter) => items.push(Item { key: n.to_string(), letter }),
                Err(e) => errors.push(format!("{key}: {e}")),
            }
        }
        Ok((items, errors))
    }

    pub(super) fn settle(&self, item: &Item, replacement: Option<String>) -> anyhow::Result<()> {
        let n: usize = item.key.parse()?;
        self.state.lock().unwrap().settled.insert(n, replacement);
        Ok(())
    }

    /// Writes the remaining records to a temporary file, fsyncs it, and renames it over the
    /// original: a crash leaves either the old file or the new one, never half of each.
    pub(super) fn rewrite(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap();
        if state.settled.is_empty() {
            return Ok(());
        }
        let current = std::fs::read(&self.path).with_context(|| format!("reading {}", self.path.display()))?;
        let new_tail = current.get(state.written_len..).unwrap_or_default().to_vec();
        state.appended.extend_from_slice(&new_tail);
        let mut out = Vec::new();
        for (n, line) in state.lines.iter().enumerate() {
            match state.settled.get(&n) {
                Some(None) => {}
                Some(Some(replacement)) => writeln!(out, "{replacement}")?,
                None => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
        }
        out.extend_from_slice(&state.appended);
        let tmp = self.path.with_extension("replay.tmp");
        let mut file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&out)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        state.written_len = out.len();
        Ok(())
    }
}
