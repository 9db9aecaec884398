//! This process's hold on its state directory: a lock that keeps a second process off the
//! same `state_dir`, and the instance id, made once and kept there, that owns its fleet claims.
//!
//! The id is per instance, not per host: several instances on one machine (template units,
//! containers sharing a host name) each have their own, and a restarted instance reads its
//! own back, so it still knows the claims it made before it stopped.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::config::ConfigError;
use crate::settings::Config;

/// The lock file's name in `state_dir`.
pub const LOCK_FILE: &str = "fanin.lock";
/// The instance id file's name in `state_dir`.
pub const ID_FILE: &str = "instance-id";

/// A running instance: its id, and the lock it holds until dropped.
pub struct Instance {
    pub id: String,
    _lock: File,
}

impl Instance {
    /// Locks `config`'s state directory and reads (or makes) the instance id. A directory
    /// another process holds is a configuration error naming the lock file and its holder.
    pub fn claim(config: &Config) -> Result<Instance, ConfigError> {
        let dir = &config.daemon.state_dir;
        let problem = |what: String| ConfigError::new(&config.file, "daemon.state_dir", what);
        std::fs::create_dir_all(dir).map_err(|e| problem(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(LOCK_FILE);
        let lock = lock(&path).map_err(problem)?;
        let id = instance_id(&dir.join(ID_FILE)).map_err(|e| problem(format!("cannot keep the instance id in {}: {e}", dir.display())))?;
        Ok(Instance { id, _lock: lock })
    }
}

/// Takes the lock at `path` and writes this process's id into it.
fn lock(path: &Path) -> Result<File, String> {
    // Not truncated before the lock is ours: the holder's pid is the error's best clue.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
            return Err(format!(
                "another fanin process{holder} runs with this state directory: {} is locked; give each instance its own state_dir",
                path.display()
            ));
        }
        Err(TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", path.display())),
    }
    let pid = std::process::id().to_string();
    let written = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(pid.as_bytes()));
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(file)
}

/// The id kept at `path`, made (128 random bits, hex) and kept there on first use.
fn instance_id(path: &PathBuf) -> std::io::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = format!("{:032x}", rand::random::<u128>());
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &id)?;
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_file_is_refused_naming_it_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let held = lock(&path).unwrap();
        let refused = lock(&path).unwrap_err();
        assert!(refused.contains(&path.display().to_string()), "{refused}");
        assert!(refused.contains(&format!("pid {}", std::process::id())), "{refused}");
        drop(held);
        lock(&path).expect("free again once the holder is gone");
    }

    #[test]
    fn the_instance_id_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ID_FILE);
        let first = instance_id(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(instance_id(&path).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(instance_id(&other.path().join(ID_FILE)).unwrap(), first, "two state directories share an id");
    }
}
