//! One MCP session's own state: the log level it asked for and the resources it follows.
//!
//! Changes are noticed by polling the sum of the namespaces' generations (counters every
//! writing transaction bumps, whichever process wrote), once per server however many
//! sessions follow something: [`Changes`]. One aggregate over a row per namespace rather than
//! the followed namespaces' rows: followers re-read and compare what they follow anyway, and
//! one shared poll stays one query whatever sessions follow. A session that follows resources re-reads only those
//! when the generation moves, and tells its client what changed.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

#[allow(deprecated)]
use rmcp::model::LoggingLevel;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::list_memories::{self, ListArgs};
use super::resources::{self, Target};
use crate::app::App;
use crate::error::{Error, Result};
use crate::store::{Filter, Store, Validity};

/// How often the store's generation is read while anyone follows a change.
pub const POLL: Duration = Duration::from_millis(250);

/// The store's generation as it moves, shared by every session of one server.
pub struct Changes {
    /// Holds the last generation read; dropped with the server, which ends the poll.
    sender: Arc<watch::Sender<i64>>,
    /// Set once the poll task runs.
    started: OnceLock<()>,
}

impl Changes {
    /// No poll runs until the first [`Changes::watch`].
    pub fn new() -> Changes {
        Changes {
            sender: Arc::new(watch::channel(0).0),
            started: OnceLock::new(),
        }
    }

    /// A receiver that wakes when the generation moves; starts the poll on first use.
    pub fn watch(&self, store: &Store) -> watch::Receiver<i64> {
        self.started.get_or_init(|| {
            tokio::spawn(poll(Arc::downgrade(&self.sender), store.clone()));
        });
        self.sender.subscribe()
    }
}

impl Default for Changes {
    fn default() -> Self {
        Changes::new()
    }
}

/// Reads the generation every [`POLL`] while a receiver exists; ends with the server.
async fn poll(sender: Weak<watch::Sender<i64>>, store: Store) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(sender) = sender.upgrade() else {
            return;
        };
        if sender.receiver_count() == 0 {
            continue;
        }
        // A failed read (database restarting) is retried at the next tick.
        if let Ok(generation) = store.generation_sum().await {
            sender.send_if_modified(|seen| std::mem::replace(seen, generation) != generation);
        }
    }
}

/// Something a follower tells its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The resource at this URI changed or was deleted.
    Updated(String),
    /// A listed namespace gained or lost memories.
    ListChanged,
}

/// The resources and lists one follower watches, with a fingerprint of what it last saw.
#[derive(Debug, Default)]
pub struct Followed {
    /// URI → fingerprint of its content and fields (`None`: it does not exist).
    resources: HashMap<String, Option<u64>>,
    /// Namespace → fingerprint of its membership (count and newest id).
    lists: HashMap<String, u64>,
}

impl Followed {
    /// Starts following `uri`; an unknown memory or role is an error, as in `resources/read`.
    pub async fn follow_resource(&mut self, app: &App, uri: &str) -> Result<()> {
        let seen = fingerprint(app, uri).await?;
        if seen.is_none() {
            resources::read(app, uri).await?;
        }
        self.resources.insert(uri.to_string(), seen);
        Ok(())
    }

    /// Starts following `uri` whatever its state (it may be created later).
    pub async fn follow_resource_as_is(&mut self, app: &App, uri: &str) -> Result<()> {
        let seen = fingerprint(app, uri).await?;
        self.resources.insert(uri.to_string(), seen);
        Ok(())
    }

    /// Stops following `uri`; true when it was followed.
    pub fn unfollow_resource(&mut self, uri: &str) -> bool {
        self.resources.remove(uri).is_some()
    }

    /// Starts following which memories `namespace` holds.
    pub async fn follow_list(&mut self, app: &App, namespace: &str) -> Result<()> {
        if !self.lists.contains_key(namespace) {
            let seen = membership(app, namespace).await?;
            self.lists.insert(namespace.to_string(), seen);
        }
        Ok(())
    }

    /// True when nothing is followed.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.lists.is_empty()
    }

    /// Re-reads everything followed and returns what changed since the last look.
    pub async fn changes(&mut self, app: &App) -> Result<Vec<Notice>> {
        let mut notices = Vec::new();
        for (uri, seen) in self.resources.iter_mut() {
            let now = fingerprint(app, uri).await?;
            if now != *seen {
                *seen = now;
                notices.push(Notice::Updated(uri.clone()));
            }
        }
        let mut list_changed = false;
        for (namespace, seen) in self.lists.iter_mut() {
            let now = membership(app, namespace).await?;
            if now != *seen {
                *seen = now;
                list_changed = true;
            }
        }
        if list_changed {
            notices.push(Notice::ListChanged);
        }
        Ok(notices)
    }
}

/// A hash of everything a resource shows; `None` when it does not exist.
async fn fingerprint(app: &App, uri: &str) -> Result<Option<u64>> {
    let shown = match Target::parse(uri)? {
        Target::Memory { namespace, id } => match app.store().get(namespace, id).await {
            Ok(memory) => serde_json::to_string(&memory),
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other),
        },
        Target::Pins { namespace, role } => serde_json::to_string(
            &app.store()
                .pinned_for(namespace, role, Validity::Current)
                .await?,
        ),
    }
    .map_err(|e| Error::Internal(format!("memory did not serialise: {e}")))?;
    Ok(Some(hash(&shown)))
}

/// A hash of which memories `resources/list` lists for a namespace: how many there are and
/// the newest one's id. Only current memories are counted, as only those are listed: a
/// supersede (by `update_memory` of a memory already stored, too) or an expiry changes the
/// count though no memory was added or removed.
async fn membership(app: &App, namespace: &str) -> Result<u64> {
    let count = app.store().count(Filter::namespace(namespace)).await?;
    let newest = list_memories::run(
        app,
        ListArgs {
            limit: Some(1),
            namespace: Some(namespace.to_string()),
            ..ListArgs::default()
        },
    )
    .await?
    .memories
    .into_iter()
    .next()
    .map(|m| m.id);
    Ok(hash(&(count, newest)))
}

fn hash(value: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What one session asked for; dropped when the session ends, which stops its follower.
pub struct Session {
    /// The least severe log message the client wants; `None` until it sets a level.
    #[allow(deprecated)]
    level: Mutex<Option<LoggingLevel>>,
    /// What `resources/subscribe` and `resources/list` asked to follow.
    pub followed: tokio::sync::Mutex<Followed>,
    /// Set once a follower task runs for this session.
    following: OnceLock<()>,
    /// Cancelled on drop, ending the follower.
    stop: CancellationToken,
}

impl Session {
    /// A session that wants no logs and follows nothing.
    pub fn new() -> Session {
        Session {
            level: Mutex::new(None),
            followed: tokio::sync::Mutex::new(Followed::default()),
            following: OnceLock::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Records the level `logging/setLevel` asked for.
    #[allow(deprecated)]
    pub fn set_level(&self, level: LoggingLevel) {
        *self.level.lock().unwrap_or_else(|p| p.into_inner()) = Some(level);
    }

    /// True when the client asked for messages of `level` or more severe.
    #[allow(deprecated)]
    pub fn wants(&self, level: LoggingLevel) -> bool {
        let chosen = *self.level.lock().unwrap_or_else(|p| p.into_inner());
        chosen.is_some_and(|chosen| severity(level) >= severity(chosen))
    }

    /// Starts this session's follower once: on each generation change it re-reads what the
    /// session follows and hands the notices to `send`, until the session ends or `send`
    /// fails (the client went away).
    pub fn start_following<S, F>(self: &Arc<Self>, app: &App, changes: &Changes, send: S)
    where
        S: Fn(Notice) -> F + Send + 'static,
        F: std::future::Future<Output = bool> + Send,
    {
        if self.following.set(()).is_err() {
            return;
        }
        let mut generations = changes.watch(app.store());
        let session = Arc::downgrade(self);
        let stop = self.stop.clone();
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    moved = generations.changed() => if moved.is_err() { return },
                }
                let Some(session) = session.upgrade() else {
                    return;
                };
                let notices = session.followed.lock().await.changes(&app).await;
                drop(session);
                // A failed read (database restarting) is tried again at the next change.
                for notice in notices.unwrap_or_default() {
                    if !send(notice).await {
                        return;
                    }
                }
            }
        });
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// RFC 5424 order, least severe first.
#[allow(deprecated)]
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn a_session_wants_its_level_and_more_severe_only_after_asking() {
        let session = Session::new();
        assert!(!session.wants(LoggingLevel::Emergency));
        session.set_level(LoggingLevel::Warning);
        assert!(!session.wants(LoggingLevel::Info));
        assert!(session.wants(LoggingLevel::Warning));
        assert!(session.wants(LoggingLevel::Error));
        session.set_level(LoggingLevel::Debug);
        assert!(session.wants(LoggingLevel::Info));
    }
}
