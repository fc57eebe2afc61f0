//! `memoryd doctor`: check the data dir, the database, the embedding model, the port and the
//! service file, and say what to do about each problem.
//!
//! A failed check (`FAIL`) makes the command exit 2; a warning (`warn`) is something that
//! works but deserves a look (a data dir other users can read, a service file for another
//! binary, the default port taken by another program).

use super::Global;
use super::service::Report;
use crate::app::App;
use crate::config::Config;
use crate::embed::{self, Embedder, Layout};
use crate::http::port;
use crate::runtime::{self, Runtime};
use crate::service::{Manager, Target};
use crate::store::Engine;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// Outcome of one check.
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
        }
    }
}

/// Runs every check, prints them, and fails when any failed.
pub async fn run(global: &Global) -> anyhow::Result<()> {
    let config = global.config()?;
    let mut checks = vec![data_dir(&config)];

    let app = App::open(config.clone()).await;
    match &app {
        Ok(app) => {
            let store = app.store();
            let pending = store.pending_vector_count().await.unwrap_or(0);
            let version = store.schema_version().await;
            let started = std::time::Instant::now();
            let ping = store.ping().await;
            let round_trip = started.elapsed().as_secs_f64() * 1000.0;
            let slow = round_trip > config.health.max_database_round_trip_ms;
            checks.push(Check::new(
                "database",
                match (&ping, slow) {
                    (Err(_), _) => Status::Fail,
                    (Ok(()), true) => Status::Warn,
                    (Ok(()), false) => Status::Ok,
                },
                format!(
                    "{} {} opens (schema version {}); round trip {round_trip:.2} ms{}; {pending} memories wait for a vector",
                    store.engine().name(),
                    store.location(),
                    version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|e| e.to_string()),
                    if slow {
                        format!(
                            " (over [health] max_database_round_trip_ms = {}: check the network to the database)",
                            config.health.max_database_round_trip_ms
                        )
                    } else {
                        String::new()
                    }
                ),
            ));
            let check_name = match store.engine() {
                Engine::Sqlite => "PRAGMA integrity_check",
                Engine::Postgres => "schema and counter check",
            };
            checks.push(match store.integrity_check(true).await {
                Ok(problems) if problems == ["ok"] => {
                    Check::new("integrity", Status::Ok, format!("{check_name}: ok"))
                }
                Ok(problems) => Check::new(
                    "integrity",
                    Status::Fail,
                    format!(
                        "{check_name} found: {}\nrestore a backup ('memoryd backup' makes them), or export what still reads with 'memoryd export' and import it into a new data dir",
                        problems.join("; ")
                    ),
                ),
                Err(err) => Check::new("integrity", Status::Fail, err.to_string()),
            });
        }
        Err(err) => checks.push(Check::new("database", Status::Fail, err.to_string())),
    }

    let embedder = Embedder::new(Layout::new(&config.model_dir));
    embedder.start(false).await;
    let state = embedder.state();
    checks.push(match state.reason_off() {
        None => Check::new(
            "embedding model",
            Status::Ok,
            format!(
                "{} ({}-d) loads from {}",
                embed::MODEL_NAME,
                embed::DIMENSION,
                config.model_dir.display()
            ),
        ),
        Some(reason) => Check::new("embedding model", Status::Fail, reason),
    });

    checks.push(port_check(&config).await);
    if let Some(manager) = Manager::native() {
        checks.push(service_check(global, manager).await?);
    }

    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if global.json {
        let rows: Vec<_> = checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "check": c.name,
                    "ok": c.status != Status::Fail,
                    "status": match c.status { Status::Ok => "ok", Status::Warn => "warn", Status::Fail => "fail" },
                    "detail": c.detail,
                })
            })
            .collect();
        super::print_json(&rows)?;
    } else {
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            println!(
                "{mark} {:<16} {}",
                c.name,
                c.detail.replace('\n', "\n                      ")
            );
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// The data dir exists, is writable, and is private to its owner.
fn data_dir(config: &Config) -> Check {
    let dir = &config.data_dir;
    let writable =
        std::fs::create_dir_all(dir).is_ok() && tempfile::NamedTempFile::new_in(dir).is_ok();
    if !writable {
        return Check::new(
            "data dir",
            Status::Fail,
            format!(
                "{} is not writable\nfix its permissions or pass --data-dir",
                dir.display()
            ),
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Check::new(
                    "data dir",
                    Status::Warn,
                    format!(
                        "{} is writable, but other users can read it (mode {mode:o})\nrun 'chmod 700 {}' to keep memories private",
                        dir.display(),
                        dir.display()
                    ),
                );
            }
            return Check::new(
                "data dir",
                Status::Ok,
                format!("{} is writable and private (mode {mode:o})", dir.display()),
            );
        }
    }
    Check::new(
        "data dir",
        Status::Ok,
        format!("{} is writable", dir.display()),
    )
}

/// Who holds the port `serve` would use.
async fn port_check(config: &Config) -> Check {
    let token = config.server.token.as_deref();
    if let Some(daemon) = runtime::running_daemon(&config.data_dir, token).await {
        return Check::new(
            "port",
            Status::Ok,
            format!(
                "{} is this data dir's daemon (pid {}, memoryd {}, since {})",
                daemon.port, daemon.pid, daemon.version, daemon.started_at
            ),
        );
    }
    let stale = Runtime::read(&config.data_dir)
        .map(|r| {
            format!(
                "\n{} names pid {}, which is gone or does not answer; the next 'memoryd serve' replaces it",
                Runtime::path(&config.data_dir).display(),
                r.pid
            )
        })
        .unwrap_or_default();
    let addr = std::net::Ipv4Addr::LOCALHOST.into();
    let (port, explicit) = match config.server.port {
        Some(p) => (p, true),
        None => (config.server.default_port, false),
    };
    if port::is_free(addr, port) {
        let status = if stale.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        return Check::new("port", status, format!("{port} is free{stale}"));
    }
    let holder = port::holder(port)
        .map(|h| format!("by {h}"))
        .unwrap_or_else(|| "by another process".into());
    if explicit {
        Check::new(
            "port",
            Status::Fail,
            format!(
                "{port} (server.port) is in use {holder}; 'memoryd serve' would fail\nstop that process or set another server.port"
            ),
        )
    } else {
        let last = port.saturating_add(config.server.fallback_ports);
        Check::new(
            "port",
            Status::Warn,
            format!(
                "{port} is in use {holder}; 'memoryd serve' will take the next free port up to {last} and write it to {}{stale}",
                Runtime::path(&config.data_dir).display()
            ),
        )
    }
}

/// Whether a user service is installed, and for this binary.
async fn service_check(global: &Global, manager: Manager) -> anyhow::Result<Check> {
    let report = Report::gather(global, Target::new(manager, false)?).await?;
    let Some(installed) = &report.installed else {
        return Ok(Check::new(
            "service",
            Status::Ok,
            format!(
                "not installed ({} does not exist); optional: 'memoryd service install' runs memoryd in the background",
                report.path.display()
            ),
        ));
    };
    let bin = installed.binary.clone().unwrap_or_default();
    if !bin.is_file() {
        return Ok(Check::new(
            "service",
            Status::Fail,
            format!(
                "{} runs {}, which does not exist\nrun 'memoryd service install --force' to point it at this binary",
                report.path.display(),
                bin.display()
            ),
        ));
    }
    Ok(match report.runs_this_binary() {
        Some(true) => Check::new(
            "service",
            Status::Ok,
            format!("{} runs this binary", report.path.display()),
        ),
        _ => Check::new(
            "service",
            Status::Warn,
            format!(
                "{} runs {}, not this binary ({})\nrun 'memoryd service install --force' if this one should serve",
                report.path.display(),
                bin.display(),
                report.this_binary.display()
            ),
        ),
    })
}
