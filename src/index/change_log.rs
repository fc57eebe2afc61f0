//! Catching up with a change log: what an index must do to reflect the database again.
//!
//! A log is a table of `(seq, memory_rowid)` appended in the writing transaction, with only
//! the recent past kept. An index remembers the last `seq` it reflects; before each search it
//! asks what changed since, and re-reads just those memories, or reloads whole when it fell
//! too far behind to tell. An index records the new `seq` only once it has applied the
//! changes, so a failure half-way never leaves it believing it is current.

use std::collections::HashSet;

use super::LogSource;
use crate::error::Result;

/// More unseen changes than this and reloading is cheaper than applying them one by one.
const MAX_APPLIED: i64 = 1024;

/// What an index must do to catch up with a log.
#[derive(Debug, PartialEq)]
pub enum CatchUp {
    /// Nothing changed.
    Current,
    /// These memories changed (added, replaced or removed): re-read each.
    Apply(HashSet<i64>),
    /// Drop everything loaded; reload on demand.
    Reload,
}

/// The changes in the log after `seen` (the last entry the index reflects, `None` before its
/// first look), and the entry the index reflects once it has applied them.
///
/// Entries committed while this runs may be included in the changes without being counted in
/// the returned `seq`; re-reading a memory twice changes nothing, so that is harmless.
pub fn catch_up(log: &mut dyn LogSource, seen: Option<i64>) -> Result<(CatchUp, i64)> {
    catch_up_within(log, seen, MAX_APPLIED)
}

/// [`catch_up`], reloading only past `max_listed` unseen changes (for an index that re-reads
/// few of them).
pub fn catch_up_within(
    log: &mut dyn LogSource,
    seen: Option<i64>,
    max_listed: i64,
) -> Result<(CatchUp, i64)> {
    let newest = log.newest()?;
    let Some(seen) = seen else {
        return Ok((CatchUp::Reload, newest));
    };
    if newest == seen {
        return Ok((CatchUp::Current, newest));
    }
    let oldest = log.oldest()?;
    // Pruned past what the index saw, too much to apply, or another database.
    if newest < seen || oldest > seen + 1 || newest - seen > max_listed {
        return Ok((CatchUp::Reload, newest));
    }
    let changed = log.since(seen)?;
    // A NULL rowid stands for every memory (vectors dropped for re-embedding).
    if changed.contains(&None) {
        return Ok((CatchUp::Reload, newest));
    }
    Ok((
        CatchUp::Apply(changed.into_iter().flatten().collect()),
        newest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log held in memory: entries `(seq, rowid)`.
    struct Log(Vec<(i64, Option<i64>)>);

    impl LogSource for Log {
        fn newest(&mut self) -> Result<i64> {
            Ok(self.0.iter().map(|e| e.0).max().unwrap_or(0))
        }

        fn oldest(&mut self) -> Result<i64> {
            Ok(self.0.iter().map(|e| e.0).min().unwrap_or(0))
        }

        fn since(&mut self, seq: i64) -> Result<Vec<Option<i64>>> {
            Ok(self.0.iter().filter(|e| e.0 > seq).map(|e| e.1).collect())
        }
    }

    #[test]
    fn what_to_do_follows_from_the_log() {
        let mut log = Log(vec![(5, Some(1)), (6, Some(2)), (7, Some(1))]);
        assert_eq!(catch_up(&mut log, None).unwrap(), (CatchUp::Reload, 7));
        assert_eq!(catch_up(&mut log, Some(7)).unwrap(), (CatchUp::Current, 7));
        assert_eq!(
            catch_up(&mut log, Some(5)).unwrap(),
            (CatchUp::Apply([2, 1].into()), 7)
        );
        // Entries the index never saw were pruned: it cannot know what changed.
        assert_eq!(catch_up(&mut log, Some(2)).unwrap(), (CatchUp::Reload, 7));
        // The log is behind the index: another database.
        assert_eq!(catch_up(&mut log, Some(9)).unwrap(), (CatchUp::Reload, 7));
        log.0.push((8, None));
        assert_eq!(catch_up(&mut log, Some(7)).unwrap(), (CatchUp::Reload, 8));
        let mut long = Log((1..=2000).map(|s| (s, Some(s))).collect());
        assert_eq!(
            catch_up(&mut long, Some(1)).unwrap(),
            (CatchUp::Reload, 2000)
        );
    }
}
