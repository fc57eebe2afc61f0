//! This process's resident memory (and any other's, by pid), read from `/proc/PID/status`.
//!
//! Serving code reads it for `/metrics` and the `/status` charts; `memoryd bench` reads a
//! child's. Linux only: elsewhere there is no reading, and reports say so rather than guess.
//! It must not do anything but read; no caching, no other files.

/// `VmRSS` of process `pid` in KiB, if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// `VmHWM` (the peak resident memory so far) of process `pid` in KiB, if it can be read.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// One `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_kib(&status, field)
}

/// The value (kB) of `field` in a `/proc/PID/status` text.
fn parse_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_and_hwm() {
        let status = "Name:\tmemoryd\nVmPeak:\t  900 kB\nVmHWM:\t  300000 kB\nVmRSS:\t  259104 kB\nThreads:\t9\n";
        assert_eq!(parse_kib(status, "VmRSS:"), Some(259_104));
        assert_eq!(parse_kib(status, "VmHWM:"), Some(300_000));
        assert_eq!(parse_kib("Name:\tx\n", "VmRSS:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_some() {
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
        assert!(peak_rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
