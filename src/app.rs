//! The shared state of a running memoryd: config and store, behind one cheap-to-clone handle.
//!
//! Every transport (stdio, HTTP) and the CLI build one `App` and pass it explicitly; there is
//! no global state. `App` holds things; it does not do things.

use std::sync::Arc;

use crate::config::{Config, Limits, ensure_data_dir};
use crate::error::Result;
use crate::store::Store;

/// Handle on the shared state; clone it freely.
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    /// Settings, fixed for the life of the process.
    config: Config,
    /// The database.
    store: Store,
}

impl App {
    /// Creates the data dir if needed and opens (and migrates) the database in it.
    pub fn open(config: Config) -> Result<App> {
        ensure_data_dir(&config.data_dir)?;
        let store = Store::open(&config.database_path())?;
        Ok(App(Arc::new(Inner { config, store })))
    }

    /// The settings this process runs with.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.0.config.limits
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }
}
