//! Where Portcullis keeps its state on disk.
//!
//! The data directory holds what must outlive a process: the API keys ([`KeyStore`], the
//! [`ApiKeyStore`](portcullis_core::ports::ApiKeyStore) port) and the audit log ([`AuditFile`],
//! the [`AuditSink`](portcullis_core::ports::AuditSink) port); pins and approvals as those
//! arrive. It is chosen by `--data-dir`, else `PORTCULLIS_DATA_DIR`, else `.portcullis/`
//! beside the configuration file, and is created on first use, readable by its owner only.

pub mod approvals;
pub mod audit;
pub mod follow;
pub mod keys;
pub mod logins;
pub mod pins;
pub mod resets;

pub use approvals::ApprovalFile;
pub use audit::AuditFile;
pub use keys::{IssuedKey, KeyStore, StoreError};
pub use logins::LoginFile;
pub use pins::PinFile;
pub use portcullis_core::keys::{KeyInfo, KeyRejection, TOKEN_PREFIX};
pub use resets::LimitResets;

use std::io;
use std::path::{Path, PathBuf};

/// Opens (creating if needed) the SQLite database at `path`, readable by its owner only, in
/// WAL mode so that the gateway and the CLI can use it at once.
pub(crate) fn open_database(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::Permissions {
                path: path.display().to_string(),
                source,
            },
        )?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    Ok(conn)
}

/// Name of the default data directory, created beside the configuration file.
pub const DEFAULT_DIR_NAME: &str = ".portcullis";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create the data directory `{path}`: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("the data path `{path}` exists and is not a directory")]
    NotADirectory { path: PathBuf },
}

/// The data directory, created and checked.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Picks the data directory: the explicit choice if any, else beside the config file.
    pub fn choose(explicit: Option<&Path>, config_file: &Path) -> PathBuf {
        match explicit {
            Some(p) => p.to_path_buf(),
            None => config_file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(DEFAULT_DIR_NAME),
        }
    }

    /// Opens the directory, creating it (mode 0700 on Unix) if it does not exist.
    pub fn open(path: PathBuf) -> Result<DataDir, DataDirError> {
        if path.exists() && !path.is_dir() {
            return Err(DataDirError::NotADirectory { path });
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .map_err(|source| DataDirError::Create {
                path: path.clone(),
                source,
            })?;
        Ok(DataDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database (API keys; later pins and approvals).
    pub fn database(&self) -> PathBuf {
        self.path.join("portcullis.db")
    }

    /// What a running gateway last reported of its rate limits.
    pub fn limits_status(&self) -> PathBuf {
        self.path.join("limits.json")
    }

    /// The hash-chained audit log.
    pub fn audit_log(&self) -> PathBuf {
        self.path.join("audit.jsonl")
    }

    /// Where a running `serve` says it listens (for `portcullis connect` and `doctor`).
    pub fn endpoint(&self) -> PathBuf {
        self.path.join("endpoint.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_beside_the_config() {
        assert_eq!(
            DataDir::choose(None, Path::new("/etc/pc/gw.toml")),
            PathBuf::from("/etc/pc/.portcullis")
        );
        assert_eq!(
            DataDir::choose(None, Path::new("gw.toml")),
            PathBuf::from("./.portcullis")
        );
        assert_eq!(
            DataDir::choose(Some(Path::new("/d")), Path::new("gw.toml")),
            PathBuf::from("/d")
        );
    }

    #[test]
    fn creates_the_directory_and_refuses_a_file() {
        let base = std::env::temp_dir().join(format!("pc-store-{}", std::process::id()));
        let dir = DataDir::open(base.join("a/b")).unwrap();
        assert!(dir.path().is_dir());
        std::fs::write(base.join("f"), "x").unwrap();
        assert!(matches!(
            DataDir::open(base.join("f")),
            Err(DataDirError::NotADirectory { .. })
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
