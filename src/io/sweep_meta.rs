//! `sweep.json`, beside each `sweep.csv`: which sweep the file belongs to and which of its
//! points it holds. A CSV alone cannot tell parts of different sweeps apart (its rows only
//! carry the values they were solved at), so `sweep-merge` reads this to refuse mixed sweeps,
//! duplicated shards and missing ones.

use std::io::{ErrorKind, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The file `mmgame sweep` and `sweep-merge` write beside `sweep.csv`.
pub const SWEEP_META_FILE: &str = "sweep.json";

/// What a `sweep.csv` belongs to: the whole sweep (not only this part of it) and the shards
/// the part holds. Point `i` belongs to shard `i % shard_count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepMeta {
    /// The base scenario as TOML, before the varied keys are applied.
    pub scenario: String,
    /// The varied keys, first key major (the order of the CSV's columns).
    pub keys: Vec<String>,
    /// Each key's values as TOML literals, as the CSV writes them: all of the sweep's.
    pub values: Vec<Vec<String>>,
    /// Points in the whole sweep: the product of the value counts.
    pub points: usize,
    /// How many shards the sweep was split into (1 for an unsharded run or a complete merge).
    pub shard_count: usize,
    /// The shards whose points the part holds, ascending: one for a part `mmgame sweep`
    /// wrote, several for a `sweep-merge --partial`.
    pub shards: Vec<usize>,
}

/// Writes `meta` (atomically) as `path`.
pub fn write_sweep_meta(path: &Path, meta: &SweepMeta) -> Result<(), Error> {
    // Strings, numbers and lists of them: serialising cannot fail.
    let json = serde_json::to_string_pretty(meta).unwrap_or_default();
    super::write_atomic(path, |w| writeln!(w, "{json}"))
}

/// Reads `path`; `Ok(None)` when there is no such file (a part from before sweep.json), so
/// the caller can say what that means. Only the JSON's shape is checked here: whether its
/// figures agree with each other is the sweep's business.
pub fn read_sweep_meta(path: &Path) -> Result<Option<SweepMeta>, Error> {
    let bad = |why: String| Error::Input(format!("{}: {why}", path.display()));
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read ({e})"))),
    };
    let meta = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a sweep.json ({})",
            e.to_string().replace('\n', " ")
        ))
    })?;
    Ok(Some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SweepMeta {
        SweepMeta {
            scenario: "[model]\nfee_speed = 0.1\n".into(),
            keys: vec!["model.fee_speed".into(), "grid.stake_points".into()],
            values: vec![
                vec!["0.05".into(), "0.1".into()],
                vec!["15".into(), "23".into(), "31".into()],
            ],
            points: 6,
            shard_count: 3,
            shards: vec![0, 2],
        }
    }

    #[test]
    fn sweep_meta_reads_back_and_absent_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(SWEEP_META_FILE);
        assert_eq!(read_sweep_meta(&p).unwrap(), None);
        write_sweep_meta(&p, &meta()).unwrap();
        assert_eq!(read_sweep_meta(&p).unwrap(), Some(meta()));
    }

    #[test]
    fn malformed_sweep_meta_is_one_line_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(SWEEP_META_FILE);
        let good = serde_json::to_string_pretty(&meta()).unwrap();
        for text in [
            String::new(),
            "{".to_string(),
            good.replace("\"points\": 6", "\"points\": -6"),
            good.replace("\"shards\"", "\"shard\""),
            good.replace("\"points\": 6,", "\"points\": 6, \"extra\": 1,"),
        ] {
            std::fs::write(&p, &text).unwrap();
            let e = read_sweep_meta(&p).unwrap_err();
            let e = e.to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains("not a sweep.json"), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }
}
