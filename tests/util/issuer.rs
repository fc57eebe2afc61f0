//! A real OAuth 2.1 authorization server for the tests: oauth2-mock-server, run by
//! `tests/issuer.cjs` with the Node 22 of `target/mcp-clients`, serving its discovery document
//! and JWKS on 127.0.0.1 and minting the tokens a test asks for (one JSON line each way).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// A running issuer, stopped when dropped.
pub struct Issuer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What the script logged, for failures.
    stderr: tempfile::NamedTempFile,
    /// Its issuer URL, `http://127.0.0.1:PORT`: what `[auth] issuer` names.
    pub url: String,
    /// The kid of the key it signs with.
    pub kid: String,
}

impl Issuer {
    /// Starts an issuer on a free port and waits until it is listening.
    pub fn start() -> Issuer {
        Issuer::start_on(0)
    }

    /// Starts an issuer on `port` (0: any free port) and waits until it is listening.
    pub fn start_on(port: u16) -> Issuer {
        let modules = super::mcp_clients().join("node_modules");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/issuer.cjs");
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(modules.join("node/bin/node"))
            .arg(&script)
            .arg(port.to_string())
            .env("NODE_PATH", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .expect("start tests/issuer.cjs with target/mcp-clients' node");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut issuer = Issuer {
            child,
            stdin,
            stdout,
            stderr,
            url: String::new(),
            kid: String::new(),
        };
        let ready = issuer.read();
        issuer.url = ready["issuer"].as_str().unwrap().to_string();
        issuer.kid = ready["kid"].as_str().unwrap().to_string();
        issuer
    }

    /// The environment that points `memoryd serve` at this issuer for `audience`.
    pub fn env<'a>(&'a self, audience: &'a str) -> [(&'a str, &'a str); 2] {
        [
            ("MEMORYD_AUTH__ISSUER", &self.url),
            ("MEMORYD_AUTH__AUDIENCE", audience),
        ]
    }

    /// A token the issuer signs, valid for an hour, with `claims` over iss, iat, exp and nbf
    /// (a null removes one).
    pub fn token(&mut self, claims: Value) -> String {
        self.token_expiring(claims, 3600)
    }

    /// A token the issuer signs that expires `seconds` from now (negative: already expired).
    pub fn token_expiring(&mut self, claims: Value, seconds: i64) -> String {
        self.token_of(json!({"claims": claims, "expires_in": seconds}))
    }

    /// A token the issuer did not sign as it would: `none` (alg none), `hs256-public-key`
    /// (HMAC keyed with the issuer's public key, under its kid), `unpublished-key` (RS256 with
    /// a key the issuer does not publish).
    pub fn forge(&mut self, how: &str, claims: Value) -> String {
        self.token_of(json!({"forge": how, "claims": claims}))
    }

    /// Publishes a new signing key and signs with it from now on; its kid.
    pub fn rotate(&mut self) -> String {
        self.kid = self.request(json!({"rotate": true}))["kid"]
            .as_str()
            .unwrap()
            .to_string();
        self.kid.clone()
    }

    fn token_of(&mut self, request: Value) -> String {
        self.request(request)["token"].as_str().unwrap().to_string()
    }

    /// Sends one request line and reads its answer.
    fn request(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let answer = self.read();
        if let Some(error) = answer.get("error") {
            panic!("the issuer failed {request}: {}", error.as_str().unwrap());
        }
        answer
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "tests/issuer.cjs said {line:?} ({e})\n--- its stderr\n{}",
                std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
            )
        })
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
