//! A throwaway PostgreSQL server for this engine's unit tests, started the way the
//! integration suite starts one (`tests/postgres.rs`): the binaries `scripts/test` installs
//! and names in `MEMORYD_TEST_PG_BIN`, a template data dir made once by `initdb`, and, as
//! root, the server running as `nobody` (PostgreSQL refuses to run as root).
//!
//! Without `MEMORYD_TEST_PG_BIN` a test fails with what to do: it never passes without
//! having run.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::PgStore;
use crate::store::KeywordRanking;

/// The uid and gid PostgreSQL runs as when the tests run as root.
const NOBODY: u32 = 65534;

fn bin_dir() -> PathBuf {
    match std::env::var_os("MEMORYD_TEST_PG_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "MEMORYD_TEST_PG_BIN is not set: the PostgreSQL engine's unit tests need a PostgreSQL with pgvector\nrun scripts/test (it installs one and sets MEMORYD_TEST_PG_BIN), or set it to a directory holding initdb, pg_ctl and postgres"
        ),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn as_server_user(program: PathBuf) -> Command {
    let mut cmd = Command::new(program);
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    cmd
}

fn chown_to_server_user(path: &Path) {
    if is_root() {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An initdb'd data dir, made once per machine and PostgreSQL build; a file lock makes
/// concurrent test processes wait for the first.
fn template() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bin_dir().hash(&mut hasher);
    let root =
        std::env::temp_dir().join(format!("memoryd-pg-unit-template-{:016x}", hasher.finish()));
    std::fs::create_dir_all(&root).unwrap();
    let lock = std::fs::File::create(root.join(".lock")).unwrap();
    lock.lock().unwrap();
    let data = root.join("data");
    // Written once initdb succeeded: a run killed half-way starts again.
    let ready = root.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        chown_to_server_user(&root);
        chown_to_server_user(&data);
        let mut initdb = as_server_user(bin_dir().join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(initdb, "initdb");
        std::fs::write(&ready, b"").unwrap();
    }
    data
}

/// A running server with an empty database `memoryd`; stopped and deleted on drop.
pub(super) struct Server {
    dir: tempfile::TempDir,
    port: u16,
}

impl Server {
    /// Starts a server on a free port.
    pub(super) fn start() -> Server {
        let template = template();
        let dir = tempfile::tempdir().expect("temp dir");
        chown_to_server_user(dir.path());
        let data = dir.path().join("data");
        let mut copy = as_server_user("cp".into());
        copy.arg("-a").arg(&template).arg(&data);
        run(copy, "copy the PostgreSQL template");
        let mut server = Server { dir, port: 0 };
        // A port that was free a moment ago; a clash shows as a failed start, retried.
        for attempt in 0..5 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut start = as_server_user(bin_dir().join("pg_ctl"));
            start
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(server.dir.path().join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB",
                    server.port,
                    server.dir.path().display()
                ))
                .args(["-w", "-t", "30", "start"]);
            let out = start.output().expect("run pg_ctl start");
            if out.status.success() {
                let mut createdb = Command::new(bin_dir().join("createdb"));
                createdb.args(["-h", "127.0.0.1", "-p", &server.port.to_string()]);
                createdb.args(["-U", "postgres", "memoryd"]);
                run(createdb, "createdb");
                return server;
            }
            assert!(
                attempt < 4,
                "pg_ctl start failed:\n{}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(server.dir.path().join("log")).unwrap_or_default()
            );
        }
        unreachable!("the loop returns or fails")
    }

    /// The URL of the database `memoryd`.
    pub(super) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/memoryd", self.port)
    }

    /// A store on the database, migrated, ranking keywords in memory.
    pub(super) async fn store(&self) -> PgStore {
        PgStore::connect(&self.url(), KeywordRanking::InMemory)
            .await
            .expect("connect to the test server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_server_user(bin_dir().join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
