//! `memoryd service` and the files it writes: the systemd units pass `systemd-analyze verify`,
//! the LaunchAgent plist parses and has the keys launchd needs, and install / status /
//! uninstall behave. Runs with a temporary HOME, so nothing touches the real user's files.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{CliOutput, DataDir};

/// A temporary home directory and the commands that see it as `$HOME`.
struct Home {
    home: tempfile::TempDir,
    data: DataDir,
}

impl Home {
    fn new() -> Home {
        Home {
            home: tempfile::tempdir().unwrap(),
            data: DataDir::new(),
        }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.data.bare_command(args);
        c.env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join(".config"))
            .env("XDG_DATA_HOME", self.path().join(".local/share"));
        c
    }

    fn run(&self, args: &[&str]) -> CliOutput {
        self.data.run_command(self.command(args), args, "")
    }

    fn unit_path(&self) -> PathBuf {
        self.path().join(".config/systemd/user/memoryd.service")
    }
}

/// `systemd-analyze verify` on a unit file; returns its complaints (empty when clean).
/// It exits 0 even for lines it ignores, so its output is the verdict.
fn systemd_verify(unit: &Path, user: bool, runtime_dir: &Path) -> String {
    std::fs::create_dir_all(runtime_dir).unwrap();
    let mut c = Command::new("systemd-analyze");
    if user {
        c.arg("--user");
    }
    let out = c
        .args(["verify", "--man=no"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect(
            "systemd-analyze must be installed to validate the units \
             (apt-get install systemd; see scripts/setup-ci-packages.txt)",
        );
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        text.push_str(&format!("\nexit status {:?}", out.status.code()));
    }
    text
}

#[cfg(target_os = "linux")]
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let h = Home::new();
    let run_dir = h.path().join("run");
    let out = h.run(&["service", "install", "--port", "3123"]);
    let stdout = out.ok();
    let unit = h.unit_path();
    assert!(
        stdout.contains(&format!("wrote {}", unit.display())),
        "{}",
        out.describe()
    );
    assert!(
        stdout.contains("systemctl --user enable --now memoryd.service"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    let binary = std::fs::canonicalize(crate::util::bin()).unwrap();
    let data_dir = h.data.path().display().to_string();
    assert!(
        text.contains(&format!(
            "ExecStart={} serve --data-dir {data_dir} --port 3123",
            binary.display()
        )),
        "{text}"
    );
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "StateDirectory=memoryd",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        &format!("ReadWritePaths={data_dir}"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    let complaints = systemd_verify(&unit, true, &run_dir);
    assert!(complaints.trim().is_empty(), "user unit: {complaints}");

    // The system unit, as `--system --dry-run` prints it (installing needs root and /etc).
    let out = h.data.run_command(
        {
            let mut c = Command::new(crate::util::bin());
            c.env("HOME", h.path())
                .env_remove("MEMORYD_DATA_DIR")
                .args(["service", "install", "--system", "--dry-run"]);
            c
        },
        &["service", "install", "--system", "--dry-run"],
        "",
    );
    let system_dir = h.path().join("system");
    std::fs::create_dir_all(&system_dir).unwrap();
    let system_unit = system_dir.join("memoryd.service");
    std::fs::write(&system_unit, out.ok()).unwrap();
    let text = std::fs::read_to_string(&system_unit).unwrap();
    for line in [
        "DynamicUser=yes",
        "StateDirectory=memoryd",
        "ProtectHome=yes",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    assert!(
        text.contains("serve --data-dir /var/lib/memoryd --port 3000"),
        "{text}"
    );
    let complaints = systemd_verify(&system_unit, false, &run_dir);
    assert!(complaints.trim().is_empty(), "system unit: {complaints}");

    // The check catches mistakes: a misspelt value is reported.
    let broken = system_dir.join("broken.service");
    std::fs::write(
        &broken,
        text.replace("Restart=on-failure", "Restart=on-failur"),
    )
    .unwrap();
    let complaints = systemd_verify(&broken, false, &run_dir);
    assert!(complaints.contains("on-failur"), "{complaints}");
}

#[test]
fn launchd_plist_parses_and_has_the_keys_launchd_needs() {
    let h = Home::new();
    let out = h.run(&[
        "service",
        "install",
        "--platform",
        "launchd",
        "--dry-run",
        "--port",
        "3042",
    ]);
    let text = out.ok();
    let plist = plist::Value::from_reader_xml(text.as_bytes())
        .unwrap_or_else(|e| panic!("not a plist ({e}):\n{text}"));
    // launchd expands neither `~` nor `$HOME`: no value may rely on it.
    fn strings(v: &plist::Value, out: &mut Vec<String>) {
        match v {
            plist::Value::String(s) => out.push(s.clone()),
            plist::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            plist::Value::Dictionary(d) => d.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut values = Vec::new();
    strings(&plist, &mut values);
    assert!(
        values.iter().all(|v| !v.contains('~') && !v.contains('$')),
        "{values:#?}"
    );
    let d = plist.as_dictionary().expect("a dict at the top");

    let label = d["Label"].as_string().unwrap();
    assert_eq!(label, "dev.memoryd.server");
    assert!(label.split('.').count() >= 3, "reverse-DNS label");

    let args: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    let binary = std::fs::canonicalize(crate::util::bin()).unwrap();
    let data_dir = h.data.path().display().to_string();
    assert_eq!(
        args,
        vec![
            binary.to_str().unwrap(),
            "serve",
            "--data-dir",
            data_dir.as_str(),
            "--port",
            "3042"
        ]
    );
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    let keep_alive = d["KeepAlive"]
        .as_dictionary()
        .expect("KeepAlive in its dict form");
    assert_eq!(keep_alive["SuccessfulExit"].as_boolean(), Some(false));
    assert!(d["ThrottleInterval"].as_signed_integer().unwrap() >= 1);
    assert!(
        ["Standard", "Background", "Adaptive", "Interactive"]
            .contains(&d["ProcessType"].as_string().unwrap())
    );
    for key in ["StandardOutPath", "StandardErrorPath", "WorkingDirectory"] {
        let p = d[key].as_string().unwrap();
        assert!(Path::new(p).is_absolute(), "{key} = {p}");
    }
    assert!(
        d["StandardOutPath"]
            .as_string()
            .unwrap()
            .starts_with(h.path().join("Library/Logs/memoryd").to_str().unwrap())
    );
    let env = d["EnvironmentVariables"].as_dictionary().unwrap();
    let path = env["PATH"].as_string().unwrap();
    assert!(
        path.split(':').all(|p| Path::new(p).is_absolute()),
        "{path}"
    );
    assert!(path.contains("/usr/bin"), "{path}");

    // The checked-in file is the template the command filled.
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/launchd/dev.memoryd.server.plist"
    ))
    .unwrap();
    assert_eq!(
        template.lines().count(),
        text.lines().count(),
        "rendered from launchd/dev.memoryd.server.plist"
    );
    assert!(template.contains("<string>@BINARY@</string>"));
}

#[cfg(target_os = "linux")]
#[test]
fn install_status_and_uninstall() {
    let h = Home::new();
    let status = h.run(&["service", "status"]);
    assert!(
        status.ok().contains("(not installed)"),
        "{}",
        status.describe()
    );

    h.run(&["service", "install"]).ok();
    let status = h.run(&["--json", "service", "status"]).json();
    assert_eq!(status["installed"], true);
    assert_eq!(status["runs_this_binary"], true);
    assert_eq!(status["port"], 3000);
    assert_eq!(status["daemon"], serde_json::Value::Null);

    // Installing the same again is a no-op; a different one needs --force.
    assert!(
        h.run(&["service", "install"])
            .ok()
            .starts_with("already installed")
    );
    let differs = h.run(&["service", "install", "--port", "3001"]);
    assert_eq!(differs.code(), 2);
    assert!(
        differs.stderr().contains("exists and differs"),
        "{}",
        differs.describe()
    );
    h.run(&["service", "install", "--port", "3001", "--force"])
        .ok();

    // A unit for another binary is reported by status and doctor.
    let unit = h.unit_path();
    let text = std::fs::read_to_string(&unit).unwrap();
    let binary = std::fs::canonicalize(crate::util::bin()).unwrap();
    let other = h.path().join("old-memoryd");
    std::fs::write(&other, "").unwrap();
    std::fs::write(
        &unit,
        text.replace(binary.to_str().unwrap(), other.to_str().unwrap()),
    )
    .unwrap();
    let status = h.run(&["service", "status"]).ok();
    assert!(status.contains("NOT this binary"), "{status}");
    let doctor = h.run(&["--offline", "--json", "doctor"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&doctor.stdout()).unwrap();
    let service = rows.iter().find(|r| r["check"] == "service").unwrap();
    assert_eq!(service["status"], "warn", "{service}");
    assert!(
        service["detail"]
            .as_str()
            .unwrap()
            .contains("install --force")
    );

    // An enabled unit is not removed behind systemd's back.
    let wants = unit.parent().unwrap().join("default.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(&unit, wants.join("memoryd.service")).unwrap();
    let refused = h.run(&["service", "uninstall"]);
    assert_eq!(refused.code(), 2);
    assert!(
        refused
            .stderr()
            .contains("run 'systemctl --user disable --now memoryd.service' first"),
        "{}",
        refused.describe()
    );
    std::fs::remove_file(wants.join("memoryd.service")).unwrap();
    assert!(h.run(&["service", "uninstall"]).ok().starts_with("removed"));
    assert!(!unit.exists());
    assert!(
        h.run(&["service", "uninstall"])
            .ok()
            .starts_with("not installed")
    );
}

#[test]
fn service_flags_are_checked() {
    let h = Home::new();
    for (args, expected) in [
        (
            &[
                "service",
                "install",
                "--platform",
                "launchd",
                "--system",
                "--dry-run",
            ][..],
            "invalid argument 'system'",
        ),
        (
            &["service", "install", "--port", "0", "--dry-run"][..],
            "invalid argument 'port'",
        ),
        (
            &["service", "install", "--system", "--dry-run"][..],
            "invalid argument 'data-dir'",
        ),
        (
            &["service", "install", "--platform", "windows"][..],
            "invalid value 'windows'",
        ),
    ] {
        let out = h.run(args);
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(out.stderr().contains(expected), "{}", out.describe());
    }
    if cfg!(target_os = "linux") {
        let out = h.run(&["service", "install", "--platform", "launchd"]);
        assert!(
            out.stderr()
                .contains("launchd files can only be installed on macOS\nadd --dry-run"),
            "{}",
            out.describe()
        );
    }
}

/// The fleet unit (`systemd/fleet/memoryd.service`) passes `systemd-analyze verify` with the
/// binary where it says, and takes the URL and token from its EnvironmentFile only.
#[cfg(target_os = "linux")]
#[test]
fn the_fleet_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/fleet/memoryd.service"
    ))
    .unwrap();
    assert!(
        text.contains("EnvironmentFile=/etc/memoryd/fleet.env"),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.starts_with('#') || !l.contains("postgres://")),
        "no URL (and so no password) in the unit itself"
    );
    let binary = std::fs::canonicalize(crate::util::bin()).unwrap();
    let unit = dir.path().join("memoryd.service");
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/memoryd", &binary.display().to_string()),
    )
    .unwrap();
    let complaints = systemd_verify(&unit, false, &dir.path().join("run"));
    // The EnvironmentFile exists only on a fleet server.
    let complaints: Vec<&str> = complaints
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("fleet.env"))
        .collect();
    assert!(complaints.is_empty(), "fleet unit: {complaints:#?}");
}
