//! The one way hardshell binds a unix socket it serves on: the edge's
//! control socket, every broker socket (the agent's, each exec run's), and
//! the agent's own when it runs outside a shell. Here because the broker is
//! the lowest crate that serves on unix sockets, and every crate that binds
//! one (the edge, exec, the binary) already depends on it.

use std::path::Path;

use tokio::net::UnixListener;

/// A unix socket at `path`, replacing a stale socket file, mode 0600 (its
/// owner alone may connect; give it to a shell's id with `lchown`). The
/// directory must be one only the caller can write: the steps here go by
/// path, so anyone who could write there could swap what is bound.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_only_its_owner_may_connect() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(bind(&path).unwrap());
        // The file of the listener just dropped is still there: stale.
        assert!(path.exists());
        let _listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        tokio::net::UnixStream::connect(&path).await.unwrap();
    }
}
