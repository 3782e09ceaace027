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

/// Reads `dir/name`, or creates it (mode 0600) holding what `generate` returns.
pub fn read_or_create_with(
    dir: &Path,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<SecretString> {
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let trimmed = existing.trim();
        if !trimmed.is_empty() {
            return Ok(SecretString::from(trimmed.to_owned()));
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let encoded = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(encoded.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a local secret");
    Ok(SecretString::from(encoded))
}
