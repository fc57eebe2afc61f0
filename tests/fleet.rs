//! Several `memoryd serve` on one PostgreSQL database, as behind a round-robin load balancer:
//! any request to any instance, a write through one read through another on the very next
//! call, an instance killed with SIGKILL mid-write, and the database restarting under load.
//! PostgreSQL only: nextest skips these on the SQLite run (`.config/nextest.toml`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{DataDir, HttpServer, mcp_stateless};

/// `n` keyword-only servers (no model: the test is about the database, not inference) on one
/// database; the data dirs come first so they outlive the servers.
fn fleet(n: usize) -> (Vec<DataDir>, Vec<HttpServer>) {
    let first = DataDir::new();
    let mut dirs = vec![];
    for _ in 1..n {
        dirs.push(DataDir::sharing(&first));
    }
    dirs.insert(0, first);
    let servers = dirs.iter().map(|d| d.bare_serve()).collect();
    (dirs, servers)
}

/// How a call went.
enum Outcome {
    /// The tool's structured output.
    Answer(Value),
    /// The server answered with an error (the message).
    Refused(String),
    /// No answer: the connection failed or was cut.
    Lost(String),
}

/// A tool call on `base`, over the plain JSON route or as a stateless MCP 2026-07-28 request.
fn call(
    http: &reqwest::blocking::Client,
    base: &str,
    mcp: bool,
    tool: &str,
    args: Value,
) -> Outcome {
    if mcp {
        let id = rand_id();
        return match mcp_stateless(
            http,
            base,
            id,
            "tools/call",
            json!({"name": tool, "arguments": args}),
        ) {
            Ok(Ok(result)) if result["isError"] != json!(true) => {
                Outcome::Answer(result["structuredContent"].clone())
            }
            Ok(Ok(result)) => Outcome::Refused(result.to_string()),
            Ok(Err(e)) => Outcome::Refused(e.message),
            Err(e) if e.contains("HTTP ") => Outcome::Refused(e),
            Err(e) => Outcome::Lost(e),
        };
    }
    let resp = http
        .post(format!("{base}/mcp/tools/call"))
        .json(&json!({"name": tool, "arguments": args}))
        .send();
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Outcome::Lost(e.to_string()),
    };
    let status = resp.status().as_u16();
    match resp.text() {
        Err(e) => Outcome::Lost(e.to_string()),
        Ok(text) if status == 200 => Outcome::Answer(serde_json::from_str(&text).unwrap()),
        Ok(text) => Outcome::Refused(format!("HTTP {status}: {text}")),
    }
}

fn rand_id() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed) as u64
}

/// What one client saw: its acknowledged writes `(id, content)`, its errors, and how many
/// calls the killed instance lost.
type ClientRun = (Vec<(String, String)>, Vec<String>, usize);

/// Tests of what only PostgreSQL has: nextest runs them only on that engine's run (see
/// `.config/nextest.toml`); the other run lists them as skipped.
mod on_postgres {
    use super::*;
    use crate::util::{Backend, require};

    /// Three instances, six clients spreading their calls round-robin over them (three on the
    /// plain JSON route, three speaking MCP 2026-07-28); each stores, then at once searches for
    /// what it stored on another instance and fetches it on the third. Midway one instance is
    /// killed with SIGKILL; a client whose call it loses stores the same content again on the
    /// next instance (as a client retrying through a load balancer would). At the end every
    /// acknowledged write is there exactly once.
    #[test]
    fn any_request_to_any_instance_and_a_killed_one_loses_nothing() {
        require(Backend::Postgres);
        let (dirs, mut servers) = fleet(3);
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        // Each instance records itself in the fleet view as it starts.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, h) = servers[0].get_json("/health");
            if h["fleet"].as_array().is_some_and(|f| f.len() == 3) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the fleet view never showed 3: {h:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }

        const PER_CLIENT: usize = 40;
        let killed = AtomicBool::new(false);
        let progress = AtomicUsize::new(0);
        let victim = servers.remove(2);
        let victim_pid = victim.pid();
        let results: Vec<ClientRun> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|c| {
                    let (bases, killed, progress) = (&bases, &killed, &progress);
                    scope.spawn(move || {
                        let http = reqwest::blocking::Client::builder()
                            .timeout(Duration::from_secs(20))
                            .build()
                            .unwrap();
                        let mcp = c % 2 == 1;
                        let mut dead: HashSet<usize> = HashSet::new();
                        let mut acked = Vec::new();
                        let mut errors = Vec::new();
                        let mut lost = 0;
                        let mut turn = c;
                        let mut next = |dead: &HashSet<usize>| loop {
                            turn += 1;
                            if !dead.contains(&(turn % 3)) {
                                return turn % 3;
                            }
                        };
                        for i in 0..PER_CLIENT {
                            let token = format!("fleetword{c}x{i}");
                            let content =
                                format!("client {c} write {i} records {token} for the fleet");
                            // Store, retrying on the next live instance when an answer is lost.
                            let id = loop {
                                let at = next(&dead);
                                match call(
                                    &http,
                                    &bases[at],
                                    mcp,
                                    "store_memory",
                                    json!({"content": content}),
                                ) {
                                    Outcome::Answer(out) => {
                                        break out["id"].as_str().unwrap().to_string();
                                    }
                                    Outcome::Lost(_)
                                        if killed.load(Ordering::SeqCst) && at == 2 =>
                                    {
                                        lost += 1;
                                        dead.insert(at);
                                    }
                                    Outcome::Lost(e) | Outcome::Refused(e) => {
                                        errors.push(format!("store on {at}: {e}"));
                                        break String::new();
                                    }
                                }
                            };
                            if id.is_empty() {
                                continue;
                            }
                            acked.push((id.clone(), content.clone()));
                            progress.fetch_add(1, Ordering::SeqCst);
                            // Read it back at once through the other instances.
                            for (tool, args) in [
                                ("search_memory", json!({"query": token, "mode": "keyword"})),
                                ("get_memory", json!({"id": id})),
                            ] {
                                let at = next(&dead);
                                match call(&http, &bases[at], mcp, tool, args) {
                                    Outcome::Answer(out) => {
                                        let found = if tool == "get_memory" {
                                            out["content"] == json!(content)
                                        } else {
                                            out["hits"]
                                                .as_array()
                                                .unwrap()
                                                .iter()
                                                .any(|h| h["id"] == json!(id))
                                        };
                                        if !found {
                                            errors.push(format!(
                                                "{tool} on {at} did not see {id}: {out}"
                                            ));
                                        }
                                    }
                                    Outcome::Lost(_)
                                        if killed.load(Ordering::SeqCst) && at == 2 =>
                                    {
                                        lost += 1;
                                        dead.insert(at);
                                    }
                                    Outcome::Lost(e) | Outcome::Refused(e) => {
                                        errors.push(format!("{tool} on {at}: {e}"))
                                    }
                                }
                            }
                        }
                        (acked, errors, lost)
                    })
                })
                .collect();
            // Midway, kill one instance.
            while progress.load(Ordering::SeqCst) < 6 * PER_CLIENT / 2 {
                std::thread::sleep(Duration::from_millis(5));
            }
            killed.store(true, Ordering::SeqCst);
            let status = victim.kill9();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9)
            );
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        eprintln!("killed instance pid {victim_pid} midway");

        let errors: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
        assert!(errors.is_empty(), "{} errors: {errors:#?}", errors.len());
        let lost: usize = results.iter().map(|r| r.2).sum();
        assert!(
            lost <= 6,
            "each client loses at most the call in flight to the dead instance ({lost})"
        );
        let acked: Vec<&(String, String)> = results.iter().flat_map(|r| &r.0).collect();
        assert_eq!(
            acked.len(),
            6 * PER_CLIENT,
            "every store was acknowledged once"
        );

        // Exactly once: one memory per acknowledged content, with the acknowledged id.
        let export = dirs[0].run(&["export"], "").ok();
        let mut by_content: HashMap<String, Vec<String>> = HashMap::new();
        for line in export.lines() {
            let m: Value = serde_json::from_str(line).unwrap();
            by_content
                .entry(m["content"].as_str().unwrap().to_string())
                .or_default()
                .push(m["id"].as_str().unwrap().to_string());
        }
        assert_eq!(
            by_content.len(),
            acked.len(),
            "no memory beyond the acknowledged ones"
        );
        for (id, content) in acked {
            assert_eq!(
                by_content.get(content),
                Some(&vec![id.clone()]),
                "{content}"
            );
        }
        drop(servers);
    }

    /// A bundle cached by instance A is not served after a pin for its role is stored through B.
    #[test]
    fn a_bundle_cached_on_one_instance_is_not_served_stale_after_a_write_through_another() {
        require(Backend::Postgres);
        let (_dirs, servers) = fleet(2);
        let (a, b) = (&servers[0], &servers[1]);
        let rehydrate = |s: &HttpServer| {
            let (status, out) = s.tools_call(
                &json!({"name": "rehydrate_memory", "arguments": {"role": "planner", "task": "plan the ledger import"}})
                    .to_string(),
            );
            assert_eq!(status, 200, "{out}");
            out
        };
        let (status, _) = b.tools_call(
            &json!({"name": "store_memory", "arguments": {"content": "Ledger imports run nightly."}})
                .to_string(),
        );
        assert_eq!(status, 200);
        rehydrate(a);
        assert_eq!(
            rehydrate(a)["meta"]["cache_hit"],
            json!(true),
            "A caches the bundle"
        );
        let (status, _) = b.tools_call(
            &json!({"name": "store_memory", "arguments": {
                "content": "Planners: every ledger import plan names its rollback.",
                "roles": ["planner"], "priority": 9}})
            .to_string(),
        );
        assert_eq!(status, 200);
        let after = rehydrate(a);
        assert_eq!(after["meta"]["cache_hit"], json!(false), "{after:#}");
        assert!(
            after["text"]
                .as_str()
                .unwrap()
                .contains("names its rollback"),
            "the pin stored through B is in A's next bundle: {after:#}"
        );
    }

    /// A tool call over the plain JSON route that must succeed; its output.
    fn tool(server: &HttpServer, name: &str, arguments: Value) -> Value {
        let (status, out) =
            server.tools_call(&json!({"name": name, "arguments": arguments}).to_string());
        assert_eq!(status, 200, "{name} on {}: {out}", server.base);
        out
    }

    /// The ids of a keyword search's hits on `server`, with `extra` arguments.
    fn searched(server: &HttpServer, query: &str, extra: Value) -> Vec<String> {
        let mut args = json!({"query": query, "mode": "keyword"});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        tool(server, "search_memory", args)["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Issue #24: a supersede through one server is seen by the next call on another, each
    /// way: the old memory leaves its default search and list at once, comes back with
    /// `include_superseded`, and `get_memory` names its successor.
    #[test]
    fn a_supersede_through_one_server_is_seen_by_the_next_call_on_another() {
        require(Backend::Postgres);
        let (_dirs, servers) = fleet(2);
        for (round, (one, two)) in [(&servers[0], &servers[1]), (&servers[1], &servers[0])]
            .into_iter()
            .enumerate()
        {
            let ns = format!("round-{round}");
            let old = tool(
                one,
                "store_memory",
                json!({"content": "The staging database runs MySQL 5.7 on stage1.",
                       "namespace": ns, "occurred_at": "2025-03-01"}),
            )["id"]
                .as_str()
                .unwrap()
                .to_string();
            // Server one's indexes hold the old memory as current.
            let scope = json!({"namespace": ns});
            assert_eq!(
                searched(one, "staging database", scope.clone()),
                vec![old.clone()]
            );
            let new = tool(
                two,
                "store_memory",
                json!({"content": "The staging database now runs PostgreSQL 16 on db-staging.",
                       "namespace": ns, "occurred_at": "2026-06-01", "supersedes": [old]}),
            )["id"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(
                searched(one, "staging database", scope.clone()),
                vec![new.clone()],
                "round {round}: the default search on the other server"
            );
            let mut all = searched(
                one,
                "staging database",
                json!({"namespace": ns, "include_superseded": true}),
            );
            all.sort();
            let mut want = vec![old.clone(), new.clone()];
            want.sort();
            assert_eq!(all, want, "round {round}: include_superseded");
            let got = tool(one, "get_memory", json!({"id": old, "namespace": ns}));
            assert_eq!(got["superseded_by"], json!(new), "round {round}: {got}");
            assert_eq!(got["valid_until"], "2026-06-01T00:00:00.000Z", "{got}");
            let listed = tool(one, "list_memories", json!({"namespace": ns}));
            assert_eq!(listed["memories"].as_array().unwrap().len(), 1, "{listed}");
            assert_eq!(listed["memories"][0]["id"], json!(new), "{listed}");
            let history = tool(
                one,
                "get_memory",
                json!({"id": new, "namespace": ns, "history": true}),
            );
            assert_eq!(history["supersedes"], json!([old]), "{history}");
        }
    }

    /// Issue #24: a memory stored through one server with a short `ttl` is gone from the
    /// other server's search right after it expires, though that server's indexes held it.
    #[test]
    fn a_memory_expiring_through_one_server_is_gone_from_the_other_at_once() {
        require(Backend::Postgres);
        let (_dirs, servers) = fleet(2);
        let (one, two) = (&servers[0], &servers[1]);
        let kept = tool(
            one,
            "store_memory",
            json!({"content": "The wiki lives on docs.internal."}),
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        let stored = tool(
            one,
            "store_memory",
            json!({"content": "The on-call phone is with Dana this week; the wiki says so.",
                   "ttl": "2s"}),
        );
        let soon = stored["id"].as_str().unwrap().to_string();
        let expires_at = tool(one, "get_memory", json!({"id": soon}))["expires_at"]
            .as_str()
            .unwrap()
            .to_string();
        let expires_at = chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap();
        let mut both = searched(two, "wiki", json!({}));
        both.sort();
        let mut want = vec![kept.clone(), soon.clone()];
        want.sort();
        assert_eq!(both, want, "server two's indexes hold it while it lives");
        let left = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        std::thread::sleep(left + Duration::from_millis(50));
        assert_eq!(searched(two, "wiki", json!({})), vec![kept.clone()]);
        assert_eq!(
            searched(two, "wiki", json!({"include_superseded": true})),
            vec![kept.clone()]
        );
        let listed = tool(two, "list_memories", json!({}));
        assert_eq!(listed["memories"].as_array().unwrap().len(), 1, "{listed}");
        let (status, out) =
            two.tools_call(&json!({"name": "get_memory", "arguments": {"id": soon}}).to_string());
        assert_eq!(status, 404, "{out}");
        let got = tool(
            two,
            "get_memory",
            json!({"id": soon, "include_expired": true}),
        );
        assert_eq!(got["id"], json!(soon));
    }

    /// PostgreSQL stops and starts again while clients call two instances: calls fail cleanly
    /// meanwhile (503 `unavailable` on the plain route, a JSON-RPC error over MCP), nothing
    /// crashes, and calls succeed again within seconds of the restart, no instance restarted.
    #[test]
    fn the_fleet_rides_out_a_database_restart() {
        require(Backend::Postgres);
        let (dirs, servers) = fleet(2);
        let pg = dirs[0].postgres().unwrap();
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let stop = AtomicBool::new(false);
        let restarted_at = std::sync::Mutex::new(None::<Instant>);
        let results: Vec<(usize, Vec<String>, Option<Duration>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|c| {
                    let (bases, stop, restarted_at) = (&bases, &stop, &restarted_at);
                    scope.spawn(move || {
                        let http = reqwest::blocking::Client::builder()
                            .timeout(Duration::from_secs(20))
                            .build()
                            .unwrap();
                        let (mut ok, mut unclean) = (0, Vec::new());
                        let mut recovered = None;
                        let mut i = 0;
                        while !stop.load(Ordering::SeqCst) {
                            i += 1;
                            let at = (c + i) % 2;
                            let args =
                                json!({"content": format!("restart test client {c} call {i}")});
                            match call(&http, &bases[at], c % 2 == 1, "store_memory", args) {
                                Outcome::Answer(_) => {
                                    ok += 1;
                                    if let Some(t) = *restarted_at.lock().unwrap() {
                                        recovered.get_or_insert(t.elapsed());
                                    }
                                }
                                Outcome::Refused(e)
                                    if e.contains("unavailable") || e.contains("unreachable") => {}
                                Outcome::Refused(e) | Outcome::Lost(e) => unclean.push(e),
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        (ok, unclean, recovered)
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(500));
            pg.stop();
            std::thread::sleep(Duration::from_secs(2));
            for s in &servers {
                let (ready, _) = s.get_json("/health/ready");
                assert_eq!(
                    ready, 503,
                    "a load balancer drains instances while the database is down"
                );
            }
            pg.restart();
            *restarted_at.lock().unwrap() = Some(Instant::now());
            std::thread::sleep(Duration::from_secs(4));
            stop.store(true, Ordering::SeqCst);
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (c, (ok, unclean, recovered)) in results.iter().enumerate() {
            assert!(
                unclean.is_empty(),
                "client {c}: unclean failures {unclean:#?}"
            );
            assert!(*ok > 0, "client {c} never succeeded");
            let took =
                recovered.unwrap_or_else(|| panic!("client {c} never recovered after the restart"));
            assert!(
                took < Duration::from_secs(4),
                "client {c} recovered after {took:?}"
            );
        }
        for s in &servers {
            let (ready, _) = s.get_json("/health/ready");
            assert_eq!(ready, 200, "{}", s.stderr());
        }
    }

    /// With `[server] mcp_sessions = "stateless"`, a client of the 2025-11-25 era needs no sticky
    /// session: it initializes on one server and calls tools on the others without a session id.
    #[test]
    fn stateless_mode_serves_session_era_clients_on_any_instance() {
        require(Backend::Postgres);
        let first = DataDir::new();
        let second = DataDir::sharing(&first);
        let env = [("MEMORYD_SERVER__MCP_SESSIONS", "stateless")];
        let serve = |dir: &DataDir| {
            let mut cmd = dir.bare_command(&["serve", "--port", "0", "--offline"]);
            cmd.envs(env);
            HttpServer::start_command(dir, cmd)
        };
        let (a, b) = (serve(&first), serve(&second));
        let http = reqwest::blocking::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "memoryd-tests", "version": "0"}}});
        let reply = crate::util::post(&http, &a.mcp_url(), None, &init);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.session_id.is_none(), "no session to stick to");
        let call = |s: &HttpServer, id: u64, tool: &str, args: Value| {
            let reply = crate::util::post(
                &http,
                &s.mcp_url(),
                None,
                &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                        "params": {"name": tool, "arguments": args}}),
            );
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.messages[0]["result"]["structuredContent"].clone()
        };
        let stored = call(
            &b,
            1,
            "store_memory",
            json!({"content": "stored through B without a session"}),
        );
        let id = stored["id"].as_str().unwrap();
        let got = call(&a, 2, "get_memory", json!({"id": id}));
        assert_eq!(got["content"], "stored through B without a session");
    }

    /// Two servers storing the same content at the same moment make one memory: both answer
    /// with its id, one of them as a duplicate.
    #[test]
    fn the_same_content_stored_through_two_instances_at_once_is_one_memory() {
        require(Backend::Postgres);
        let (dirs, servers) = fleet(2);
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        for round in 0..20 {
            let content = format!("stored twice at once, round {round}");
            let barrier = std::sync::Barrier::new(2);
            let answers: Vec<Value> = std::thread::scope(|scope| {
                let handles: Vec<_> = bases
                    .iter()
                    .map(|base| {
                        let (barrier, content) = (&barrier, &content);
                        scope.spawn(move || {
                            let http = reqwest::blocking::Client::new();
                            barrier.wait();
                            match call(
                                &http,
                                base,
                                false,
                                "store_memory",
                                json!({"content": content}),
                            ) {
                                Outcome::Answer(out) => out,
                                Outcome::Refused(e) | Outcome::Lost(e) => panic!("{e}"),
                            }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(
                answers[0]["id"], answers[1]["id"],
                "round {round}: {answers:?}"
            );
            let fresh = answers
                .iter()
                .filter(|a| a["deduplicated"] == json!(false))
                .count();
            assert_eq!(fresh, 1, "round {round}: exactly one wrote it: {answers:?}");
        }
        let export = dirs[0].run(&["export"], "").ok();
        assert_eq!(export.lines().count(), 20);
    }

    /// Issue #26: writes to different namespaces do not take turns. While a transaction holds
    /// a write open in namespace `held`, a store into `free` through one server commits at once
    /// and the next keyword search on the other server finds it (read-your-writes with a
    /// writer in flight), a store into `held` waits for that transaction (writes to one
    /// namespace still queue), and writes to `held` leave the cached bundles of `free` cached.
    #[test]
    fn a_write_held_open_in_one_namespace_does_not_delay_another() {
        require(Backend::Postgres);
        let (dirs, servers) = fleet(2);
        let (a, b) = (&servers[0], &servers[1]);
        let pg = dirs[0].postgres().expect("a PostgreSQL data dir");
        tool(
            a,
            "store_memory",
            json!({"content": "held namespace seed", "namespace": "held"}),
        );
        tool(
            a,
            "store_memory",
            json!({"content": "Ledger imports run nightly.", "namespace": "free"}),
        );
        let rehydrate = |s: &HttpServer| {
            tool(
                s,
                "rehydrate_memory",
                json!({"role": "planner", "task": "plan the ledger import", "namespace": "free"}),
            )
        };
        rehydrate(a);
        const HOLD: Duration = Duration::from_secs(4);
        let started = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let holder = scope.spawn(|| {
                started.wait();
                pg.psql(
                    "memoryd",
                    &format!(
                        "BEGIN; UPDATE memories SET priority = priority WHERE namespace = 'held'; \
                         SELECT pg_sleep({}); COMMIT;",
                        HOLD.as_secs()
                    ),
                );
            });
            started.wait();
            // Until the holder has its row lock, a store into `held` would not wait.
            let deadline = Instant::now() + Duration::from_secs(5);
            while pg.psql(
                "memoryd",
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'BEGIN; UPDATE memories%' \
                 AND state = 'active' AND wait_event = 'PgSleep'",
            ) != "1"
            {
                assert!(
                    Instant::now() < deadline,
                    "the holding transaction never started"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let held_since = Instant::now();
            let clock = Instant::now();
            let stored = tool(
                a,
                "store_memory",
                json!({"content": "Quarterly ledger audit is due in March.", "namespace": "free"}),
            );
            let took = clock.elapsed();
            assert!(
                took < Duration::from_secs(2),
                "a store into another namespace waited {took:?} for the held one"
            );
            let found = searched(b, "quarterly audit", json!({"namespace": "free"}));
            assert_eq!(found, vec![stored["id"].as_str().unwrap().to_string()]);
            let fresh = rehydrate(a);
            assert_eq!(fresh["meta"]["cache_hit"], json!(false), "{fresh:#}");
            assert!(
                held_since.elapsed() < HOLD,
                "the checks outlasted the hold; make it longer"
            );
            tool(
                b,
                "store_memory",
                json!({"content": "queued behind the holder", "namespace": "held"}),
            );
            assert!(
                held_since.elapsed() >= HOLD - Duration::from_millis(500),
                "a store into the held namespace did not wait for its open write"
            );
            holder.join().unwrap();
        });
        assert_eq!(
            rehydrate(a)["meta"]["cache_hit"],
            json!(true),
            "writes committed in another namespace leave this namespace's bundle cached"
        );
    }

    /// A key made with `memoryd key create` works on every server of the fleet at once, and
    /// its revocation holds on every server within a second.
    #[test]
    fn a_key_and_its_revocation_reach_every_server_within_a_second() {
        use crate::util::bearer::within_a_second;
        require(Backend::Postgres);
        let (dirs, servers) = fleet(2);
        let created = dirs[0]
            .run(
                &[
                    "key",
                    "create",
                    "--label",
                    "fleet-agent",
                    "--scope",
                    "write",
                    "-n",
                    "*",
                    "--json",
                ],
                "",
            )
            .json();
        let key = created["key"].as_str().unwrap().to_string();
        let id = created["id"].as_str().unwrap().to_string();
        let status = |server: &HttpServer, credential: Option<&str>| {
            let mut request = reqwest::blocking::Client::new()
                .post(format!("{}/mcp/tools/call", server.base))
                .json(&json!({"name": "list_memories", "arguments": {}}));
            if let Some(credential) = credential {
                request = request.bearer_auth(credential);
            }
            request.send().unwrap().status().as_u16()
        };
        for server in &servers {
            within_a_second("the new key closes every server", &|| {
                status(server, None) == 401
            });
            assert_eq!(status(server, Some(&key)), 200);
        }
        dirs[1].run(&["key", "revoke", &id], "").ok();
        let revoked_at = Instant::now();
        for server in &servers {
            within_a_second("the revocation", || status(server, Some(&key)) == 401);
        }
        assert!(revoked_at.elapsed() < Duration::from_millis(1500));
    }
}
