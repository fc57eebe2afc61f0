//! A process's resident memory, read from `/proc/PID/status` (Linux only; elsewhere there is
//! no reading, and reports say so rather than guess).

/// `VmRSS` of process `pid` in KiB, if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` value (kB) of a `/proc/PID/status` text.
fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
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
    fn reads_vm_rss() {
        let status = "Name:\tmemoryd\nVmPeak:\t  900 kB\nVmRSS:\t  259104 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(259_104));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_some() {
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
