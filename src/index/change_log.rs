//! Catching up with a change log: what an index must do to reflect the database again.
//!
//! A log is a table of `(seq, memory_rowid)` appended in the writing transaction, with only
//! the recent past kept. An index remembers the last `seq` it reflects; before each search it
//! asks what changed since, and re-reads just those memories, or reloads whole when it fell
//! too far behind to tell. An index records the new `seq` only once it has applied the
//! changes, so a failure half-way never leaves it believing it is current.

use std::collections::HashMap;

use super::LogSource;
use crate::error::Result;

/// More unseen changes than this and an index reloads: the log cannot be listed cheaply.
const MAX_LISTED: i64 = 65_536;

/// More changed memories of its own than this and an index reloads instead of re-reading
/// them one by one.
pub const MAX_REREAD: usize = 1024;

/// One entry of a change log, as a catch-up reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Every memory changed (vectors dropped for re-embedding).
    All,
    /// One memory changed: its rowid, and its namespace while it exists (`None`: it is gone).
    /// The log is database-wide; the namespace lets an index skip others' changes unread.
    Memory(i64, Option<String>),
}

/// The memories that changed, by rowid: the namespace of each that still exists.
pub type Changed = HashMap<i64, Option<String>>;

/// What an index must do to catch up with a log.
#[derive(Debug, PartialEq)]
pub enum CatchUp {
    /// Nothing changed.
    Current,
    /// These memories changed (added, replaced or removed): forget each, and re-read those
    /// of the index's namespace.
    Apply(Changed),
    /// Drop everything loaded; reload on demand.
    Reload,
}

/// Of `changed`, the memories an index of `namespace` re-reads (the others it only forgets,
/// should it hold them); `None` when they are more than [`MAX_REREAD`] and a reload is
/// cheaper.
pub fn to_reread(changed: &Changed, namespace: &str) -> Option<Vec<i64>> {
    let mine: Vec<i64> = changed
        .iter()
        .filter(|(_, of)| of.as_deref() == Some(namespace))
        .map(|(rowid, _)| *rowid)
        .collect();
    (mine.len() <= MAX_REREAD).then_some(mine)
}

/// The changes in the log after `seen` (the last entry the index reflects, `None` before its
/// first look), and the entry the index reflects once it has applied them.
///
/// Entries committed while this runs may be included in the changes without being counted in
/// the returned `seq`; re-reading a memory twice changes nothing, so that is harmless.
pub fn catch_up(log: &mut dyn LogSource, seen: Option<i64>) -> Result<(CatchUp, i64)> {
    let newest = log.newest()?;
    let Some(seen) = seen else {
        return Ok((CatchUp::Reload, newest));
    };
    if newest == seen {
        return Ok((CatchUp::Current, newest));
    }
    let oldest = log.oldest()?;
    // Pruned past what the index saw, too much to list, or another database.
    if newest < seen || oldest > seen + 1 || newest - seen > MAX_LISTED {
        return Ok((CatchUp::Reload, newest));
    }
    let mut changed = Changed::new();
    for change in log.since(seen)? {
        match change {
            Change::All => return Ok((CatchUp::Reload, newest)),
            Change::Memory(rowid, namespace) => {
                changed.insert(rowid, namespace);
            }
        }
    }
    Ok((CatchUp::Apply(changed), newest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log held in memory: entries `(seq, rowid)`, every memory in namespace "n".
    struct Log(Vec<(i64, Option<i64>)>);

    impl LogSource for Log {
        fn newest(&mut self) -> Result<i64> {
            Ok(self.0.iter().map(|e| e.0).max().unwrap_or(0))
        }

        fn oldest(&mut self) -> Result<i64> {
            Ok(self.0.iter().map(|e| e.0).min().unwrap_or(0))
        }

        fn since(&mut self, seq: i64) -> Result<Vec<Change>> {
            Ok(self
                .0
                .iter()
                .filter(|e| e.0 > seq)
                .map(|e| {
                    e.1.map_or(Change::All, |r| Change::Memory(r, Some("n".into())))
                })
                .collect())
        }
    }

    #[test]
    fn what_to_do_follows_from_the_log() {
        let mut log = Log(vec![(5, Some(1)), (6, Some(2)), (7, Some(1))]);
        assert_eq!(catch_up(&mut log, None).unwrap(), (CatchUp::Reload, 7));
        assert_eq!(catch_up(&mut log, Some(7)).unwrap(), (CatchUp::Current, 7));
        let n = || Some("n".to_string());
        assert_eq!(
            catch_up(&mut log, Some(5)).unwrap(),
            (CatchUp::Apply([(2, n()), (1, n())].into()), 7)
        );
        // Entries the index never saw were pruned: it cannot know what changed.
        assert_eq!(catch_up(&mut log, Some(2)).unwrap(), (CatchUp::Reload, 7));
        // The log is behind the index: another database.
        assert_eq!(catch_up(&mut log, Some(9)).unwrap(), (CatchUp::Reload, 7));
        log.0.push((8, None));
        assert_eq!(catch_up(&mut log, Some(7)).unwrap(), (CatchUp::Reload, 8));
        let mut long = Log((1..=MAX_LISTED + 2).map(|s| (s, Some(s))).collect());
        assert_eq!(
            catch_up(&mut long, Some(1)).unwrap(),
            (CatchUp::Reload, MAX_LISTED + 2)
        );
    }

    #[test]
    fn an_index_rereads_only_its_namespaces_changes_and_reloads_past_many() {
        let changed: Changed = [
            (1, Some("a".to_string())),
            (2, Some("b".to_string())),
            (3, None),
            (4, Some("a".to_string())),
        ]
        .into();
        let mut mine = to_reread(&changed, "a").unwrap();
        mine.sort();
        assert_eq!(mine, [1, 4]);
        assert_eq!(to_reread(&changed, "c").unwrap(), Vec::<i64>::new());
        let many: Changed = (0..=MAX_REREAD as i64)
            .map(|r| (r, Some("a".to_string())))
            .collect();
        assert_eq!(to_reread(&many, "a"), None);
        assert_eq!(to_reread(&many, "b"), Some(Vec::new()));
    }
}
