//! Running memoryd as a service: a launchd LaunchAgent on macOS, a systemd unit (user or
//! system) on Linux.
//!
//! The files are the templates checked in under `launchd/` and `systemd/` (embedded here), with
//! their `@NAME@` placeholders filled in with absolute paths, so what CI validates is what
//! users get. This module renders, locates and reads those files; it never starts or stops a
//! service (the CLI prints the `launchctl` / `systemctl` commands for that) and never runs
//! during `serve`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The LaunchAgent's label (and file name without `.plist`).
pub const LAUNCHD_LABEL: &str = "dev.memoryd.server";
/// The systemd unit's name.
pub const SYSTEMD_UNIT: &str = "memoryd.service";
/// Where the system unit keeps its data (`StateDirectory=memoryd`).
pub const SYSTEM_DATA_DIR: &str = "/var/lib/memoryd";

const LAUNCHD_TEMPLATE: &str = include_str!("../../launchd/dev.memoryd.server.plist");
const SYSTEMD_USER_TEMPLATE: &str = include_str!("../../systemd/user/memoryd.service");
const SYSTEMD_SYSTEM_TEMPLATE: &str = include_str!("../../systemd/system/memoryd.service");

/// The service manager a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Manager {
    /// macOS launchd (a LaunchAgent).
    Launchd,
    /// Linux systemd.
    Systemd,
}

impl Manager {
    /// The manager of this platform, if memoryd supports one here.
    pub fn native() -> Option<Manager> {
        if cfg!(target_os = "macos") {
            Some(Manager::Launchd)
        } else if cfg!(target_os = "linux") {
            Some(Manager::Systemd)
        } else {
            None
        }
    }

    /// `launchd` or `systemd`.
    pub fn name(self) -> &'static str {
        match self {
            Manager::Launchd => "launchd",
            Manager::Systemd => "systemd",
        }
    }
}

/// Whose service it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Runs as the user who installed it (LaunchAgent, systemd `--user`).
    User,
    /// A systemd system service with its own dynamic user.
    System,
}

/// What a service file is filled in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Absolute path of the memoryd binary.
    pub binary: PathBuf,
    /// Absolute path of the data dir (ignored by the system unit, which uses
    /// [`SYSTEM_DATA_DIR`]).
    pub data_dir: PathBuf,
    /// The port, given to `serve --port`.
    pub port: u16,
    /// Where launchd writes stdout and stderr.
    pub log_dir: PathBuf,
}

/// Where a service file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Its manager.
    pub manager: Manager,
    /// User or system.
    pub scope: Scope,
}

impl Target {
    /// Checks the combination.
    pub fn new(manager: Manager, system: bool) -> Result<Target> {
        let scope = if system { Scope::System } else { Scope::User };
        if manager == Manager::Launchd && system {
            return Err(Error::invalid(
                "system",
                "is for systemd; on macOS memoryd runs as a LaunchAgent of your user\ndrop --system",
            ));
        }
        Ok(Target { manager, scope })
    }

    /// The path of the installed file, from the home and config dirs of this user.
    pub fn path(self) -> Result<PathBuf> {
        let home = || {
            dirs::home_dir().ok_or_else(|| {
                Error::invalid("service", "no home directory to install the service in")
            })
        };
        Ok(match (self.manager, self.scope) {
            (Manager::Launchd, _) => home()?
                .join("Library/LaunchAgents")
                .join(format!("{LAUNCHD_LABEL}.plist")),
            (Manager::Systemd, Scope::User) => dirs::config_dir()
                .ok_or_else(|| Error::invalid("service", "no config directory for user units"))?
                .join("systemd/user")
                .join(SYSTEMD_UNIT),
            (Manager::Systemd, Scope::System) => {
                Path::new("/etc/systemd/system").join(SYSTEMD_UNIT)
            }
        })
    }

    /// Where launchd should write the logs (`~/Library/Logs/memoryd`); systemd logs to the
    /// journal.
    pub fn log_dir(self) -> Option<PathBuf> {
        (self.manager == Manager::Launchd)
            .then(|| dirs::home_dir().map(|h| h.join("Library/Logs/memoryd")))
            .flatten()
    }

    /// The file with `params` filled in.
    pub fn render(self, params: &Params) -> Result<String> {
        for (name, path) in [
            ("binary", &params.binary),
            ("data-dir", &params.data_dir),
            ("log-dir", &params.log_dir),
        ] {
            if !path.is_absolute() {
                return Err(Error::invalid(
                    name,
                    format!("{} must be an absolute path", path.display()),
                ));
            }
        }
        let text = |p: &Path| p.display().to_string();
        let port = params.port.to_string();
        Ok(match (self.manager, self.scope) {
            (Manager::Launchd, _) => {
                let bin_dir = params.binary.parent().map(text).unwrap_or_default();
                let path = format!(
                    "{bin_dir}:/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin:/usr/sbin:/sbin"
                );
                fill(
                    LAUNCHD_TEMPLATE,
                    &[
                        ("@BINARY@", xml(&text(&params.binary))),
                        ("@DATA_DIR@", xml(&text(&params.data_dir))),
                        ("@PORT@", port),
                        ("@LOG_DIR@", xml(&text(&params.log_dir))),
                        ("@PATH@", xml(&path)),
                    ],
                )
            }
            (Manager::Systemd, Scope::User) => fill(
                SYSTEMD_USER_TEMPLATE,
                &[
                    ("@BINARY@", systemd_word(&text(&params.binary))),
                    ("@DATA_DIR@", systemd_word(&text(&params.data_dir))),
                    ("@PORT@", port),
                ],
            ),
            (Manager::Systemd, Scope::System) => fill(
                SYSTEMD_SYSTEM_TEMPLATE,
                &[
                    ("@BINARY@", systemd_word(&text(&params.binary))),
                    ("@PORT@", port),
                ],
            ),
        })
    }

    /// Commands that start the installed service now and at every login or boot.
    pub fn start_commands(self, path: &Path) -> Vec<String> {
        match (self.manager, self.scope) {
            (Manager::Launchd, _) => vec![format!(
                "launchctl bootstrap gui/{} {}",
                uid(),
                path.display()
            )],
            (Manager::Systemd, Scope::User) => vec![
                "systemctl --user daemon-reload".into(),
                format!("systemctl --user enable --now {SYSTEMD_UNIT}"),
            ],
            (Manager::Systemd, Scope::System) => vec![
                "sudo systemctl daemon-reload".into(),
                format!("sudo systemctl enable --now {SYSTEMD_UNIT}"),
            ],
        }
    }

    /// Commands that stop the service and keep it from starting again.
    pub fn stop_commands(self) -> Vec<String> {
        match (self.manager, self.scope) {
            (Manager::Launchd, _) => {
                vec![format!("launchctl bootout gui/{}/{LAUNCHD_LABEL}", uid())]
            }
            (Manager::Systemd, Scope::User) => {
                vec![format!("systemctl --user disable --now {SYSTEMD_UNIT}")]
            }
            (Manager::Systemd, Scope::System) => {
                vec![format!("sudo systemctl disable --now {SYSTEMD_UNIT}")]
            }
        }
    }

    /// The symlink `systemctl enable` makes, whose presence means the unit is enabled.
    pub fn enabled_link(self, path: &Path) -> Option<PathBuf> {
        let wants = match (self.manager, self.scope) {
            (Manager::Launchd, _) => return None,
            (Manager::Systemd, Scope::User) => "default.target.wants",
            (Manager::Systemd, Scope::System) => "multi-user.target.wants",
        };
        Some(path.parent()?.join(wants).join(SYSTEMD_UNIT))
    }
}

/// What an installed service file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// The binary it runs.
    pub binary: Option<PathBuf>,
    /// The data dir it passes.
    pub data_dir: Option<PathBuf>,
    /// The port it passes.
    pub port: Option<u16>,
}

/// Reads the command line back out of a service file.
pub fn parse(manager: Manager, contents: &str) -> Installed {
    let args: Vec<String> = match manager {
        Manager::Launchd => plist_arguments(contents),
        Manager::Systemd => contents
            .lines()
            .find_map(|l| l.trim().strip_prefix("ExecStart="))
            .map(systemd_words)
            .unwrap_or_default(),
    };
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    Installed {
        binary: args.first().map(PathBuf::from),
        data_dir: after("--data-dir").map(PathBuf::from),
        port: after("--port").and_then(|p| p.parse().ok()),
    }
}

fn fill(template: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(template.to_string(), |t, (key, value)| {
        t.replace(key, value)
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unxml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// One word of a systemd command line or path list: `%` and `$` escaped, quoted when it has
/// spaces or quotes.
fn systemd_word(s: &str) -> String {
    let escaped = s.replace('%', "%%").replace('$', "$$");
    if escaped.contains([' ', '\t', '"', '\'', '\\']) {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// Splits an `ExecStart=` value into words, undoing [`systemd_word`].
fn systemd_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
        .into_iter()
        .map(|w| w.replace("%%", "%").replace("$$", "$"))
        .collect()
}

/// The strings of a plist's `ProgramArguments` array.
fn plist_arguments(contents: &str) -> Vec<String> {
    let Some(start) = contents.find("<key>ProgramArguments</key>") else {
        return Vec::new();
    };
    let rest = &contents[start..];
    let end = rest.find("</array>").unwrap_or(rest.len());
    rest[..end]
        .split("<string>")
        .skip(1)
        .filter_map(|s| s.split("</string>").next())
        .map(unxml)
        .collect()
}

#[cfg(unix)]
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            binary: "/Users/a b/.cargo/bin/memoryd".into(),
            data_dir: "/Users/a b/Library/Application Support/memoryd".into(),
            port: 3007,
            log_dir: "/Users/a b/Library/Logs/memoryd".into(),
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_read_back() {
        for (manager, system) in [
            (Manager::Launchd, false),
            (Manager::Systemd, false),
            (Manager::Systemd, true),
        ] {
            let t = Target::new(manager, system).unwrap();
            let text = t.render(&params()).unwrap();
            assert!(!text.contains('@'), "{manager:?} {system}: {text}");
            let got = parse(manager, &text);
            assert_eq!(got.binary, Some(params().binary), "{manager:?}");
            assert_eq!(got.port, Some(3007));
            let data = if system {
                PathBuf::from(SYSTEM_DATA_DIR)
            } else {
                params().data_dir
            };
            assert_eq!(got.data_dir, Some(data));
        }
    }

    #[test]
    fn systemd_words_are_escaped() {
        assert_eq!(systemd_word("/a/b"), "/a/b");
        assert_eq!(systemd_word("/a b/100%"), "\"/a b/100%%\"");
        assert_eq!(
            systemd_words(&format!("{} serve --x", systemd_word("/a \"q\" b/$HOME%"))),
            vec!["/a \"q\" b/$HOME%", "serve", "--x"]
        );
    }

    #[test]
    fn relative_paths_and_system_launchd_are_refused() {
        let mut p = params();
        p.data_dir = "relative".into();
        let err = Target::new(Manager::Systemd, false)
            .unwrap()
            .render(&p)
            .unwrap_err();
        assert!(err.to_string().contains("must be an absolute path"));
        assert!(Target::new(Manager::Launchd, true).is_err());
    }
}
