//! `memoryd bench stdio`: what an IDE's agent sees from `memoryd stdio --standalone`, one call
//! at a time, with the model loaded: N short memories stored, then M uncached searches.
//!
//! The child gets a fresh data dir; the clock starts only once a hybrid search answers (the
//! model loaded). Each call's latency is spawn-side wall time (write the request line → read
//! its answer line), and the server's CPU per call comes from `/proc/PID/stat` (utime + stime
//! before and after each phase). RSS is sampled after every call; the peak is the kernel's
//! `VmHWM` (high-water mark), so a spike between two samples still counts. Blocking I/O on
//! purpose: one call in flight, nothing else to do while it runs.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::report::{Latency, mib};
use super::workload::{Generator, Workload, check};

/// How long the model may take to load before the run is abandoned.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The store target of issue #16 (p50, ms).
pub const STORE_TARGET_MS: f64 = 10.0;
/// The uncached search target of issue #16 (p50, ms).
pub const SEARCH_TARGET_MS: f64 = 9.0;
/// The peak RSS target of issue #16 (MiB).
pub const PEAK_TARGET_MIB: f64 = 200.0;

/// Why a stdio run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StdioBenchError {
    /// The child could not be started or talked to.
    #[error("cannot run {exe}: {source}\ncheck that the binary exists and is executable")]
    Spawn {
        /// The binary.
        exe: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It answered wrongly, not at all, or the model never loaded.
    #[error(
        "memoryd stdio failed the run: {reason}\nrun 'memoryd stdio --standalone' by hand to see its log"
    )]
    Bad {
        /// What went wrong.
        reason: String,
    },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The binary to spawn (`stdio --standalone`).
    pub exe: PathBuf,
    /// Passed on as `--model-dir`.
    pub model_dir: Option<PathBuf>,
    /// Memories stored first.
    pub memories: u32,
    /// Uncached searches after them.
    pub searches: u32,
}

/// One phase (stores or searches).
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Calls made.
    pub calls: u32,
    /// Wall time per call over the pipe, ms.
    pub latency_ms: Latency,
    /// The server's CPU (user + system) per call, ms.
    pub server_cpu_ms_per_call: f64,
}

/// What a stdio run measured.
#[derive(Debug, Clone, Serialize)]
pub struct StdioReport {
    /// `store_memory` calls, each embedding its content.
    pub store: Phase,
    /// `search_memory` calls (hybrid, distinct queries, so the query cache never hits).
    pub search: Phase,
    /// RSS once the model answered its first search, MiB.
    pub rss_mib_ready: Option<f64>,
    /// RSS after the last call, MiB.
    pub rss_mib_end: Option<f64>,
    /// The kernel's high-water mark of RSS over the whole life of the child, MiB.
    pub rss_mib_peak: Option<f64>,
    /// RSS after every 100th call (and the last), MiB: the curve.
    pub rss_curve_mib: Vec<(u32, f64)>,
}

impl StdioReport {
    /// The table people read.
    pub fn table(&self) -> String {
        let verdict = |ok: bool| if ok { "met" } else { "missed" };
        let mut out = String::from(
            "memoryd bench stdio: memoryd stdio --standalone, model loaded, one call at a time\n",
        );
        for (name, phase, target) in [
            ("store ", &self.store, STORE_TARGET_MS),
            ("search", &self.search, SEARCH_TARGET_MS),
        ] {
            let l = &phase.latency_ms;
            out += &format!(
                "  {name} {} calls: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms (target p50 ≤ {target} ms: {}); server CPU {:.2} ms/call\n",
                phase.calls,
                l.p50,
                l.p95,
                l.p99,
                verdict(l.p50 <= target),
                phase.server_cpu_ms_per_call
            );
        }
        let show = |v: Option<f64>| v.map_or("unknown".into(), |m| format!("{m} MiB"));
        out += &format!(
            "  RSS    ready {}, end {}, peak {} (target ≤ {PEAK_TARGET_MIB} MiB: {})\n",
            show(self.rss_mib_ready),
            show(self.rss_mib_end),
            show(self.rss_mib_peak),
            self.rss_mib_peak
                .map_or("unknown", |p| verdict(p <= PEAK_TARGET_MIB))
        );
        out += "  RSS curve (calls: MiB):";
        for (calls, m) in &self.rss_curve_mib {
            out += &format!(" {calls}:{m}");
        }
        out.push('\n');
        out
    }
}

/// The child and its pipes.
struct Session {
    child: Child,
    /// `None` once closed, which ends the session.
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// Keeps the data dir until the child is gone.
    _data: tempfile::TempDir,
}

impl Session {
    fn start(options: &Options) -> Result<Session, StdioBenchError> {
        let spawn_error = |source| StdioBenchError::Spawn {
            exe: options.exe.display().to_string(),
            source,
        };
        let data = tempfile::tempdir().map_err(spawn_error)?;
        let mut child = super::cold_start::stdio_command(
            &options.exe,
            data.path(),
            options.model_dir.as_deref(),
        )
        .spawn()
        .map_err(spawn_error)?;
        let stdin = Some(BufWriter::new(child.stdin.take().expect("piped stdin")));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut session = Session {
            child,
            stdin,
            stdout,
            next_id: 1,
            _data: data,
        };
        let init = session.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "memoryd-bench", "version": env!("CARGO_PKG_VERSION")}
            }),
        )?;
        if init.get("result").is_none() {
            return Err(bad(format!("initialize answered {init}")));
        }
        session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(session)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, message: &Value) -> Result<(), StdioBenchError> {
        let mut line = message.to_string();
        line.push('\n');
        let stdin = self.stdin.as_mut().expect("open until drop");
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| bad(format!("cannot write to its stdin: {e}")))
    }

    /// Sends one request and reads lines until its answer.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, StdioBenchError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let mut line = String::new();
        loop {
            line.clear();
            match self.stdout.read_line(&mut line) {
                Ok(0) => return Err(bad("its stdout closed (did it exit?)".into())),
                Err(e) => return Err(bad(format!("cannot read its stdout: {e}"))),
                Ok(_) => {}
            }
            if let Ok(message) = serde_json::from_str::<Value>(&line)
                && message["id"] == json!(id)
            {
                return Ok(message);
            }
        }
    }

    /// Calls a tool; its structured output.
    fn call(&mut self, tool: &str, arguments: &Value) -> Result<Value, StdioBenchError> {
        let mut answer =
            self.request("tools/call", json!({"name": tool, "arguments": arguments}))?;
        let result = answer["result"].take();
        if result.is_null() || result["isError"] == json!(true) {
            return Err(bad(format!("{tool} failed: {answer} {result}")));
        }
        Ok(result["structuredContent"].clone())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing stdin ends the session: the child exits on its own (and a profiler wrapped
        // around it writes its data); kill it only if it does not.
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bad(reason: String) -> StdioBenchError {
    StdioBenchError::Bad { reason }
}

/// User + system CPU time of `pid`, from `/proc/PID/stat` (Linux only).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

/// Runs the workload against a fresh child.
pub fn run(options: &Options) -> Result<StdioReport, StdioBenchError> {
    let mut session = Session::start(options)?;
    let pid = session.pid();
    // Wait for the model: a hybrid search answers in hybrid mode only once it is loaded.
    let started = Instant::now();
    loop {
        let out = session.call(
            "search_memory",
            &json!({"query": "warm up the model", "limit": 1}),
        )?;
        if out["mode"] == "hybrid" && out.get("note").is_none() {
            break;
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(bad(format!(
                "the model did not load within {} s (pass --model-dir where it is installed): {out}",
                READY_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss_ready = crate::process::rss_kib(pid);
    let mut curve = Vec::new();
    let mut done = 0u32;
    let mut phase = |session: &mut Session,
                     workload: Workload,
                     calls: u32,
                     curve: &mut Vec<(u32, f64)>|
     -> Result<Phase, StdioBenchError> {
        let mut generator = Generator::new(workload, None, u64::from(pid), 0);
        let mut samples = Vec::with_capacity(calls as usize);
        let cpu_before = cpu_time(pid);
        for _ in 0..calls {
            let call = generator.next_call();
            let sent = Instant::now();
            let out = session.call(call.tool, &call.arguments)?;
            samples.push(sent.elapsed());
            check(call.op, &out).map_err(bad)?;
            done += 1;
            if done.is_multiple_of(100) {
                curve.extend(crate::process::rss_kib(pid).map(|k| (done, mib(k))));
            }
        }
        let cpu = cpu_time(pid).zip(cpu_before).map_or(0.0, |(a, b)| {
            (a - b).as_secs_f64() * 1000.0 / f64::from(calls.max(1))
        });
        Ok(Phase {
            calls,
            latency_ms: Latency::of(&mut samples).ok_or_else(|| bad("no calls made".into()))?,
            server_cpu_ms_per_call: (cpu * 100.0).round() / 100.0,
        })
    };
    let store = phase(&mut session, Workload::Store, options.memories, &mut curve)?;
    let search = phase(&mut session, Workload::Search, options.searches, &mut curve)?;
    let rss_end = crate::process::rss_kib(pid);
    if curve.last().map(|c| c.0) != Some(done) {
        curve.extend(rss_end.map(|k| (done, mib(k))));
    }
    Ok(StdioReport {
        store,
        search,
        rss_mib_ready: rss_ready.map(mib),
        rss_mib_end: rss_end.map(mib),
        rss_mib_peak: crate::process::peak_rss_kib(pid).map(mib),
        rss_curve_mib: curve,
    })
}

/// The binary to spawn by default: the running one.
pub fn default_exe() -> Result<PathBuf, StdioBenchError> {
    std::env::current_exe().map_err(|source| StdioBenchError::Spawn {
        exe: "the running memoryd".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process_cpu_and_peak() {
        let me = std::process::id();
        assert!(cpu_time(me).is_some());
        assert!(crate::process::peak_rss_kib(me).is_some_and(|k| k > 0));
    }
}
