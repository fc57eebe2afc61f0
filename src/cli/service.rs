//! `memoryd service install|uninstall|status`: the launchd or systemd file for this binary,
//! data dir and port, and the commands that start and stop it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;

use super::Global;
use crate::runtime::Runtime;
use crate::service::{self, Manager, Params, SYSTEM_DATA_DIR, Scope, Target};

/// `memoryd service …`
#[derive(Debug, clap::Subcommand)]
pub enum ServiceCmd {
    /// Write the service file for this platform (or print it with --dry-run)
    Install(InstallArgs),
    /// Remove the service file
    Uninstall(TargetArgs),
    /// Is a service installed, does it run this binary, and is the daemon up
    Status(TargetArgs),
}

/// Which service file.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// A systemd system service (/etc/systemd/system, data in /var/lib/memoryd) instead of a
    /// user service
    #[arg(long)]
    pub system: bool,

    /// The service manager [default: launchd on macOS, systemd on Linux]
    #[arg(long, value_enum)]
    pub platform: Option<Manager>,
}

/// Flags of `memoryd service install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Port the service listens on [default: server.port or server.default_port, 3000]
    #[arg(long, short = 'p')]
    pub port: Option<u16>,

    /// Print the file instead of writing it
    #[arg(long)]
    pub dry_run: bool,

    /// Replace an installed file that differs
    #[arg(long)]
    pub force: bool,
}

/// Runs one of the subcommands.
pub async fn run(global: &Global, cmd: ServiceCmd) -> anyhow::Result<()> {
    match cmd {
        ServiceCmd::Install(args) => install(global, args),
        ServiceCmd::Uninstall(args) => uninstall(&args),
        ServiceCmd::Status(args) => status(global, &args).await,
    }
}

/// The target the flags name, checked against this platform.
fn target(args: &TargetArgs, dry_run: bool) -> anyhow::Result<Target> {
    let native = Manager::native();
    let manager = match (args.platform, native) {
        (Some(m), _) => m,
        (None, Some(m)) => m,
        (None, None) => bail!(
            "memoryd installs services with launchd (macOS) and systemd (Linux) only\nrun 'memoryd serve' under your platform's service manager yourself"
        ),
    };
    if Some(manager) != native && !dry_run {
        bail!(
            "invalid argument 'platform': {} files can only be installed on {}\nadd --dry-run to print the file",
            manager.name(),
            if manager == Manager::Launchd {
                "macOS"
            } else {
                "Linux"
            }
        );
    }
    Ok(Target::new(manager, args.system)?)
}

/// This binary's absolute path.
fn this_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the path of this memoryd binary")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

fn install(global: &Global, args: InstallArgs) -> anyhow::Result<()> {
    let target = target(&args.target, args.dry_run)?;
    let config = global.config()?;
    let binary = this_binary()?;
    let data_dir = if target.scope == Scope::System {
        if global.data_dir.is_some() {
            bail!(
                "invalid argument 'data-dir': the system service keeps its data in {SYSTEM_DATA_DIR} (StateDirectory=memoryd)\ndrop --data-dir (and MEMORYD_DATA_DIR) with --system"
            );
        }
        PathBuf::from(SYSTEM_DATA_DIR)
    } else {
        std::path::absolute(&config.data_dir)
            .with_context(|| format!("cannot resolve {}", config.data_dir.display()))?
    };
    if target.scope == Scope::System && ["/home/", "/root/"].iter().any(|p| binary.starts_with(p)) {
        let msg = format!(
            "{} is under a home directory, which the system service cannot see (ProtectHome=yes)\ninstall the binary outside it first, e.g. sudo install -m 755 {} /usr/local/bin/memoryd, and run that one",
            binary.display(),
            binary.display()
        );
        if args.dry_run {
            eprintln!("memoryd: warning: {msg}");
        } else {
            bail!(msg);
        }
    }
    let port = args
        .port
        .or(config.server.port)
        .unwrap_or(config.server.default_port);
    if port == 0 {
        bail!(
            "invalid argument 'port': a service needs a fixed port so clients can find it, got 0\npass --port 3000 or another free port"
        );
    }
    let path = target.path()?;
    let log_dir = target.log_dir().unwrap_or_else(|| data_dir.join("logs"));
    let contents = target.render(&Params {
        binary: binary.clone(),
        data_dir: data_dir.clone(),
        port,
        log_dir: log_dir.clone(),
    })?;
    if args.dry_run {
        print!("{contents}");
        return Ok(());
    }
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing == contents => {
            println!("already installed: {}", path.display());
            print_start(target, &path);
            return Ok(());
        }
        Ok(_) if !args.force => bail!(
            "{} exists and differs (another binary, data dir or port)\nsee it with 'memoryd service status', or pass --force to replace it",
            path.display()
        ),
        _ => {}
    }
    if target.scope == Scope::User {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        if target.manager == Manager::Launchd {
            std::fs::create_dir_all(&log_dir)
                .with_context(|| format!("cannot create log dir {}", log_dir.display()))?;
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, &contents).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("  binary:   {}", binary.display());
    println!("  data dir: {}", data_dir.display());
    println!("  port:     {port}");
    if target.manager == Manager::Launchd {
        println!("  logs:     {}", log_dir.display());
    }
    print_start(target, &path);
    Ok(())
}

fn print_start(target: Target, path: &Path) {
    println!(
        "start it now and at every {}:",
        match target.scope {
            Scope::User if target.manager == Manager::Launchd => "login",
            Scope::User => "login",
            Scope::System => "boot",
        }
    );
    for c in target.start_commands(path) {
        println!("  {c}");
    }
    if target.manager == Manager::Systemd && target.scope == Scope::User {
        println!("keep it running while you are logged out:");
        println!("  loginctl enable-linger \"$USER\"");
    }
    println!("check it: memoryd service status");
}

fn uninstall(args: &TargetArgs) -> anyhow::Result<()> {
    let target = target(args, false)?;
    let path = target.path()?;
    if !path.exists() {
        println!("not installed: {} does not exist", path.display());
        return Ok(());
    }
    if let Some(link) = target.enabled_link(&path)
        && link.symlink_metadata().is_ok()
    {
        bail!(
            "{} is still enabled ({} exists)\nrun '{}' first",
            service::SYSTEMD_UNIT,
            link.display(),
            target.stop_commands().join("' and '")
        );
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    println!("removed {}", path.display());
    match target.manager {
        Manager::Launchd => {
            println!("if it is still running, stop it:");
            for c in target.stop_commands() {
                println!("  {c}");
            }
        }
        Manager::Systemd => println!(
            "then: {}systemctl {}daemon-reload",
            if target.scope == Scope::System {
                "sudo "
            } else {
                ""
            },
            if target.scope == Scope::User {
                "--user "
            } else {
                ""
            }
        ),
    }
    Ok(())
}

async fn status(global: &Global, args: &TargetArgs) -> anyhow::Result<()> {
    let target = target(args, true)?;
    let report = Report::gather(global, target).await?;
    if global.json {
        return super::print_json(&report.json());
    }
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

/// What `status` and `doctor` know about the service.
pub struct Report {
    /// Which file.
    pub target: Target,
    /// Its path.
    pub path: PathBuf,
    /// What it says, when installed.
    pub installed: Option<service::Installed>,
    /// This binary.
    pub this_binary: PathBuf,
    /// The daemon of the data dir the file names (or of this data dir), if it runs.
    pub daemon: Option<Runtime>,
}

impl Report {
    /// Reads the installed file and the runtime file.
    pub async fn gather(global: &Global, target: Target) -> anyhow::Result<Report> {
        let path = target.path()?;
        let installed = std::fs::read_to_string(&path)
            .ok()
            .map(|c| service::parse(target.manager, &c));
        let config = global.config()?;
        let data_dir = installed
            .as_ref()
            .and_then(|i| i.data_dir.clone())
            .unwrap_or(config.data_dir.clone());
        let daemon =
            crate::runtime::running_daemon(&data_dir, config.server.token.as_deref()).await;
        Ok(Report {
            target,
            path,
            installed,
            this_binary: this_binary()?,
            daemon,
        })
    }

    /// Whether the installed file runs this binary.
    pub fn runs_this_binary(&self) -> Option<bool> {
        let bin = self.installed.as_ref()?.binary.as_ref()?;
        let bin = bin.canonicalize().unwrap_or(bin.clone());
        Some(bin == self.this_binary)
    }

    fn kind(&self) -> &'static str {
        match (self.target.manager, self.target.scope) {
            (Manager::Launchd, _) => "launchd agent",
            (Manager::Systemd, Scope::User) => "systemd user unit",
            (Manager::Systemd, Scope::System) => "systemd system unit",
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("service:  {}", self.kind())];
        let Some(i) = &self.installed else {
            out.push(format!("file:     {} (not installed)", self.path.display()));
            out.push("install:  memoryd service install".into());
            return out;
        };
        out.push(format!("file:     {} (installed)", self.path.display()));
        let bin = i
            .binary
            .as_ref()
            .map(|b| b.display().to_string())
            .unwrap_or_else(|| "?".into());
        out.push(match self.runs_this_binary() {
            Some(true) => format!("binary:   {bin} (this binary)"),
            _ => format!(
                "binary:   {bin} (NOT this binary, {})\n          to run this one: memoryd service install --force",
                self.this_binary.display()
            ),
        });
        if let Some(d) = &i.data_dir {
            out.push(format!("data dir: {}", d.display()));
        }
        if let Some(p) = i.port {
            out.push(format!("port:     {p}"));
        }
        out.push(match &self.daemon {
            Some(d) => format!("daemon:   running, pid {} at {}", d.pid, d.url),
            None => format!(
                "daemon:   not running\n          start it: {}",
                self.target.start_commands(&self.path).join(" && ")
            ),
        });
        out
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "manager": self.target.manager.name(),
            "scope": if self.target.scope == Scope::System { "system" } else { "user" },
            "path": self.path,
            "installed": self.installed.is_some(),
            "binary": self.installed.as_ref().and_then(|i| i.binary.clone()),
            "runs_this_binary": self.runs_this_binary(),
            "data_dir": self.installed.as_ref().and_then(|i| i.data_dir.clone()),
            "port": self.installed.as_ref().and_then(|i| i.port),
            "daemon": self.daemon,
        })
    }
}
