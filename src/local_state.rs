//! The git-ignored folder where local mode keeps secrets it generated for itself.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use rand::RngCore;
use secrecy::SecretString;

/// Reads `dir/name`, or creates it (mode 0600) holding 48 fresh random bytes in base64.
pub fn read_or_create_secret(dir: &Path, name: &str) -> anyhow::Result<SecretString> {
    read_or_create_with(dir, name, || {
        let mut bytes = [0u8; 48];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

/// Reads `dir/name`, or creates it (mode 0600) holding what `generate` returns. Two processes
/// starting together agree on one value: the new file is written in full under a temporary name and
/// then linked into place, which fails if the other process got there first (and then its value is
/// read), so neither ever overwrites the other's key.
pub fn read_or_create_with(
    dir: &Path,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<SecretString> {
    let path = dir.join(name);
    if let Some(existing) = read_existing(&path)? {
        return Ok(existing);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let encoded = generate();
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    write_new(&temporary, &encoded)?;
    let linked = std::fs::hard_link(&temporary, &path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a local secret");
            Ok(SecretString::from(encoded))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            read_existing(&path)?.with_context(|| format!("{} exists but is empty", path.display()))
        }
        Err(err) => Err(err).with_context(|| format!("cannot write {}", path.display())),
    }
}

/// The trimmed content of `path`, if it exists and is not empty.
fn read_existing(path: &Path) -> anyhow::Result<Option<SecretString>> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            Ok(Some(SecretString::from(existing.trim().to_owned())))
        }
        Ok(_) => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Creates `path` (never replacing a file) with mode 0600 and `content`.
fn write_new(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn processes_starting_together_agree_on_one_secret() {
        let dir = std::env::temp_dir().join(format!("debrief-local-{}", uuid::Uuid::new_v4()));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    read_or_create_with(&dir, "master_keys", || format!("key-of-racer-{i}"))
                        .unwrap()
                        .expose_secret()
                        .to_owned()
                })
            })
            .collect();
        let values: std::collections::HashSet<String> =
            racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(values.len(), 1, "{values:?}");
        let stored = std::fs::read_to_string(dir.join("master_keys")).unwrap();
        assert!(values.contains(&stored));
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files are left");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
