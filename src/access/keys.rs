//! Keys from `memoryd key create`: their secrets, and the ring every server checks them
//! against.
//!
//! A key reads `mdk_<id>_<secret>`: the id finds the stored key, and the secret (32 random
//! bytes, base64url) is kept only as its SHA-256, compared in constant time. The secret is
//! long and random, so a fast hash is as safe as a slow one and costs nothing per call. Keys
//! live in the database, so a fleet shares them; each server keeps a copy ([`KeyRing`]) that
//! it reloads when older than [`FRESH_FOR`], so a revocation holds everywhere within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Principal, Via};
use crate::error::Result;
use crate::store::{ApiKey, Store};

/// How long a loaded copy of the keys answers before the next call reloads it.
pub const FRESH_FOR: Duration = Duration::from_millis(500);

/// Every key starts so, which tells it from the configured token and from a JWT.
pub const PREFIX: &str = "mdk_";

/// A new key's id and secret, and the full text the holder sends.
pub struct Minted {
    /// The key's id.
    pub id: String,
    /// The text to send as `Authorization: Bearer …`; shown once.
    pub key: String,
    /// SHA-256 of the secret, to store.
    pub hash: [u8; 32],
}

/// Makes a new key's id and secret.
pub fn mint() -> Minted {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).expect("the operating system provides random bytes");
    getrandom::fill(&mut secret).expect("the operating system provides random bytes");
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    Minted {
        key: format!("{PREFIX}{id}_{secret}"),
        hash: digest(&secret),
        id,
    }
}

/// Splits `text` into id and secret, when it has a key's shape.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id) && secret.len() == 43).then_some((id, secret))
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Why a key was refused (always HTTP 401; the message never repeats the key).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    /// Not `mdk_<16 hex>_<43 characters>`.
    #[error(
        "the key is malformed: a key reads mdk_<id>_<secret>, as 'memoryd key create' printed it"
    )]
    Malformed,
    /// No stored key has this id, or the secret does not match.
    #[error(
        "the key is not known to this server: check it was copied whole, or create one with 'memoryd key create'"
    )]
    Unknown,
    /// Past its `expires_at`.
    #[error("key {id} expired at {at}: create a new one with 'memoryd key create'")]
    Expired {
        /// The key's id.
        id: String,
        /// When it expired.
        at: String,
    },
    /// Revoked with `memoryd key revoke`.
    #[error("key {id} was revoked at {at}")]
    Revoked {
        /// The key's id.
        id: String,
        /// When it was revoked.
        at: String,
    },
}

/// The loaded keys, by id.
struct Loaded {
    keys: HashMap<String, ApiKey>,
    at: Instant,
}

/// This server's copy of the stored keys, reloaded when older than [`FRESH_FOR`].
pub struct KeyRing {
    store: Store,
    /// Read by every call, written by the one that reloads; never held across an `.await`.
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// One reload at a time; the others keep using the copy they have.
    reloading: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// A ring over the keys of `store`, loaded on first use.
    pub fn new(store: Store) -> KeyRing {
        KeyRing {
            store,
            loaded: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The keys, reloaded first when the copy is stale.
    async fn current(&self) -> Result<Arc<Loaded>> {
        if let Some(loaded) = self.fresh() {
            return Ok(loaded);
        }
        let _one = self.reloading.lock().await;
        if let Some(loaded) = self.fresh() {
            return Ok(loaded);
        }
        let keys = self.store.keys().await?;
        let loaded = Arc::new(Loaded {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
            at: Instant::now(),
        });
        *self.loaded.write().expect("key ring lock") = Some(loaded.clone());
        Ok(loaded)
    }

    fn fresh(&self) -> Option<Arc<Loaded>> {
        let loaded = self.loaded.read().expect("key ring lock");
        loaded
            .as_ref()
            .filter(|l| l.at.elapsed() < FRESH_FOR)
            .cloned()
    }

    /// True when any key was ever created (revoked ones count: revoking the last key must not
    /// open the server to everyone).
    pub async fn any(&self) -> Result<bool> {
        Ok(!self.current().await?.keys.is_empty())
    }

    /// The principal `text` proves, or why it proves none. `now` is RFC 3339 UTC.
    pub async fn verify(
        &self,
        text: &str,
        now: &str,
    ) -> Result<std::result::Result<Principal, KeyRefused>> {
        let Some((id, secret)) = split(text) else {
            return Ok(Err(KeyRefused::Malformed));
        };
        let loaded = self.current().await?;
        let Some(key) = loaded.keys.get(id) else {
            return Ok(Err(KeyRefused::Unknown));
        };
        if !bool::from(digest(secret).ct_eq(&key.hash)) {
            return Ok(Err(KeyRefused::Unknown));
        }
        if let Some(at) = &key.revoked_at {
            return Ok(Err(KeyRefused::Revoked {
                id: key.id.clone(),
                at: at.clone(),
            }));
        }
        if let Some(at) = key.expires_at.as_ref().filter(|at| at.as_str() <= now) {
            return Ok(Err(KeyRefused::Expired {
                id: key.id.clone(),
                at: at.clone(),
            }));
        }
        Ok(Ok(Principal {
            name: Some(key.label.clone()),
            scope: key.scope,
            namespaces: key.namespaces.clone(),
            via: Via::Key(key.id.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_key_splits_back_and_hashes_its_secret() {
        let minted = mint();
        let (id, secret) = split(&minted.key).unwrap();
        assert_eq!(id, minted.id);
        assert_eq!(digest(secret), minted.hash);
        assert_ne!(mint().key, minted.key);
    }

    #[test]
    fn only_the_key_shape_splits() {
        for bad in [
            "",
            "mdk_",
            "secret-token",
            "mdk_0123456789abcdef",
            "mdk_0123456789abcdeg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "mdk_0123456789abcdef_short",
            "eyJhbGciOiJSUzI1NiJ9.e30.sig",
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }
}
