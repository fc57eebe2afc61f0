//! The command line: one file per subcommand, and the options they share.
//!
//! Subcommands other than `serve` and `stdio` open the database directly and call the same
//! tool functions the MCP server runs, so a command behaves exactly like the tool of the same
//! name and needs no running server. Errors here carry context for people (`anyhow`); `main`
//! prints them once.

pub mod backup;
pub mod bench;
pub mod config;
pub mod delete;
pub mod doctor;
pub mod eval;
pub mod export;
pub mod get;
pub mod import;
pub mod key;
pub mod list;
pub mod model;
pub mod reembed;
pub mod rehydrate;
pub mod schemas;
pub mod search;
pub mod serve;
pub mod service;
pub mod stdio;
pub mod store;
pub mod update;

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use crate::app::App;
use crate::config::{Config, default_data_dir};

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Directory holding the database [default: the platform's data dir + /memoryd]
    #[arg(long, global = true, env = "MEMORYD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Namespace (project scope) to read and write [default: default]
    #[arg(long, short = 'n', global = true, env = "MEMORYD_NAMESPACE")]
    pub namespace: Option<String>,

    /// Print results as JSON (the tool's structured output) for scripts
    #[arg(long, global = true)]
    pub json: bool,

    /// Directory of the embedding model and ONNX Runtime [default: DATA_DIR/models]
    #[arg(long, global = true, env = "MEMORYD_MODEL_DIR", value_name = "DIR")]
    pub model_dir: Option<PathBuf>,

    /// Never download the embedding model (semantic search stays off until it is installed)
    #[arg(long, global = true, env = "MEMORYD_OFFLINE", value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,

    /// Keep memories in this PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB)
    /// instead of the SQLite file in the data dir
    #[arg(
        long,
        global = true,
        env = "MEMORYD_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Config file [default: ~/.config/memoryd/config.toml if it exists]
    #[arg(long, global = true, env = "MEMORYD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl Global {
    /// The effective config for these options.
    pub fn config(&self) -> anyhow::Result<Config> {
        let data_dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        };
        let mut config = Config::load(data_dir, self.config.as_deref())?;
        if let Some(dir) = &self.model_dir {
            config.model_dir = dir.clone();
        }
        config.auto_install = !self.offline;
        if let Some(url) = &self.database_url {
            config.storage.database_url = Some(url.clone());
            config.validate()?;
        }
        Ok(config)
    }

    /// Opens the database in the data dir, creating both if needed.
    pub async fn open_app(&self) -> anyhow::Result<App> {
        open_app_with(self.config()?).await
    }

    /// Opens the database and loads the embedding model if it is installed (never downloads).
    pub async fn open_app_with_model(&self) -> anyhow::Result<App> {
        let app = self.open_app().await?;
        app.load_model_if_installed().await;
        Ok(app)
    }
}

/// Opens the database of `config` (its data dir), creating both if needed.
pub async fn open_app_with(config: Config) -> anyhow::Result<App> {
    let place = match &config.storage.database_url {
        Some(url) => crate::config::redact_url(url),
        None => format!("the database in {}", config.data_dir.display()),
    };
    App::open(config)
        .await
        .with_context(|| format!("cannot open {place}"))
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Parses a `--metadata` flag: it must be a JSON object.
pub fn parse_metadata(
    text: Option<&str>,
) -> anyhow::Result<Option<serde_json::Map<String, serde_json::Value>>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(crate::Error::invalid(
            "metadata",
            "must be a JSON object, such as '{\"ticket\": \"ABC-1\"}'",
        )
        .into()),
        Err(e) => Err(crate::Error::invalid("metadata", format!("is not valid JSON: {e}")).into()),
    }
}

/// `source#anchor`, or whichever of the two exists.
pub fn citation(source: Option<&str>, anchor: Option<&str>) -> Option<String> {
    match (source, anchor) {
        (Some(s), Some(a)) => Some(format!("{s}#{a}")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(a)) => Some(format!("#{a}")),
        (None, None) => None,
    }
}
