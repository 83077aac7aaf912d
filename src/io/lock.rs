//! The output folder's lock: one mmgame run writes into a folder at a time, so two runs into
//! one `--out` can never leave one run's policy beside the other's values.
//!
//! The lock is an exclusive advisory lock (`flock`, through `fs4`) on `.mmgame.lock` in the
//! folder, held while the run writes. Within one process it is reentrant: the CLI holds it
//! across a solve and its plots while the solve takes it again, and both share one lock.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use crate::error::Error;

/// The lock file's name inside a locked folder.
pub const LOCK_FILE: &str = ".mmgame.lock";

/// A held lock on an output folder; released when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FolderLock {
    _held: Arc<File>,
}

/// The folders this process holds, by canonical path.
static HELD: Mutex<Option<HashMap<PathBuf, Weak<File>>>> = Mutex::new(None);

impl FolderLock {
    /// Locks `dir` (which must exist) for this process. Another process's lock makes this an
    /// input error at once, naming the folder, or a wait when `wait`.
    pub fn acquire(dir: &Path, wait: bool) -> Result<FolderLock, Error> {
        let key = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let mut held = HELD
            .lock()
            .map_err(|_| Error::Internal("the folder-lock table was poisoned".into()))?;
        let held = held.get_or_insert_with(HashMap::new);
        if let Some(file) = held.get(&key).and_then(Weak::upgrade) {
            return Ok(FolderLock { _held: file });
        }
        let path = key.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let locked = if wait {
            fs4::fs_std::FileExt::lock_exclusive(&file).map(|()| true)
        } else {
            fs4::fs_std::FileExt::try_lock_exclusive(&file)
        }
        .map_err(|e| Error::io(&path, e))?;
        if !locked {
            return Err(Error::Input(format!(
                "--out {}: another mmgame run is writing there (it holds {LOCK_FILE}); wait for it, use another folder, or pass --wait",
                dir.display()
            )));
        }
        let file = Arc::new(file);
        held.retain(|_, w| w.strong_count() > 0);
        held.insert(key, Arc::downgrade(&file));
        Ok(FolderLock { _held: file })
    }
}

/// An output folder being written: created and checked, locked, cleared of what interrupted
/// runs left, and remembering the previous run's files, so that [`FolderWrite::finish`] can
/// remove those the new run did not write (a notebook run's plots beside a later `--no-plots`
/// run's data would describe another run).
pub struct FolderWrite {
    dir: PathBuf,
    previous: Vec<String>,
    _lock: FolderLock,
}

impl FolderWrite {
    pub fn begin(dir: &Path, wait: bool) -> Result<FolderWrite, Error> {
        super::create_output_dir(dir)?;
        let lock = FolderLock::acquire(dir, wait)?;
        remove_stale_temporaries(dir)?;
        Ok(FolderWrite {
            dir: dir.to_path_buf(),
            previous: super::previous_files(dir),
            _lock: lock,
        })
    }

    /// Removes the previous run's files that are not among `written`; releases the lock.
    pub fn finish(self, written: &[String]) -> Result<(), Error> {
        super::remove_stale_files(&self.dir, &self.previous, written)
    }
}

/// Removes what interrupted mmgame runs left in `dir`: their temporary files
/// (`.mmgame-*.partial`). Only call it holding the folder's lock, so that no run is writing
/// them.
pub fn remove_stale_temporaries(dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".mmgame-") && name.ends_with(".partial") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_reentrant_in_a_process_and_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = FolderLock::acquire(dir.path(), false).unwrap();
        let b = FolderLock::acquire(dir.path(), false).unwrap();
        assert!(Arc::ptr_eq(&a._held, &b._held));
        // Another open file description (as another process would have) is refused.
        let other = File::open(dir.path().join(LOCK_FILE)).unwrap();
        assert!(!fs4::fs_std::FileExt::try_lock_exclusive(&other).unwrap());
        drop((a, b));
        assert!(fs4::fs_std::FileExt::try_lock_exclusive(&other).unwrap());
    }

    #[test]
    fn stale_temporaries_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".mmgame-abc.partial",
            "values.npy",
            ".mmgame-x.txt",
            "notes.partial",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_stale_temporaries(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".mmgame-x.txt", "notes.partial", "values.npy"]);
    }
}
