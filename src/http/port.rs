//! Choosing the port `memoryd serve` listens on, and naming the process that holds a port.
//!
//! A port given explicitly is used as is, and an error (naming the holder when it can be
//! found) when it is taken; otherwise the default port is tried, then the next few. This
//! module binds sockets for `cli/serve.rs` and `doctor`; it does not serve.

use std::net::IpAddr;

use tokio::net::TcpListener;

/// Which ports to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChoice {
    /// Given by a flag, the environment or the config file: this port or an error.
    Explicit(u16),
    /// Nothing given: `first`, or when it is taken the next free of `first+1..=first+fallback`.
    Default {
        /// The default port.
        first: u16,
        /// How many ports after it to try.
        fallback: u16,
    },
}

/// A process holding a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.name)
    }
}

/// Why no port could be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The explicit port is taken.
    #[error(
        "port {port} on {addr} is in use{}\npass another --port, or stop {}",
        holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default(),
        holder.as_ref().map(|h| format!("pid {}", h.pid)).unwrap_or_else(|| "the process holding it".into())
    )]
    InUse {
        /// The address asked for.
        addr: IpAddr,
        /// The port asked for.
        port: u16,
        /// Who holds it, when that could be found.
        holder: Option<Holder>,
    },
    /// The default port and every fallback port are taken.
    #[error(
        "ports {first} to {last} on {addr} are all in use\npass --port N (or set server.port) to use another one"
    )]
    AllInUse {
        /// The address asked for.
        addr: IpAddr,
        /// The default port.
        first: u16,
        /// The last fallback port tried.
        last: u16,
    },
    /// Binding failed for another reason (permissions, an address not on this machine, …).
    #[error("cannot listen on {addr}:{port}: {source}")]
    Other {
        /// The address asked for.
        addr: IpAddr,
        /// The port asked for.
        port: u16,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Binds `addr` on the port `choice` allows. Returns the listener; the caller reads the port
/// it got from `local_addr`.
pub async fn bind(addr: IpAddr, choice: PortChoice) -> Result<TcpListener, BindError> {
    let (first, last) = match choice {
        PortChoice::Explicit(port) => {
            return match TcpListener::bind((addr, port)).await {
                Ok(l) => Ok(l),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(BindError::InUse {
                    addr,
                    port,
                    holder: holder(port),
                }),
                Err(source) => Err(BindError::Other { addr, port, source }),
            };
        }
        PortChoice::Default { first, fallback } => (first, first.saturating_add(fallback)),
    };
    for port in first..=last {
        match TcpListener::bind((addr, port)).await {
            Ok(l) => {
                if port != first {
                    tracing::warn!(
                        port = first,
                        using = port,
                        holder = holder(first).map(|h| h.to_string()),
                        "default port is in use; using the next free one"
                    );
                }
                return Ok(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(source) => return Err(BindError::Other { addr, port, source }),
        }
    }
    Err(BindError::AllInUse { addr, first, last })
}

/// Whether `port` on `addr` can be bound right now.
pub fn is_free(addr: IpAddr, port: u16) -> bool {
    std::net::TcpListener::bind((addr, port)).is_ok()
}

/// The process listening on TCP `port`, when it can be found: on Linux from the listening
/// sockets in `/proc/net/tcp{,6}` and the socket inodes in `/proc/*/fd` (only processes this
/// user may inspect). Best effort: `None` elsewhere or when not visible.
pub fn holder(port: u16) -> Option<Holder> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "unknown".into());
                return Some(Holder { pid, name });
            }
        }
    }
    None
}

/// Inodes of sockets listening on `port` in one `/proc/net/tcp`-format table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse::<u64>().ok()?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *state == LISTEN && inode != 0).then_some(inode)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_inodes_match_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0 100 0 0 10 0\n\
   1: 0100007F:0BB8 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0 20 4 30 10 -1\n\
   2: 0100007F:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 3000), vec![12345]);
        assert_eq!(listening_inodes(table, 3001), vec![777]);
        assert!(listening_inodes(table, 3002).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_this_process_holding_a_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = holder(port).expect("our own socket is visible");
        assert_eq!(h.pid, std::process::id());
        assert!(!is_free("127.0.0.1".parse().unwrap(), port));
    }

    #[tokio::test]
    async fn explicit_busy_port_is_an_error_and_default_falls_back() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let err = bind(addr, PortChoice::Explicit(port)).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("port {port} on 127.0.0.1 is in use")),
            "{err}"
        );
        let got = bind(
            addr,
            PortChoice::Default {
                first: port,
                fallback: 10,
            },
        )
        .await;
        // The next ports may be taken by other tests; any port after `port` is right.
        if let Ok(l) = got {
            let p = l.local_addr().unwrap().port();
            assert!(p > port && p <= port + 10, "{p}");
        }
        let err = bind(
            addr,
            PortChoice::Default {
                first: port,
                fallback: 0,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BindError::AllInUse { .. }), "{err}");
    }
}
