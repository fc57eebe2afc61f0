//! Settings, layered: code defaults → TOML file → `MEMORYD_SECTION__KEY` environment
//! variables → command-line flags (flags win).
//!
//! The TOML file holds limits, retrieval tuning, rehydrate settings, server ports (and the
//! token, also read from `MEMORYD_TOKEN`) and roles; every key with
//! its default is in `config/default.toml` (a test keeps it equal to [`Config::default`]).
//! Where the data and the model live, and whether to go online, are flags (with their own
//! `MEMORYD_DATA_DIR`-style variables), read by clap in `cli/`. Nothing else reads the
//! environment.

mod auth;
mod database_url;
mod health;
mod lifecycle;
mod roles;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use auth::Auth;
pub use database_url::{check_url, redact_url};
pub use health::Health;
pub use lifecycle::{Lifecycle, parse_duration};
pub use roles::{Role, valid_name as valid_role_name};

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "memoryd.db";
/// The documented default config, shipped in the repository.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Everything the server and the CLI need to know to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory that holds the database (set from `--data-dir`, not the file).
    #[serde(skip)]
    pub data_dir: PathBuf,
    /// Directory of the embedding model and ONNX Runtime (default: `<data_dir>/models`).
    #[serde(skip)]
    pub model_dir: PathBuf,
    /// Servers download a missing model in the background (off with `--offline`).
    #[serde(skip)]
    pub auto_install: bool,
    /// Upper bounds on request sizes.
    pub limits: Limits,
    /// Hybrid ranking settings.
    pub retrieval: Retrieval,
    /// `rehydrate_memory` settings shared by every role.
    pub rehydrate: Rehydrate,
    /// `memoryd serve`: which port, and the token clients send.
    pub server: Server,
    /// Roles by name; the file's tables override or add to the built-in ones.
    pub roles: BTreeMap<String, Role>,
    /// When `/health` reports `degraded`.
    pub health: Health,
    /// Where memories are stored.
    pub storage: Storage,
    /// Expiry defaults and the purge sweep.
    pub lifecycle: Lifecycle,
    /// The OAuth issuer whose access tokens are accepted.
    pub auth: Auth,
    /// Debug builds only, for tests: the one site that panics on purpose (`tool:NAME`,
    /// `route:PATH` or `mcp:METHOD`), from `MEMORYD_TEST_PANIC`; see `panic_guard`.
    #[serde(skip)]
    pub inject_panic: Option<String>,
}

/// Where memories are stored: SQLite in the data dir, or a PostgreSQL database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// A `postgres://` URL; unset means the SQLite file in the data dir.
    pub database_url: Option<String>,
    /// When `store_memory` embeds: before it answers, or right after.
    pub store_embedding: StoreEmbedding,
}

/// When `store_memory` embeds the memory it stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEmbedding {
    /// Before the write: the answer comes with the memory searchable by meaning.
    #[default]
    Inline,
    /// After the write: the answer comes without waiting for the model; the memory is found
    /// by keywords at once and by meaning once the background embedding catches up (a crash
    /// in between loses nothing: memories without a vector are embedded at the next start).
    Background,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::new(),
            model_dir: PathBuf::new(),
            auto_install: true,
            limits: Limits::default(),
            retrieval: Retrieval::default(),
            rehydrate: Rehydrate::default(),
            server: Server::default(),
            roles: roles::built_in(),
            health: Health::default(),
            storage: Storage::default(),
            lifecycle: Lifecycle::default(),
            auth: Auth::default(),
            inject_panic: None,
        }
    }
}

impl Config {
    /// A config for `data_dir` with defaults for everything else.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            model_dir: data_dir.join("models"),
            data_dir,
            ..Config::default()
        }
    }

    /// Loads defaults, then the TOML file at `file` (if given or present at the default
    /// location), then `MEMORYD_SECTION__KEY` variables from `env`, and checks the result.
    pub fn load(data_dir: PathBuf, file: Option<&Path>) -> Result<Config> {
        let layers = Layers::new(file)?;
        let mut config: Config = layers.figment.extract().map_err(|e| {
            let whence = layers
                .file
                .as_ref()
                .map(|p| format!("{}: ", p.display()))
                .unwrap_or_default();
            Error::invalid("config", format!("{whence}{e}"))
        })?;
        config.model_dir = data_dir.join("models");
        config.data_dir = data_dir;
        if cfg!(debug_assertions) {
            config.inject_panic = std::env::var("MEMORYD_TEST_PANIC").ok();
        }
        config.validate()?;
        Ok(config)
    }

    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// Checks values a type cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::invalid("config", format!("{key}: {why}")));
        let l = &self.limits;
        if l.max_body_bytes < 64 * 1024 || l.max_body_bytes > 64 * 1024 * 1024 {
            return bad(
                "limits.max_body_bytes",
                format!(
                    "must be from 65536 to 67108864 (64 KiB to 64 MiB), got {}",
                    l.max_body_bytes
                ),
            );
        }
        if l.request_timeout_seconds == 0 || l.request_timeout_seconds > 3600 {
            return bad(
                "limits.request_timeout_seconds",
                format!("must be from 1 to 3600, got {}", l.request_timeout_seconds),
            );
        }
        if l.rate_limit_per_second > 0 && l.rate_limit_burst == 0 {
            return bad(
                "limits.rate_limit_burst",
                "must be at least 1 when rate_limit_per_second is set".into(),
            );
        }
        if let Some(url) = &self.storage.database_url {
            check_url(url).map_err(|e| match e {
                Error::InvalidArgument { reason, .. } => {
                    Error::invalid("config", format!("storage.database_url: {reason}"))
                }
                other => other,
            })?;
        }
        if let Some(id) = &self.server.instance_id
            && (id.is_empty() || id.len() > 128 || id.chars().any(char::is_control))
        {
            return bad(
                "server.instance_id",
                "must be 1 to 128 characters without control characters".into(),
            );
        }
        if let Some(token) = &self.server.token {
            check_token(token)
                .map_err(|why| Error::invalid("config", format!("server.token: {why}")))?;
        }
        for origin in &self.server.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return bad(
                    "server.allowed_origins",
                    format!(
                        "'{origin}' is not an origin\nwrite it as scheme://host[:port], e.g. https://app.example.com"
                    ),
                );
            }
        }
        let t = &self.retrieval;
        for (key, w) in [
            ("retrieval.keyword_weight", t.keyword_weight),
            ("retrieval.neighbour_weight", t.neighbour_weight),
            ("retrieval.time_boost", t.time_boost),
            ("retrieval.namespace_idf_floor", t.namespace_idf_floor),
            ("retrieval.length_normalisation", t.length_normalisation),
            ("retrieval.newer_first_similarity", t.newer_first_similarity),
        ] {
            if !(0.0..=1.0).contains(&w) {
                return bad(key, format!("must be from 0 to 1, got {w}"));
            }
        }
        let r = &self.rehydrate;
        if !["o200k_base", "cl100k_base"].contains(&r.tokenizer.as_str()) {
            return bad(
                "rehydrate.tokenizer",
                format!(
                    "'{}' is not a known tokenizer\nuse o200k_base or cl100k_base",
                    r.tokenizer
                ),
            );
        }
        if r.min_token_budget < 32 || r.min_token_budget > r.max_token_budget {
            return bad(
                "rehydrate.min_token_budget",
                format!(
                    "must be at least 32 and at most max_token_budget ({})",
                    r.max_token_budget
                ),
            );
        }
        self.health.validate()?;
        self.lifecycle.validate()?;
        self.auth.validate()?;
        if self.server.default_port == 0 || self.server.fallback_ports > 100 {
            return bad(
                "server",
                format!(
                    "default_port must be from 1 to 65535 and fallback_ports at most 100, got {} and {}\nuse --port 0 for a port the system picks",
                    self.server.default_port, self.server.fallback_ports
                ),
            );
        }
        if self.roles.is_empty() {
            return bad("roles", "at least one role is needed".into());
        }
        for (name, role) in &self.roles {
            if !roles::valid_name(name.trim()) {
                return Err(Error::invalid(
                    "config",
                    format!("roles.{name}: not a valid role name"),
                ));
            }
            role.validate(name, r)?;
        }
        Ok(())
    }
}

/// Upper bounds on what one request may carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest `content` of one memory, in bytes (UTF-8).
    pub max_content_bytes: usize,
    /// Largest `context` of one memory, in bytes (UTF-8).
    pub max_context_bytes: usize,
    /// Largest `metadata` object, in bytes of JSON.
    pub max_metadata_bytes: usize,
    /// Most tags one memory may carry.
    pub max_tags: usize,
    /// Largest `limit` for `search_memory`.
    pub max_search_limit: usize,
    /// `limit` for `search_memory` when none is given.
    pub default_search_limit: usize,
    /// Largest page for `list_memories`.
    pub max_list_limit: usize,
    /// Page size for `list_memories` when none is given.
    pub default_list_limit: usize,
    /// Largest HTTP request body, in bytes.
    pub max_body_bytes: usize,
    /// A tool call running longer than this many seconds is stopped with an error.
    pub request_timeout_seconds: u64,
    /// Tool calls per second one client address may make over HTTP (0: no limit).
    pub rate_limit_per_second: u32,
    /// Calls a client may burst above that rate before it is limited.
    pub rate_limit_burst: u32,
    /// Bytes the in-memory indexes of the namespaces searched lately may hold together; the
    /// least recently searched are evicted beyond it.
    pub index_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_bytes: 64 * 1024,
            max_context_bytes: 4 * 1024,
            max_metadata_bytes: 16 * 1024,
            max_tags: 32,
            max_search_limit: 100,
            default_search_limit: 10,
            max_list_limit: 200,
            default_list_limit: 50,
            max_body_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            rate_limit_per_second: 0,
            rate_limit_burst: 50,
            index_memory_bytes: 256 * 1024 * 1024,
        }
    }
}

/// How hybrid search fuses keyword and semantic candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retrieval {
    /// Keyword (BM25) candidates fused.
    pub keyword_candidates: usize,
    /// Semantic (KNN) candidates fused.
    pub semantic_candidates: usize,
    /// Weight of the keyword score in 0..=1; the semantic score gets the rest.
    pub keyword_weight: f32,
    /// Rank keywords with an in-memory BM25 index of each namespace searched (fast at any
    /// size); `false` ranks with FTS5's `bm25()` instead (no memory, slower past ~10k).
    pub in_memory_keyword_index: bool,
    /// Share of its best timeline neighbour's fused score a hybrid candidate gains (0 = off).
    pub neighbour_weight: f32,
    /// Two memories of a namespace are neighbours only if they happened at most this far
    /// apart.
    pub neighbour_window_seconds: u64,
    /// Score added to a hybrid candidate that happened in the period a query names, e.g.
    /// "in May 2023" (0 = off).
    pub time_boost: f32,
    /// Hybrid search weighs a query term by the lower of its database-wide idf and its idf
    /// within the namespace searched, but at least this share of the database-wide one
    /// (1 = off: FTS5's idf).
    pub namespace_idf_floor: f32,
    /// BM25's `b` in hybrid search, 0 to 1: how much less a match counts in a longer memory
    /// (0.75 = FTS5's).
    pub length_normalisation: f32,
    /// Of two hybrid candidates whose vectors are at least this alike, the one that happened
    /// later ranks above the other (0 = off).
    pub newer_first_similarity: f32,
    /// Kinds that record events (a later one does not replace an earlier one): newer-first
    /// ranking leaves them alone.
    pub newer_first_skip_kinds: Vec<String>,
}

/// Defaults measured on the LoCoMo dev split (see the README's retrieval table): a shorter
/// BM25 list keeps its weak tail from crowding out good semantic candidates, and BM25 earns a
/// slightly larger share than cosine similarity.
impl Default for Retrieval {
    fn default() -> Self {
        Retrieval {
            keyword_candidates: 50,
            semantic_candidates: 100,
            keyword_weight: 0.6,
            in_memory_keyword_index: true,
            neighbour_weight: 0.3,
            neighbour_window_seconds: 3600,
            time_boost: 0.2,
            namespace_idf_floor: 0.3,
            length_normalisation: 0.25,
            newer_first_similarity: 0.55,
            newer_first_skip_kinds: ["conversation", "incident", "doc"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Settings of `rehydrate_memory` that do not depend on the role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rehydrate {
    /// tiktoken encoding that counts the budget: `o200k_base` or `cl100k_base`.
    pub tokenizer: String,
    /// Smallest `token_budget` a caller may ask for.
    pub min_token_budget: usize,
    /// Largest `token_budget` a caller may ask for.
    pub max_token_budget: usize,
    /// Largest `limit` (evidence items) a caller may ask for.
    pub max_limit: usize,
    /// Candidates retrieved per requested evidence item, before filtering and packing.
    pub candidates_per_item: usize,
    /// Word-shingle overlap (Jaccard, 0..1) at which two items count as near-duplicates.
    pub near_duplicate_overlap: f32,
    /// Score bonus (fraction) for a role's preferred tags and kinds.
    pub prefer_boost: f32,
    /// Bundles kept in the cache.
    pub cache_entries: u64,
}

impl Default for Rehydrate {
    fn default() -> Self {
        Rehydrate {
            tokenizer: "o200k_base".into(),
            min_token_budget: 64,
            max_token_budget: 32_000,
            max_limit: 50,
            candidates_per_item: 4,
            near_duplicate_overlap: 0.6,
            prefer_boost: 0.25,
            cache_entries: 1_000,
        }
    }
}

/// The layers a config is read from, kept so `memoryd config show` can tell where each
/// value came from.
pub struct Layers {
    /// Defaults, then the file, then the environment.
    pub figment: Figment,
    /// The TOML file read, if any.
    pub file: Option<PathBuf>,
}

impl Layers {
    /// Stacks the defaults, the TOML file at `file` (if given, or present at the default
    /// location) and the `MEMORYD_SECTION__KEY` variables (plus `MEMORYD_TOKEN`).
    pub fn new(file: Option<&Path>) -> Result<Layers> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let path = match file {
            Some(p) if !p.is_file() => {
                return Err(Error::invalid(
                    "config",
                    format!(
                        "{} does not exist\ncreate it (see config/default.toml) or drop --config",
                        p.display()
                    ),
                ));
            }
            Some(p) => Some(p.to_path_buf()),
            None => default_config_file().filter(|p| p.is_file()),
        };
        if let Some(p) = &path {
            figment = figment.merge(Toml::file_exact(p));
        }
        // Only nested keys (`MEMORYD_LIMITS__MAX_CONTENT_BYTES`) belong to this layer;
        // `MEMORYD_DATA_DIR` and friends are the flags' variables.
        figment = figment.merge(
            Env::prefixed("MEMORYD_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        // The token has the short name other tools use for it.
        figment = figment.merge(
            Env::raw()
                .only(&["MEMORYD_TOKEN"])
                .map(|_| "server.token".into()),
        );
        Ok(Layers {
            figment,
            file: path,
        })
    }
}

/// Where `memoryd serve` listens, and the token clients of a daemon send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// A port given explicitly (also `--port` / `MEMORYD_PORT`): used as is, and an error
    /// when it is taken. `None` means "the default port, or the next free one".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// First port tried when none is given explicitly.
    pub default_port: u16,
    /// When `default_port` is taken, how many ports after it are tried.
    pub fallback_ports: u16,
    /// Bearer token: required by `memoryd serve` on every route but `/health*` when set, and
    /// sent by its clients (`memoryd stdio` forwarding); also `MEMORYD_TOKEN`. Never logged or
    /// printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding the token (its first line); `--token-file` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Browser origins besides loopback ones (`http://localhost:*`, …) allowed to call.
    pub allowed_origins: Vec<String>,
    /// Host names besides loopback ones that a server without a token answers to.
    pub allowed_hosts: Vec<String>,
    /// Names this server in `/health`, `/metrics`, `/status` and the fleet view; default
    /// `HOSTNAME:PORT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Whether MCP clients of the 2025-11-25 era get a session this process keeps.
    pub mcp_sessions: McpSessions,
}

/// How `/mcp` serves clients that open a session (protocol revisions before 2026-07-28;
/// 2026-07-28 requests are always served statelessly).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpSessions {
    /// `initialize` opens a session (`Mcp-Session-Id`) held in this process: a fleet needs
    /// sticky sessions for such clients.
    #[default]
    Stateful,
    /// No session: every request is answered on its own (as JSON), by any instance.
    Stateless,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            port: None,
            default_port: 3000,
            fallback_ports: 10,
            token: None,
            token_file: None,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            instance_id: None,
            mcp_sessions: McpSessions::Stateful,
        }
    }
}

impl Server {
    /// Reads the token from `flag_file` (`--token-file`), else from `token_file`, when either
    /// is given; a token from a file replaces `token`.
    pub fn read_token_file(&mut self, flag_file: Option<&Path>) -> Result<()> {
        let Some(path) = flag_file.or(self.token_file.as_deref()) else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("cannot read the token file {}", path.display()),
            source,
        })?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        check_token(&token).map_err(|why| {
            Error::invalid("token-file", format!("{}: the token {why}", path.display()))
        })?;
        self.token = Some(token);
        Ok(())
    }
}

/// A token must be long enough not to be guessed and printable so it fits in a header.
fn check_token(token: &str) -> std::result::Result<(), String> {
    if token.len() < 16 || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "must be at least 16 printable ASCII characters without spaces\nmake one with: openssl rand -hex 32"
                .into(),
        );
    }
    Ok(())
}

/// The default config file: `$XDG_CONFIG_HOME/memoryd/config.toml` on Linux,
/// `~/Library/Application Support/memoryd/config.toml` on macOS.
pub fn default_config_file() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("memoryd").join("config.toml"))
}

/// The platform's default data directory: XDG data dir on Linux,
/// `~/Library/Application Support/memoryd` on macOS.
pub fn default_data_dir() -> Result<PathBuf> {
    dirs::data_dir().map(|d| d.join("memoryd")).ok_or_else(|| {
        Error::invalid(
            "data-dir",
            "no home directory to put data in\npass --data-dir or set MEMORYD_DATA_DIR",
        )
    })
}

/// Creates the data directory (and parents) if it does not exist yet.
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("cannot create data directory {}", dir.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_is_the_default_config() {
        let parsed: Config = Figment::from(Toml::string(DEFAULT_TOML)).extract().unwrap();
        assert_eq!(parsed, Config::default());
    }

    fn load(toml: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, toml).unwrap();
        Config::load(dir.path().to_path_buf(), Some(&file))
    }

    #[test]
    fn file_overrides_and_extends_roles() {
        let c = load(
            "[roles.planner]\ntoken_budget = 3000\n\n[roles.security]\nprefer_tags = [\"security\"]\n"        )
        .unwrap();
        assert_eq!(c.roles["planner"].token_budget, 3000);
        assert_eq!(
            c.roles["planner"].pin_budget, 200,
            "other planner keys keep their defaults"
        );
        assert_eq!(c.roles["security"].prefer_tags, vec!["security"]);
        assert_eq!(
            c.roles["security"].token_budget,
            Role::default().token_budget
        );
        assert!(c.roles.contains_key("implementer"));
    }

    #[test]
    fn bad_files_name_the_key() {
        let err = load("[limits]\nmax_tagz = 3\n").unwrap_err().to_string();
        assert!(err.contains("max_tagz"), "{err}");
        let err = load("[retrieval]\nkeyword_weight = 2.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retrieval.keyword_weight: must be from 0 to 1, got 2"),
            "{err}"
        );
        let err = load("[retrieval]\nnamespace_idf_floor = -0.5\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retrieval.namespace_idf_floor: must be from 0 to 1, got -0.5"),
            "{err}"
        );
        let err = load("[retrieval]\nlength_normalisation = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retrieval.length_normalisation: must be from 0 to 1, got 1.5"),
            "{err}"
        );
        let err = load("[roles.planner]\npin_budget = 99999\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("roles.planner.pin_budget"), "{err}");
        let err = load("[server]\ndefault_port = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server: default_port must be from 1"), "{err}");
        let missing = Config::load(PathBuf::from("/tmp"), Some(Path::new("/no/such.toml")));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("/no/such.toml does not exist")
        );
    }
}
