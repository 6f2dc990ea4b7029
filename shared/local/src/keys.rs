//! Software ECDSA keys that behave like KMS: the private key stays in its file, callers get DER
//! signatures and SPKI public keys, disabled keys refuse to sign, deletion happens after a waiting period.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rand_core::{OsRng, RngCore as _};
use tessera_core::UnixTime;
use tessera_core::jose::Algorithm;
use tessera_core::ports::{CreatedKey, KeyManager, PortError, PortResult, Signer};
use tessera_core::time::{Clock, SystemClock};

/// The software key manager and signer over a directory of PKCS#8 files.
#[derive(Clone)]
pub struct SoftwareKeys {
    dir: PathBuf,
    // Parsed keys, so signing does not re-read and re-parse a PEM file each time.
    cache: Arc<Mutex<HashMap<String, SigningKey>>>,
}

impl std::fmt::Debug for SoftwareKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKeys").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn io_err(e: std::io::Error) -> PortError {
    PortError::unavailable(e)
}

impl SoftwareKeys {
    /// Keys in `dir` (created with owner-only permissions).
    pub fn open(dir: &Path) -> PortResult<Self> {
        std::fs::create_dir_all(dir).map_err(io_err)?;
        crate::restrict(dir, 0o700).map_err(io_err)?;
        Ok(Self { dir: dir.to_path_buf(), cache: Arc::default() })
    }

    fn path(&self, id: &str, ext: &str) -> PortResult<PathBuf> {
        // Ids are ours ("local-" + hex); anything else could walk out of the directory.
        let name = id.strip_prefix("local-").filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(name) = name else {
            return Err(PortError::Conflict(format!("not a local key id: {id:?}")));
        };
        Ok(self.dir.join(format!("{name}.{ext}")))
    }

    fn load(&self, id: &str) -> PortResult<SigningKey> {
        if let Some(k) = self.cache.lock().map_err(|_| PortError::Corrupt("key cache poisoned".into()))?.get(id) {
            return Ok(k.clone());
        }
        let pem = std::fs::read_to_string(self.path(id, "pem")?).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PortError::Conflict(format!("key {id} not found"))
            } else {
                io_err(e)
            }
        })?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| PortError::Corrupt(format!("key {id}: {e}")))?;
        self.cache
            .lock()
            .map_err(|_| PortError::Corrupt("key cache poisoned".into()))?
            .insert(id.to_owned(), key.clone());
        Ok(key)
    }

    /// Removes key files whose deletion date has passed.
    pub fn purge_due(&self, now: UnixTime) -> PortResult<usize> {
        let mut purged = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            if path.extension().is_some_and(|e| e == "deletion") {
                let due: i64 =
                    std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(i64::MAX);
                if now.0 >= due {
                    let _ = std::fs::remove_file(path.with_extension("pem"));
                    let _ = std::fs::remove_file(path.with_extension("disabled"));
                    std::fs::remove_file(&path).map_err(io_err)?;
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[async_trait]
impl Signer for SoftwareKeys {
    async fn sign(&self, provider_key_id: &str, alg: Algorithm, message: &[u8]) -> PortResult<Vec<u8>> {
        match alg {
            Algorithm::ES256 => {}
            #[allow(unreachable_patterns, reason = "Algorithm is non_exhaustive")]
            _ => {
                return Err(PortError::Conflict(format!("software keys cannot sign {alg}")));
            }
        }
        // As KMS refuses a disabled key (DisabledException), so do we.
        if self.path(provider_key_id, "disabled")?.exists() {
            return Err(PortError::Conflict(format!("key {provider_key_id} is disabled")));
        }
        let key = self.load(provider_key_id)?;
        let sig: p256::ecdsa::Signature = key.sign(message);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

#[async_trait]
impl KeyManager for SoftwareKeys {
    async fn create_key(&self, alg: Algorithm) -> PortResult<CreatedKey> {
        match alg {
            Algorithm::ES256 => {}
            #[allow(unreachable_patterns, reason = "Algorithm is non_exhaustive")]
            _ => {
                return Err(PortError::Conflict(format!("software keys cannot create {alg}")));
            }
        }
        let _ = self.purge_due(SystemClock.now());
        let key = SigningKey::random(&mut OsRng);
        let mut id_bytes = [0u8; 16];
        OsRng.fill_bytes(&mut id_bytes);
        let id = format!("local-{}", id_bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| PortError::Corrupt(e.to_string()))?;
        write_private(&self.path(&id, "pem")?, pem.as_bytes()).map_err(io_err)?;
        let spki = key.verifying_key().to_public_key_der().map_err(|e| PortError::Corrupt(e.to_string()))?;
        self.cache.lock().map_err(|_| PortError::Corrupt("key cache poisoned".into()))?.insert(id.clone(), key);
        Ok(CreatedKey { provider_key_id: id, public_key_spki: spki.as_bytes().to_vec() })
    }

    async fn public_key(&self, provider_key_id: &str) -> PortResult<Vec<u8>> {
        let key = self.load(provider_key_id)?;
        let spki = key.verifying_key().to_public_key_der().map_err(|e| PortError::Corrupt(e.to_string()))?;
        Ok(spki.as_bytes().to_vec())
    }

    async fn disable_key(&self, provider_key_id: &str) -> PortResult<()> {
        std::fs::write(self.path(provider_key_id, "disabled")?, b"").map_err(io_err)
    }

    async fn schedule_deletion(&self, provider_key_id: &str, after: Duration) -> PortResult<()> {
        let due = SystemClock.now().plus(after);
        std::fs::write(self.path(provider_key_id, "deletion")?, due.0.to_string()).map_err(io_err)
    }
}
