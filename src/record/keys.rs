//! The station's Ed25519 signing key, kept as a private PKCS#8 PEM file.
//!
//! The key is created on first run and never leaves the machine; only its
//! public half and a short key id are written into records, so anyone can
//! verify them and an operator can pin the station's key.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, PrivateKeyInfo, SecretDocument};
use ed25519_dalek::{Signer, SigningKey};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::fsutil::{open_read, write_temp_sibling};
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
    ///
    /// Safe against concurrent first runs: the key appears under its name
    /// only complete (see [`StationKey::create_at`]), and every process that
    /// loses the race loads the winner's key.
    pub fn load_or_create(path: &Path) -> Result<Self, RecordError> {
        match Self::load(path) {
            Err(RecordError::KeyNotFound { .. }) => Self::create_at(path),
            other => other,
        }
    }

    /// Loads the key at `path`; never creates one
    /// ([`RecordError::KeyNotFound`] if there is none).
    pub fn load(path: &Path) -> Result<Self, RecordError> {
        // Non-blocking open plus a type check of the handle: a FIFO at the
        // key path would otherwise block this open forever.
        match open_read(path) {
            Ok(file) => Self::load_from(path, file),
            Err(RecordError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(RecordError::KeyNotFound {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => Err(e),
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
        let signing = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| diagnose(path, pem, e))?;
        Ok(Self { signing })
    }

    /// Creates a fresh key at `path`, or loads the one another process put
    /// there first.
    ///
    /// The PEM is written to a temp file in the same directory and fsynced,
    /// then hard-linked to `path`: `link` fails if `path` exists, so the key
    /// appears under its name atomically and complete, and a racing process
    /// that loses gets `AlreadyExists` and loads the winner's key (with
    /// `create_new` + write, a loser could read the file half-written).
    fn create_at(path: &Path) -> Result<Self, RecordError> {
        let key = Self::generate()?;
        match key.write_new(path) {
            Ok(()) => Ok(key),
            Err(RecordError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Self::load(path)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes this key to `path` (mode 0600) as described in
    /// [`StationKey::create_at`]; `AlreadyExists` if `path` exists.
    pub(crate) fn write_new(&self, path: &Path) -> Result<(), RecordError> {
        let pem = self.to_pem()?;
        if let Some(parent) = path.parent() {
            create_private_dir_all(parent)?;
        }
        let tmp = write_temp_sibling(path, pem.as_bytes())?;
        let linked = std::fs::hard_link(&tmp, path);
        // The temp name is removed whether or not the link won.
        let _ = std::fs::remove_file(&tmp);
        linked.map_err(io_err(path))?;
        sync_parent_dir(path);
        Ok(())
    }

    /// The private key as PKCS#8 PEM (secret: zeroized on drop).
    pub(crate) fn to_pem(&self) -> Result<Zeroizing<String>, RecordError> {
        self.signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| RecordError::KeyEncoding(e.to_string()))
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

/// Ed25519's algorithm OID (RFC 8410).
const ED25519_OID: &str = "1.3.101.112";

/// Names of the key algorithms an operator is likely to point us at.
fn algorithm_name(oid: &str, curve: Option<&str>) -> &'static str {
    match (oid, curve) {
        ("1.2.840.113549.1.1.1", _) => "RSA",
        ("1.2.840.113549.1.1.10", _) => "RSA-PSS",
        ("1.2.840.10040.4.1", _) => "DSA",
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "ECDSA P-256",
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "ECDSA P-384",
        ("1.2.840.10045.2.1", Some("1.3.132.0.35")) => "ECDSA P-521",
        ("1.2.840.10045.2.1", Some("1.3.132.0.10")) => "ECDSA secp256k1",
        ("1.2.840.10045.2.1", _) => "elliptic-curve (EC)",
        ("1.3.101.110", _) => "X25519",
        ("1.3.101.111", _) => "X448",
        ("1.3.101.113", _) => "Ed448",
        ("1.2.156.10197.1.301", _) => "SM2",
        _ => "non-Ed25519",
    }
}

/// Why a PEM is not our key, in the operator's terms. The Ed25519 decoder
/// reports every foreign key with Ed25519's own OID (the OID it expected),
/// so the PEM is decoded again here to name the algorithm actually found.
fn diagnose(path: &Path, pem: &str, err: ed25519_dalek::pkcs8::Error) -> RecordError {
    let malformed = |reason: String| RecordError::MalformedKey {
        path: path.to_path_buf(),
        reason,
    };
    let (label, doc) = match SecretDocument::from_pem(pem.trim()) {
        Ok(d) => d,
        Err(_) => return malformed(format!("not a PKCS#8 PEM Ed25519 private key: {err}")),
    };
    if label != "PRIVATE KEY" {
        let hint = match label {
            "ENCRYPTED PRIVATE KEY" => "an encrypted key; the station needs it unencrypted",
            "RSA PRIVATE KEY" => "an RSA key in PKCS#1 form",
            "EC PRIVATE KEY" => "an elliptic-curve key in SEC1 form",
            "OPENSSH PRIVATE KEY" => "an OpenSSH key, not PKCS#8",
            "PUBLIC KEY" => "a public key; the station needs its private key",
            _ => "not a PKCS#8 private key",
        };
        return malformed(format!("PEM label is \"{label}\" ({hint})"));
    }
    let info = match PrivateKeyInfo::try_from(doc.as_bytes()) {
        Ok(i) => i,
        Err(e) => return malformed(format!("not a PKCS#8 private key: {e}")),
    };
    let oid = info.algorithm.oid.to_string();
    if oid == ED25519_OID {
        return malformed(format!("not a valid PKCS#8 Ed25519 private key: {err}"));
    }
    let curve = info.algorithm.parameters_oid().ok().map(|c| c.to_string());
    RecordError::UnsupportedKeyAlgorithm {
        path: path.to_path_buf(),
        name: algorithm_name(&oid, curve.as_deref()),
        oid,
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

    /// Concurrent first runs: 16 threads create the same key at once, 200
    /// times. The code path is the one separate processes take (temp file +
    /// hard link; the in-process mutex is not involved), see also the
    /// process variant in tests/desk_cli.rs.
    #[test]
    fn racing_first_runs_all_get_the_same_complete_key() {
        const THREADS: usize = 16;
        const ROUNDS: usize = 200;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut failures = Vec::new();
        for round in 0..ROUNDS {
            let path = dir.path().join(format!("r{round}")).join("station-key.pem");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let path = path.clone();
                    let barrier = std::sync::Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        StationKey::load_or_create(&path).map(|k| k.public_key_b64())
                    })
                })
                .collect();
            let keys: Vec<_> = threads
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect();
            let first = keys[0].as_ref().ok().cloned();
            for k in &keys {
                match k {
                    Ok(k) if Some(k) == first.as_ref() => {}
                    other => failures.push(format!("round {round}: {other:?}")),
                }
            }
            // No temp file is left beside the key.
            let left = std::fs::read_dir(path.parent().expect("dir"))
                .expect("ls")
                .count();
            if left != 1 {
                failures.push(format!("round {round}: {left} files in the key folder"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
    }

    #[cfg(unix)]
    #[test]
    fn fifo_key_path_is_refused_not_waited_on() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.pem");
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("c");
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for r in [StationKey::load_or_create(&path), StationKey::load(&path)] {
            match r {
                Err(RecordError::NotRegularFile { kind, .. }) => {
                    assert_eq!(kind, "a FIFO (named pipe)")
                }
                other => panic!("expected NotRegularFile, got {other:?}"),
            }
        }
        match StationKey::load_or_create(dir.path()) {
            Err(e @ RecordError::NotRegularFile { .. }) => {
                assert!(e.to_string().contains("is a directory"), "{e}")
            }
            other => panic!("expected NotRegularFile, got {other:?}"),
        }
    }

    #[test]
    fn load_never_creates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("none.pem");
        assert!(matches!(
            StationKey::load(&path),
            Err(RecordError::KeyNotFound { .. })
        ));
        assert!(!path.exists());
    }

    /// Each foreign key is reported with its own algorithm OID, not with
    /// Ed25519's (what the decoder expected).
    #[test]
    fn non_ed25519_keys_name_their_own_algorithm() {
        use ed25519_dalek::pkcs8::spki::der::asn1::{AnyRef, ObjectIdentifier};
        use ed25519_dalek::pkcs8::spki::AlgorithmIdentifierRef;
        let dir = tempfile::tempdir().expect("tempdir");
        let p256 = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        let null = AnyRef::NULL;
        let cases: Vec<(&str, Option<AnyRef<'_>>, &str)> = vec![
            ("1.2.840.113549.1.1.1", Some(null), "RSA"),
            (
                "1.2.840.10045.2.1",
                Some(AnyRef::from(&p256)),
                "ECDSA P-256",
            ),
            ("1.3.101.110", None, "X25519"),
            ("1.3.101.113", None, "Ed448"),
            ("1.2.3.4.5", None, "non-Ed25519"),
        ];
        for (oid, parameters, name) in cases {
            let algorithm = AlgorithmIdentifierRef {
                oid: ObjectIdentifier::new_unwrap(oid),
                parameters,
            };
            // OCTET STRING-wrapped junk is enough: only the OID is read.
            let secret = [0x04, 0x02, 0x01, 0x02];
            let info = PrivateKeyInfo::new(algorithm, &secret);
            let doc = SecretDocument::try_from(info).expect("der");
            let pem = doc.to_pem("PRIVATE KEY", LineEnding::LF).expect("pem");
            let path = dir.path().join(format!("{oid}.pem"));
            std::fs::write(&path, pem.as_bytes()).expect("write");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod");
            }
            match StationKey::load_or_create(&path) {
                Err(e @ RecordError::UnsupportedKeyAlgorithm { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("OID {oid})")), "{msg}");
                    assert!(msg.contains(&format!("a {name} key")), "{msg}");
                    if let RecordError::UnsupportedKeyAlgorithm { oid: found, .. } = e {
                        assert_eq!(found, oid);
                    }
                }
                other => panic!("{oid}: expected UnsupportedKeyAlgorithm, got {other:?}"),
            }
        }
        // Other PEM kinds are named by their label.
        let path = dir.path().join("rsa1.pem");
        std::fs::write(
            &path,
            "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n",
        )
        .expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        match StationKey::load(&path) {
            Err(RecordError::MalformedKey { reason, .. }) => {
                assert!(reason.contains("RSA PRIVATE KEY"), "{reason}")
            }
            other => panic!("expected MalformedKey, got {other:?}"),
        }
    }

    #[test]
    fn default_path_ends_in_facestation() {
        if let Ok(p) = default_key_path() {
            assert!(p.ends_with("facestation/station-key.pem"));
        }
    }
}
