//! Files: `.npy` arrays through `ndarray-npy` ([`npy`]), CSV through `csv` + serde ([`csv`]),
//! `summary.json` ([`summary`]); readers beside writers.
//!
//! Every file is written to a temporary file in its folder and renamed into place once
//! complete, so an interrupted run never leaves a truncated file under its final name.

pub mod csv;
pub mod npy;
pub mod summary;
pub mod sweep_meta;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Error;

/// Checks, before any work, that `dir` can be an output folder: absent (it will be created)
/// or an existing folder.
pub fn check_output_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Input(format!(
            "--out {}: exists and is not a folder (give a folder, new or existing)",
            dir.display()
        )));
    }
    Ok(())
}

/// Creates the output folder (and its parents).
pub fn create_output_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
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
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
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
