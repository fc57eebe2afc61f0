//! `memoryd config show`: the effective configuration as TOML, each value followed by where
//! it came from (default, the config file, an environment variable, or a flag).

use std::collections::BTreeMap;

use figment::Figment;
use figment::Source;

use super::Global;
use crate::config::{Config, Layers};

/// `memoryd config …`
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCmd {
    /// Print the effective config and where each value came from
    Show,
}

/// Where a flag's value came from, by the flag's long name (`data-dir`): `flag --data-dir`,
/// `env MEMORYD_DATA_DIR` or `default`. `main` fills it from clap's matches.
pub type FlagSources = BTreeMap<&'static str, String>;

/// Prints the effective config.
pub fn run(global: &Global, cmd: ConfigCmd, flags: &FlagSources) -> anyhow::Result<()> {
    let ConfigCmd::Show = cmd;
    let config = global.config()?;
    let layers = Layers::new(global.config.as_deref())?;
    print!("{}", render(&config, &layers, flags)?);
    Ok(())
}

/// The annotated TOML.
fn render(config: &Config, layers: &Layers, flags: &FlagSources) -> anyhow::Result<String> {
    let mut out = String::from(
        "# memoryd's effective configuration; after each value, where it came from.\n",
    );
    match &layers.file {
        Some(p) => out.push_str(&format!("# config file: {}\n", p.display())),
        None => out.push_str(&format!(
            "# config file: none ({} does not exist; see --config)\n",
            crate::config::default_config_file()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no default location".into())
        )),
    }
    let from = |name: &'static str| flags.get(name).cloned().unwrap_or_else(|| "default".into());
    out.push_str("\n# Flags (not keys of the file):\n");
    let model_from = if flags.contains_key("model-dir") {
        from("model-dir")
    } else {
        "default (DATA_DIR/models)".into()
    };
    for (key, value, source) in [
        (
            "data_dir",
            toml::Value::String(config.data_dir.display().to_string()),
            from("data-dir"),
        ),
        (
            "model_dir",
            toml::Value::String(config.model_dir.display().to_string()),
            model_from,
        ),
        (
            "offline",
            toml::Value::Boolean(!config.auto_install),
            from("offline"),
        ),
    ] {
        out.push_str(&line(&format!("# {key}"), &value, &source));
    }

    let value = toml::Value::try_from(config)?;
    let toml::Value::Table(root) = value else {
        anyhow::bail!("the config did not serialise to a table");
    };
    section(&mut out, &layers.figment, flags, &[], &root);
    Ok(out)
}

/// Writes the scalars of `table` under a `[path]` header, then its sub-tables.
fn section(
    out: &mut String,
    figment: &Figment,
    flags: &FlagSources,
    path: &[&str],
    table: &toml::value::Table,
) {
    let scalars: Vec<_> = table.iter().filter(|(_, v)| !v.is_table()).collect();
    if !scalars.is_empty() {
        out.push_str(&format!("\n[{}]\n", path.join(".")));
        for (key, value) in scalars {
            let mut keys = path.to_vec();
            keys.push(key);
            let shown = match (keys.as_slice(), value) {
                (["server", "token"], _) => toml::Value::String("<redacted>".into()),
                // The URL is worth seeing; its password is not.
                (["storage", "database_url"], toml::Value::String(url)) => {
                    toml::Value::String(crate::config::redact_url(url))
                }
                _ => value.clone(),
            };
            let source = match flags.get("database-url") {
                Some(flag) if keys == ["storage", "database_url"] => flag.clone(),
                _ => origin(figment, &keys),
            };
            out.push_str(&line(key, &shown, &source));
        }
    }
    for (key, value) in table {
        if let toml::Value::Table(sub) = value {
            let mut keys = path.to_vec();
            keys.push(key);
            section(out, figment, flags, &keys, sub);
        }
    }
}

/// `key = value   # source`, aligned.
fn line(key: &str, value: &toml::Value, source: &str) -> String {
    let value = match value {
        // The settings are f32: show them as written, not as the nearest f64 (0.6, not
        // 0.6000000238418579).
        toml::Value::Float(f) => {
            let short = (*f as f32).to_string();
            if short.contains(['.', 'e', 'N', 'n']) {
                short
            } else {
                format!("{short}.0")
            }
        }
        other => other.to_string(),
    };
    let text = format!("{key} = {value}");
    format!("{text:<44} # {source}\n")
}

/// Which layer gave the value at `keys`.
fn origin(figment: &Figment, keys: &[&str]) -> String {
    let Some(meta) = figment.find_metadata(&keys.join(".")) else {
        return "default".into();
    };
    if let Some(Source::File(path)) = &meta.source {
        return format!("file {}", path.display());
    }
    if meta.name.contains("environment") {
        if keys == ["server", "token"] {
            return "env MEMORYD_TOKEN".into();
        }
        let var: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
        return format!("env MEMORYD_{}", var.join("__"));
    }
    "default".into()
}
