//! Local files: whether fanin, as the user it runs as, can create and append what it needs,
//! tested by doing it, and leaving nothing behind that was not there before.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Whether records can be appended to `path`: an existing file is opened for appending
/// (nothing written); a missing one is not created, its directory is probed instead, so a
/// daemon starting at the same moment never finds its file half made or removed.
pub(super) fn appendable(path: &Path) -> io::Result<&'static str> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(io::Error::other("is a directory")),
        Ok(_) => OpenOptions::new().append(true).open(path).map(|_| "appendable"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => writable_dir(path.parent().unwrap_or(Path::new("."))).map(|_| "can be created"),
        Err(e) => Err(e),
    }
}

/// Whether `dir` exists as a directory that files can be made in, or can be created: creates
/// what is missing and a scratch file in it, then removes the scratch file and the directories
/// it created (only while empty).
pub(super) fn writable_dir(dir: &Path) -> io::Result<()> {
    // The checks run at once: one probe removing the directory it made must not pull it from
    // under another probing the same directory.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _probing = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let created = missing_ancestors(dir);
    let result = fs::create_dir_all(dir).and_then(|_| scratch_file(dir));
    for d in &created {
        let _ = fs::remove_dir(d);
    }
    result
}

/// The directories of `dir`'s path that do not exist yet, deepest first.
fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err()).map(Path::to_path_buf).collect()
}

fn scratch_file(dir: &Path) -> io::Result<()> {
    // The checks run at once: two sinks in one directory probe it at the same moment.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch = dir.join(format!(".fanin-validate-{}-{n}", std::process::id()));
    OpenOptions::new().write(true).create_new(true).open(&scratch)?;
    fs::remove_file(&scratch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_probed_and_removed_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/c");
        writable_dir(&dir).unwrap();
        assert!(!tmp.path().join("a").exists(), "created directories are removed");
        assert_eq!(appendable(&dir.join("dlq.jsonl")).unwrap(), "can be created");
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn an_existing_file_is_left_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("dlq.jsonl");
        fs::write(&file, "{}\n").unwrap();
        assert_eq!(appendable(&file).unwrap(), "appendable");
        assert_eq!(fs::read_to_string(&file).unwrap(), "{}\n");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "no scratch file left");
    }

    #[test]
    fn a_path_under_a_regular_file_cannot_be_made() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("plain"), "").unwrap();
        assert!(appendable(&tmp.path().join("plain/sub/dlq.jsonl")).is_err());
        assert!(appendable(tmp.path()).is_err(), "a directory is not a file");
    }
}
