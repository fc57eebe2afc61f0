//! What only the PostgreSQL engine has: setups that are wrong in its own ways, each with one
//! clear message, and a database server that goes away and comes back. (Everything else runs
//! against both engines through the rest of the suite.) nextest skips these on the SQLite run
//! (`.config/nextest.toml`).

use std::time::{Duration, Instant};

use crate::util::DataDir;

/// `memoryd list` against `url`, from `dir`'s data dir.
fn list_with(dir: &DataDir, url: &str) -> crate::util::CliOutput {
    let mut cmd = dir.bare_command(&["--offline", "list"]);
    cmd.arg("--database-url").arg(url);
    dir.run_command(cmd, &["list", "--database-url", url], "")
}

/// `config show` prints the database URL, where it came from, and never its password; nor
/// does a failed connection's message.
#[test]
fn the_database_password_is_never_printed() {
    let dir = DataDir::new();
    let url = "postgres://memoryd:s3cret@127.0.0.1:1/memoryd?sslmode=disable";
    let mut cmd = dir.bare_command(&["config", "show"]);
    cmd.arg("--database-url").arg(url);
    let shown = dir
        .run_command(cmd, &["config", "show", "--database-url", url], "")
        .ok();
    assert!(
        shown.contains(
            "database_url = \"postgres://memoryd:***@127.0.0.1:1/memoryd?sslmode=disable\""
        ) && shown.contains("# flag --database-url"),
        "{shown}"
    );
    assert!(!shown.contains("s3cret"), "{shown}");
    let mut cmd = dir.bare_command(&["--offline", "serve", "--port", "0"]);
    cmd.arg("--database-url").arg(url);
    let out = dir.run_command(cmd, &["serve", "--database-url", url], "");
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(
        out.stderr()
            .contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
        "{}",
        out.describe()
    );
    assert!(!out.stderr().contains("s3cret"), "{}", out.describe());
}

/// A stand-in for a TLS-only PostgreSQL (the embedded test server is built without TLS): it
/// answers the client's SSLRequest with `S`, completes a TLS handshake with `cert`, and then
/// refuses the login with a message that says the handshake worked. Serves `connections`
/// clients.
fn fake_tls_postgres(dir: &std::path::Path, connections: usize) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    use std::sync::Arc;
    let read_pem = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&read_pem("server.crt"))
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&read_pem("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut tcp) = stream else { continue };
            let mut request = [0u8; 8];
            if tcp.read_exact(&mut request).is_err() || request[4..] != [4, 210, 22, 47] {
                continue; // not an SSLRequest (80877103)
            }
            tcp.write_all(b"S").unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut len = [0u8; 4];
            // A client that rejected the certificate ends the handshake here.
            if tls.read_exact(&mut len).is_err() {
                continue;
            }
            let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
            let _ = tls.read_exact(&mut startup);
            let mut fields = Vec::new();
            for (code, text) in [
                (b'S', "FATAL"),
                (b'V', "FATAL"),
                (b'C', "28000"),
                (b'M', "fake server: the TLS handshake completed"),
            ] {
                fields.push(code);
                fields.extend_from_slice(text.as_bytes());
                fields.push(0);
            }
            fields.push(0);
            let mut message = vec![b'E'];
            message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
            message.extend_from_slice(&fields);
            let _ = tls.write_all(&message);
            let _ = tls.flush();
        }
    });
    port
}

/// TLS to the database as libpq's `sslmode` describes it: `require` encrypts without
/// checking the certificate, `verify-ca` checks that a trusted root (`sslrootcert`, or the
/// OS's) signed it, `verify-full` checks the host name too, and a refusal says what to do.
#[test]
fn tls_to_the_database_follows_sslmode() {
    let dir = DataDir::sqlite();
    let tls = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(tls.path())
            .args(args)
            .output()
            .expect("openssl is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=memoryd test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=db.example",
    ]);
    std::fs::write(
        tls.path().join("san.ext"),
        "subjectAltName=DNS:db.example\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let ca = tls.path().join("ca.pem");
    let port = fake_tls_postgres(tls.path(), 4);
    let url = |mode: &str, root: bool| {
        let mut u = format!("postgres://memoryd:s3cret@127.0.0.1:{port}/memoryd?sslmode={mode}");
        if root {
            u.push_str(&format!("&sslrootcert={}", ca.display()));
        }
        u
    };
    let expect = |url: String, wanted: &str| {
        let out = list_with(&dir, &url);
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(out.stderr().contains(wanted), "{url}: {}", out.describe());
        assert!(!out.stderr().contains("s3cret"), "{}", out.describe());
    };
    // Encrypted, not verified: the handshake completes with a certificate nobody vouches for.
    expect(url("require", false), "the TLS handshake completed");
    // Signed by the trusted root; the name (db.example, not 127.0.0.1) is not checked.
    expect(url("verify-ca", true), "the TLS handshake completed");
    // The name is checked: refused, and the message says what to look at.
    expect(url("verify-full", true), "TLS to PostgreSQL at 127.0.0.1");
    // No trusted root signed it.
    expect(url("verify-full", false), "sslrootcert");
}

/// Tests of what only PostgreSQL has: nextest runs them only on that engine's run (see
/// `.config/nextest.toml`); the other run lists them as skipped.
mod on_postgres {
    use super::*;
    use crate::util::{Backend, require};

    #[test]
    fn bad_setups_get_one_clear_message_each() {
        require(Backend::Postgres);
        let dir = DataDir::new();
        let pg = dir.postgres().unwrap();

        // Nothing listens on the port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let out = list_with(
            &dir,
            &format!("postgres://memoryd:s3cret@127.0.0.1:{port}/memoryd"),
        );
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(
            out.stderr()
                .contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}")),
            "{}",
            out.describe()
        );
        assert!(
            !out.stderr().contains("s3cret"),
            "the password leaked: {}",
            out.describe()
        );

        // No such database.
        let out = list_with(&dir, &pg.url("nonexistent"));
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(
            out.stderr().contains("has no database 'nonexistent'")
                && out.stderr().contains("createdb"),
            "{}",
            out.describe()
        );

        // A user who may not create the vector extension in a database that lacks it.
        pg.psql("postgres", "CREATE ROLE limited LOGIN");
        pg.create_database("plain");
        let url = format!("postgres://limited@127.0.0.1:{}/plain", pg.port());
        let out = list_with(&dir, &url);
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(
            out.stderr()
                .contains("has no 'vector' extension and user 'limited' may not create it")
                && out.stderr().contains("CREATE EXTENSION vector;"),
            "{}",
            out.describe()
        );
        // Once an owner creates it (and lets the user use the schema), the same user is served.
        pg.psql(
            "plain",
            "CREATE EXTENSION vector; GRANT CREATE ON SCHEMA public TO limited",
        );
        list_with(&dir, &url).ok();

        // A schema newer than this build is refused; the database is left as it was.
        dir.run(&["--offline", "list"], "").ok();
        pg.psql(
            "memoryd",
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (999, 'from_the_future', '2030-01-01', '0')",
        );
        let out = dir.run(&["--offline", "list"], "");
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(
            out.stderr()
                .contains("schema is version 999, newer than this memoryd knows"),
            "{}",
            out.describe()
        );

        // Not a PostgreSQL URL at all.
        let out = list_with(&dir, "mysql://root:pw@localhost/x");
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(
            out.stderr().contains("is not a PostgreSQL URL"),
            "{}",
            out.describe()
        );
        assert!(!out.stderr().contains("pw@"), "{}", out.describe());
    }

    #[test]
    fn backup_names_pg_dump_instead_of_failing_obscurely() {
        require(Backend::Postgres);
        let dir = DataDir::new();
        let out = dir.run(&["backup", "/tmp/never-written.db"], "");
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(out.stderr().contains("pg_dump"), "{}", out.describe());
        assert!(!std::path::Path::new("/tmp/never-written.db").exists());
    }

    /// The database stops under a running server: calls fail with a clear 503 (Retry-After on
    /// the plain route), `/health/ready` drains the instance, and once the database is back the
    /// same server serves again without a restart.
    #[test]
    fn a_database_restart_is_survived_without_restarting_memoryd() {
        require(Backend::Postgres);
        let dir = DataDir::new();
        let pg = dir.postgres().unwrap();
        let server = dir.bare_serve();
        let store = |content: &str| {
            server.tools_call(
                &serde_json::json!({"name": "store_memory", "arguments": {"content": content}})
                    .to_string(),
            )
        };
        assert_eq!(store("before the restart").0, 200);

        pg.stop();
        let (status, body) = store("while the database is down");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/mcp/tools/call", server.base))
            .body(r#"{"name": "list_memories", "arguments": {}}"#)
            .header("Content-Type", "application/json")
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 503);
        assert!(
            resp.headers().get("retry-after").is_some(),
            "no Retry-After"
        );
        let (ready, _) = server.get_json("/health/ready");
        assert_eq!(ready, 503, "a load balancer must drain this instance");
        let (health, h) = server.get_json("/health");
        assert_eq!(health, 503);
        assert_eq!(h["status"], "unhealthy", "{h:#}");
        assert_eq!(h["database"]["backend"], "postgres", "{h:#}");

        pg.restart();
        let started = Instant::now();
        loop {
            let (status, body) = store("after the restart");
            if status == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "still failing {:?} after the restart: {status} {body}",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let (ready, _) = server.get_json("/health/ready");
        assert_eq!(ready, 200);
        let (_, h) = server.get_json("/health");
        assert!(h["database"]["round_trip_ms"].as_f64().is_some(), "{h:#}");
        let (_, listed) = server.tools_call(r#"{"name": "list_memories", "arguments": {}}"#);
        let contents: Vec<&str> = listed["memories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            contents,
            ["after the restart", "before the restart"],
            "{listed}"
        );
    }

    /// The same memories with the same vectors rank the same on both engines, in every mode: the
    /// PostgreSQL engine's keyword index is the SQLite engine's, and pgvector's HNSW search finds
    /// what the exact scan finds. The vectors cross over in `export --vectors`, so the import
    /// embeds nothing.
    #[test]
    fn both_engines_rank_the_same_memories_the_same() {
        require(Backend::Postgres);
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/project-memories.jsonl"
        );
        let sqlite = DataDir::sqlite();
        sqlite.run(&["import", fixture], "").ok();
        let export = sqlite.run(&["export", "--vectors"], "").ok();
        assert!(
            export.contains("\"vector\":{\"model\":"),
            "vectors are exported"
        );

        let postgres = DataDir::new();
        let imported = postgres.run(&["import", "-"], &export).ok();
        assert!(
            imported.contains("138 of them with the vector they carried"),
            "{imported}"
        );
        assert_eq!(
            postgres.run(&["export"], "").ok(),
            sqlite.run(&["export"], "").ok()
        );

        for query in [
            "how do we reconcile bank feed imports with the ledger",
            "which database and migrations tool",
            "currency conversion rounding",
            "who is on call when the deploy fails",
            "frontend state management",
        ] {
            for mode in ["keyword", "semantic", "hybrid"] {
                let args = ["--json", "search", "--mode", mode, "--limit", "10", query];
                let ours = postgres.run(&args, "").json();
                let theirs = sqlite.run(&args, "").json();
                let hits = |v: &serde_json::Value| -> Vec<(String, f64)> {
                    v["hits"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| {
                            (
                                h["id"].as_str().unwrap().to_string(),
                                h["score"].as_f64().unwrap(),
                            )
                        })
                        .collect()
                };
                let (ours, theirs) = (hits(&ours), hits(&theirs));
                assert!(!theirs.is_empty(), "{mode} '{query}' found nothing");
                assert_eq!(ours.len(), theirs.len(), "{mode} '{query}'");
                for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                    // pgvector computes in f32, the vector copy sums f32 in another order.
                    assert!(
                        (a.1 - b.1).abs() < 1e-5,
                        "{mode} '{query}' #{i}: {a:?} vs {b:?}"
                    );
                    if a.0 != b.0 {
                        let tied = theirs
                            .iter()
                            .any(|t| t.0 == a.0 && (t.1 - a.1).abs() < 1e-5);
                        assert!(tied, "{mode} '{query}' #{i}: {a:?} vs {b:?}");
                    }
                }
            }
        }
    }

    /// A database at an older schema is migrated forward when memoryd opens it, keeping its
    /// memories (the database is taken back to version 1 by hand, as an older memoryd left it).
    #[test]
    fn an_older_schema_is_migrated_on_open() {
        require(Backend::Postgres);
        let dir = DataDir::new();
        let pg = dir.postgres().unwrap();
        dir.run(&["--offline", "store", "kept across the upgrade"], "")
            .ok();
        pg.psql(
            "memoryd",
            "DROP TRIGGER memories_generation_insert ON memories; \
             DROP TRIGGER memories_generation_update ON memories; \
             DROP TRIGGER memories_generation_delete ON memories; \
             DROP FUNCTION memoryd_bump_namespaces(); DROP TABLE namespace_generations; \
             DROP TABLE text_changes; \
             CREATE TABLE store_generation (id integer PRIMARY KEY CHECK (id = 1), value bigint NOT NULL); \
             INSERT INTO store_generation VALUES (1, 7); \
             CREATE FUNCTION memoryd_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; RETURN NULL; END $$; \
             CREATE TRIGGER memories_generation AFTER INSERT OR UPDATE OR DELETE ON memories \
             FOR EACH ROW EXECUTE FUNCTION memoryd_bump_generation(); \
             DROP TABLE api_keys; DROP TABLE memory_versions; DROP INDEX memories_superseded; \
             DROP INDEX memories_expiry; ALTER TABLE memories DROP COLUMN expires_at, \
             DROP COLUMN version, DROP COLUMN superseded_by, \
             DROP COLUMN valid_until, DROP COLUMN created_by, DROP COLUMN updated_by; \
             DROP TABLE instances; DROP TRIGGER memories_text_log ON memories; \
             DROP FUNCTION memoryd_log_text(); DROP TABLE text_log; \
             DELETE FROM refinery_schema_history WHERE version > 1",
        );
        let doctor = dir.run(&["--offline", "doctor"], "");
        assert!(
            doctor.stdout().contains("opens (schema version 8)"),
            "{}",
            doctor.describe()
        );
        assert_eq!(pg.psql("memoryd", "SELECT count(*) FROM text_log"), "0");
        // A namespace's generation starts where the store-wide one was: it never goes back.
        // Its count of memories starts at what the table holds.
        assert_eq!(
            pg.psql(
                "memoryd",
                "SELECT namespace, value, memories FROM namespace_generations"
            ),
            "default|7|1"
        );
        let found = dir
            .run(
                &[
                    "--offline",
                    "--json",
                    "search",
                    "--mode",
                    "keyword",
                    "upgrade",
                ],
                "",
            )
            .json();
        assert_eq!(
            found["hits"][0]["snippet"], "kept across the upgrade",
            "{found:#}"
        );
    }
}
