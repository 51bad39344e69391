//! The station's Ed25519 signing key, kept as a private PKCS#8 PEM file.
//!
//! The key is created on first run and never leaves the machine; only its
//! public half and a short key id are written into records, so anyone can
//! verify them and an operator can pin the station's key.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::{create_private_dir_all, io_err, sync_parent_dir, RecordError};

/// A PEM PKCS#8 Ed25519 key is ~120 bytes; anything far larger is not ours
/// and is refused before being read into memory.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// The station's signing identity.
pub struct StationKey {
    signing: SigningKey,
}

impl fmt::Debug for StationKey {
    /// Never prints secret material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StationKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// `<config dir>/facestation/station-key.pem` (e.g. `~/.config/...` on Linux).
pub fn default_key_path() -> Result<PathBuf, RecordError> {
    let base = dirs::config_dir().ok_or(RecordError::NoPlatformDir("config"))?;
    Ok(base.join("facestation").join("station-key.pem"))
}

impl StationKey {
    /// A fresh random key held only in memory (used by `load_or_create`, and
    /// handy for tests).
    pub fn generate() -> Result<Self, RecordError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng
            .try_fill_bytes(secret.as_mut())
            .map_err(|e| RecordError::Rng(e.to_string()))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&secret),
        })
    }

    /// Loads the key at `path`, or creates it (mode 0600) if there is none.
    ///
    /// An existing file that group/other may access is refused rather than
    /// silently fixed: a key that may have been readable by others should be
    /// treated as compromised by a human, not by us.
    pub fn load_or_create(path: &Path) -> Result<Self, RecordError> {
        match File::open(path) {
            Ok(file) => Self::load_from(path, file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    fn load_from(path: &Path, file: File) -> Result<Self, RecordError> {
        // Check the opened handle, not the path, so the file checked is the
        // file read.
        let meta = file.metadata().map_err(io_err(path))?;
        if !meta.is_file() {
            return Err(RecordError::MalformedKey {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(RecordError::InsecureKeyPermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(RecordError::MalformedKey {
                path: path.to_path_buf(),
                reason: format!("file is {} bytes, too large for a key", meta.len()),
            });
        }
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io_err(path))?;
        let pem = std::str::from_utf8(&bytes).map_err(|_| RecordError::MalformedKey {
            path: path.to_path_buf(),
            reason: "not UTF-8 text".into(),
        })?;
        let signing =
            SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| RecordError::MalformedKey {
                path: path.to_path_buf(),
                reason: format!("not a PKCS#8 PEM Ed25519 private key: {e}"),
            })?;
        Ok(Self { signing })
    }

    fn create(path: &Path) -> Result<Self, RecordError> {
        let key = Self::generate()?;
        let pem = key
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| RecordError::KeyEncoding(e.to_string()))?;
        if let Some(parent) = path.parent() {
            create_private_dir_all(parent)?;
        }
        let mut opts = OpenOptions::new();
        // create_new: never clobber a key that appeared meanwhile; mode is
        // applied at creation so the file is never briefly world-readable.
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = match opts.open(path) {
            Ok(f) => f,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let file = File::open(path).map_err(io_err(path))?;
                return Self::load_from(path, file);
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        let written = file
            .write_all(pem.as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            // Do not leave a half-written key that would fail every later start.
            let _ = std::fs::remove_file(path);
            return Err(io_err(path)(e));
        }
        sync_parent_dir(path);
        Ok(key)
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Standard (padded) base64 of the 32-byte public key, as put in records.
    pub fn public_key_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.public_key_bytes())
    }

    /// Short, human-comparable key fingerprint: first 16 hex chars of
    /// SHA-256(public key bytes).
    pub fn key_id(&self) -> String {
        key_id_of(&self.public_key_bytes())
    }

    /// Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

/// Key id for any public key, so verifiers can check `signature.keyId`.
pub(crate) fn key_id_of(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    let mut id = hex::encode(digest);
    id.truncate(16);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_16_hex_of_sha256() {
        let key = StationKey::generate().expect("rng");
        let id = key.key_id();
        assert_eq!(id.len(), 16);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let full = hex::encode(Sha256::digest(key.public_key_bytes()));
        assert!(full.starts_with(&id));
        assert_eq!(key.public_key_b64().len(), 44);
        assert!(!format!("{key:?}").contains(&hex::encode(key.signing.to_bytes())));
    }

    #[test]
    fn create_then_reload_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir
            .path()
            .join("nested")
            .join("deeper")
            .join("station-key.pem");
        let a = StationKey::load_or_create(&path).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        let b = StationKey::load_or_create(&path).expect("reload");
        assert_eq!(a.key_id(), b.key_id());
        assert_eq!(a.public_key_b64(), b.public_key_b64());
        assert_eq!(a.sign(b"x"), b.sign(b"x"));
    }

    #[cfg(unix)]
    #[test]
    fn group_or_other_readable_key_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.pem");
        StationKey::load_or_create(&path).expect("create");
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            match StationKey::load_or_create(&path) {
                Err(RecordError::InsecureKeyPermissions { mode: m, .. }) => assert_eq!(m, mode),
                other => panic!("mode {mode:o}: expected refusal, got {other:?}"),
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        StationKey::load_or_create(&path).expect("0400 is fine");
    }

    #[test]
    fn malformed_key_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in [
            ("empty.pem", &b""[..]),
            ("junk.pem", &b"hello"[..]),
            ("binary.pem", &[0xff, 0xfe, 0x00][..]),
            (
                "badpem.pem",
                &b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"[..],
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).expect("write");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod");
            }
            match StationKey::load_or_create(&path) {
                Err(RecordError::MalformedKey { .. }) => {}
                other => panic!("{name}: expected MalformedKey, got {other:?}"),
            }
            // The bad file must not have been replaced.
            assert_eq!(std::fs::read(&path).expect("read"), content);
        }
    }

    #[test]
    fn default_path_ends_in_facestation() {
        if let Ok(p) = default_key_path() {
            assert!(p.ends_with("facestation/station-key.pem"));
        }
    }
}
