//! Whether the configuration file is open to other users.

use std::path::Path;

/// A warning when a configuration file may be read (or changed) by other users: it names
/// secrets, or the variables that hold them, and says who may decide rollbacks. `None` when only
/// the owner has access, and on systems without Unix permissions.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return None;
        }
        let who = match (mode & 0o044 != 0, mode & 0o022 != 0) {
            (true, true) => "readable and writable by other users",
            (false, true) => "writable by other users",
            (true, false) => "readable by other users",
            (false, false) => "open to other users",
        };
        let p = path.display();
        Some(format!(
            "{p} is {who} (mode {mode:04o}); it may hold secrets: run `chmod 600 {p}`"
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
