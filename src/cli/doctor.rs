//! `memoryd doctor`: check the data dir, the database and the embedding model, and say what
//! to do about each problem.

use super::Global;
use crate::app::App;
use crate::embed::{self, Embedder, Layout};

/// Outcome of one check.
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

/// Runs every check, prints them, and fails when any failed.
pub async fn run(global: &Global) -> anyhow::Result<()> {
    let config = global.config()?;
    let mut checks = Vec::new();

    let dir = &config.data_dir;
    let writable =
        std::fs::create_dir_all(dir).is_ok() && tempfile::NamedTempFile::new_in(dir).is_ok();
    checks.push(Check {
        name: "data dir",
        ok: writable,
        detail: if writable {
            format!("{} is writable", dir.display())
        } else {
            format!(
                "{} is not writable\nfix its permissions or pass --data-dir",
                dir.display()
            )
        },
    });

    let app = App::open(config.clone()).await;
    checks.push(match &app {
        Ok(app) => {
            let pending = app.store().pending_vector_count().await.unwrap_or(0);
            Check {
                name: "database",
                ok: true,
                detail: format!(
                    "{} opens; {pending} memories wait for a vector",
                    config.database_path().display()
                ),
            }
        }
        Err(err) => Check {
            name: "database",
            ok: false,
            detail: format!("{err}"),
        },
    });

    let embedder = Embedder::new(Layout::new(&config.model_dir));
    embedder.start(false).await;
    let state = embedder.state();
    checks.push(Check {
        name: "embedding model",
        ok: state.reason_off().is_none(),
        detail: match state.reason_off() {
            None => format!(
                "{} ({}-d) loads from {}",
                embed::MODEL_NAME,
                embed::DIMENSION,
                config.model_dir.display()
            ),
            Some(reason) => reason,
        },
    });

    let failed = checks.iter().filter(|c| !c.ok).count();
    if global.json {
        let rows: Vec<_> = checks
            .iter()
            .map(|c| serde_json::json!({"check": c.name, "ok": c.ok, "detail": c.detail}))
            .collect();
        super::print_json(&rows)?;
    } else {
        for c in &checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
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
