//! The database holds hashed tokens, sealed passwords and every user's data: it is created readable
//! by its owner only (0600). SQLite gives the `-wal` and `-shm` files it creates the mode of the
//! database file, so creating that one right is enough. An existing file that others may read is
//! left as it is (it may be shared on purpose) but named in a warning at start.
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `db` with mode 0600 if it does not exist; returns the files (the database and its
/// `-wal`/`-shm`) that group or others can read.
pub fn secure_database_file(db: &Path) -> io::Result<Vec<(PathBuf, u32)>> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(db) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut exposed = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                exposed.push((path, mode));
            }
        }
    }
    Ok(exposed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_file_is_private_and_an_open_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        assert!(secure_database_file(&db).unwrap().is_empty());
        assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let exposed = secure_database_file(&db).unwrap();
        assert_eq!(exposed, vec![(db.clone(), 0o644)]);
    }
}
