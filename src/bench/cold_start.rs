//! Cold start: how long an IDE waits between spawning `memoryd stdio` and getting its
//! `initialize` answer, on a fresh data dir (so the database is created and migrated too).
//!
//! The embedding model loads in the background after `initialize` (it takes far longer), so
//! it is deliberately not part of this number; the child runs `--offline` so it never starts
//! a download either. Blocking I/O on purpose: one child at a time, nothing else to do while
//! it starts.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The target of issue #8 for spawn → `initialize` answered.
pub const TARGET_MS: f64 = 50.0;

/// How long one start may take before the run is abandoned.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the child gets to exit after stdin closes before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a cold start could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    /// The child could not be started or talked to.
    #[error("cannot run {exe}: {source}\ncheck that the binary exists and is executable")]
    Spawn {
        /// The binary.
        exe: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It did not answer `initialize` properly.
    #[error(
        "memoryd stdio did not answer initialize: {reason}\nrun 'memoryd stdio --standalone' by hand to see its log"
    )]
    NoAnswer {
        /// What went wrong.
        reason: String,
    },
}

/// `exe --offline stdio --standalone` on `data_dir` (with `model_dir` when given), stdin and
/// stdout piped, stderr dropped: the child every stdio bench spawns.
pub fn stdio_command(exe: &Path, data_dir: &Path, model_dir: Option<&Path>) -> Command {
    let mut command = Command::new(exe);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--offline")
        .args(["stdio", "--standalone"])
        // The user's settings would only add noise (another data dir, a config file).
        .env_remove("MEMORYD_DATA_DIR")
        .env_remove("MEMORYD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(dir) = model_dir {
        command.arg("--model-dir").arg(dir);
    }
    command
}

/// Spawns `exe stdio --standalone` on a fresh data dir and times spawn → `initialize`
/// answered. `model_dir` is passed on (the model still loads only in the background).
pub fn measure(exe: &Path, model_dir: Option<&Path>) -> Result<Duration, ColdStartError> {
    let data = tempfile::tempdir().map_err(|source| ColdStartError::Spawn {
        exe: "a temp dir".into(),
        source,
    })?;
    let mut command = stdio_command(exe, data.path(), model_dir);
    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "memoryd-bench", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let mut line = init.to_string();
    line.push('\n');
    let spawn_error = |source| ColdStartError::Spawn {
        exe: exe.display().to_string(),
        source,
    };
    let started = Instant::now();
    let mut child = command.spawn().map_err(spawn_error)?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    // The request sits in the pipe until the server reads it, as it does with an IDE.
    stdin.write_all(line.as_bytes()).map_err(spawn_error)?;
    stdin.flush().map_err(spawn_error)?;
    // Read on a thread, so a child that never answers cannot hang the run.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Err("stdout closed before the answer".to_string()));
                    return;
                }
                Ok(_) => {
                    let answered = serde_json::from_str::<Value>(&line)
                        .ok()
                        .filter(|m| m["id"] == json!(0));
                    if let Some(message) = answered {
                        let _ = tx.send(Ok((Instant::now(), message)));
                        return;
                    }
                }
            }
        }
    });
    let outcome = rx.recv_timeout(START_TIMEOUT);
    drop(stdin);
    let deadline = Instant::now() + EXIT_TIMEOUT;
    // Closing stdin ends the session; reap the child (or kill it) so no process is left.
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    let (answered_at, message) = match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(reason)) => return Err(ColdStartError::NoAnswer { reason }),
        Err(_) => {
            return Err(ColdStartError::NoAnswer {
                reason: format!("no answer within {} s", START_TIMEOUT.as_secs()),
            });
        }
    };
    if message.get("result").is_none() {
        return Err(ColdStartError::NoAnswer {
            reason: format!("it answered with {message}"),
        });
    }
    Ok(answered_at - started)
}

/// The running binary, which the cold start measures.
pub fn this_binary() -> Result<PathBuf, ColdStartError> {
    std::env::current_exe().map_err(|source| ColdStartError::Spawn {
        exe: "the running memoryd".into(),
        source,
    })
}
