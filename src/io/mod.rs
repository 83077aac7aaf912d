//! Files: `.npy` arrays through `ndarray-npy` ([`npy`]), CSV through `csv` + serde ([`csv`]),
//! `summary.json` ([`summary`]); readers beside writers.
//!
//! Every file is written to a temporary file in its folder, synced, and renamed into place once
//! complete (and the folder synced after), so an interrupted run or a crash never leaves a
//! truncated file under its final name.

pub mod csv;
pub mod lock;
pub mod npy;
pub mod summary;
pub mod sweep_meta;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Error;

/// Checks, before any work, that `dir` can be an output folder: absent (it will be created)
/// or an existing folder, with no file where one of its parents should be.
pub fn check_output_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Input(format!(
            "--out {}: exists and is not a folder (give a folder, new or existing)",
            dir.display()
        )));
    }
    if let Some(file) = dir.ancestors().skip(1).find(|p| p.is_file()) {
        return Err(Error::Input(format!(
            "--out {}: {} is a file, not a folder",
            dir.display(),
            file.display()
        )));
    }
    // Whether files can be made there: a temporary file in the nearest folder that exists
    // (removed at once), so that nothing is left for input that turns out bad.
    let existing = dir
        .ancestors()
        .find(|p| p.as_os_str().is_empty() || p.is_dir())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::tempfile_in(existing).map_err(|e| {
        Error::Input(format!(
            "--out {}: cannot write there ({e}); give a folder you can write to",
            dir.display()
        ))
    })?;
    Ok(())
}

/// Creates the output folder (and its parents) and checks that files can be written in it,
/// before a run's work: a folder that cannot be written is bad input (exit 2), found at once.
pub fn create_output_dir(dir: &Path) -> Result<(), Error> {
    check_output_dir(dir)?;
    let unwritable = |e: std::io::Error| {
        Error::Input(format!(
            "--out {}: cannot write there ({e}); give a folder you can write to",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    temp_file_in(dir).map_err(|e| match e {
        Error::Io { source, .. } => unwritable(source),
        e => e,
    })?;
    Ok(())
}

/// Makes the renames into `dir` durable (a crash after a run cannot lose its files).
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// The files a previous mmgame run in `dir` wrote, from its summary.json (none when there is
/// no readable summary). Only plain file names are returned: never a path into another folder.
pub fn previous_files(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let names = json.get("files").and_then(|f| f.as_array());
    names
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && !n.starts_with('.'))
        .map(str::to_string)
        .collect()
}

/// Removes the files of an earlier run (`previous`) that the new run did not write
/// (`current`): mmgame's own files only, never anything else in the folder. Hold the
/// folder's lock.
pub fn remove_stale_files(
    dir: &Path,
    previous: &[String],
    current: &[String],
) -> Result<(), Error> {
    for name in previous.iter().filter(|n| !current.contains(n)) {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(())
}

/// A temporary file beside an output, renamed into place when complete. Output files are
/// readable by all (0644) as `File::create` would make them under the usual umask; a
/// temporary file alone would be private (0600).
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mmgame-").suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))
}

/// Writes `path` through `body`, atomically: a temporary file beside it, renamed when complete.
pub fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = temp_file_in(dir)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        body(&mut w).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_data().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
}

/// values.npy: float64 from the CPU, float32 from the GPU.
pub fn write_values(
    path: &Path,
    shape: &[usize],
    values: &crate::scheme::Values,
) -> Result<(), Error> {
    match values {
        crate::scheme::Values::F64(v) => npy::write_array(path, shape, v),
        crate::scheme::Values::F32(v) => npy::write_array(path, shape, v),
    }
}
