//! What the benchmarks share: settings for an app on loopback, and a person signing up and
//! connecting Fathom through the real pages.

// Each benchmark compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use anyhow::{Context, bail};
use debrief::config::Settings;
use secrecy::SecretString;

/// Settings for a Debrief served at `address` that talks to the Fathom at `fathom_url`.
pub fn settings(address: &str, fathom_url: &str) -> anyhow::Result<Settings> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut settings = Settings::load_from(&dir.join("configuration"))?;
    settings.application.host = "127.0.0.1".into();
    settings.application.port = 0;
    settings.application.base_url = address.parse()?;
    settings.application.static_dir = dir.join("static");
    settings.application.session_secret = Some(SecretString::from(format!(
        "{}-bench-session-secret",
        uuid::Uuid::new_v4()
    )));
    settings.application.local_state_dir = std::env::temp_dir().join("debrief-bench");
    settings.secrets.master_keys = Some(SecretString::from(
        debrief::crypto::KeyRing::generate_spec("bench1"),
    ));
    settings.fathom.base_url = fathom_url.parse()?;
    Ok(settings)
}

/// A browser signed up as the bench user with its own org; returns it and the org home's path.
pub async fn sign_up(address: &str) -> anyhow::Result<(reqwest::Client, String)> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token = csrf(&browser, &format!("{address}/signup")).await?;
    let signed_up = browser
        .post(format!("{address}/signup"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Bench User"),
            ("email", "bench@example.com"),
            ("password", "correct-horse-battery-staple"),
            ("org_name", "Bench Org"),
        ])
        .send()
        .await?;
    let home = signed_up
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("sign-up redirects to the org home")?
        .to_owned();
    Ok((browser, home))
}

/// The Connect Fathom form's URL and CSRF token (fetched before the timed click).
pub async fn open_connect_form(
    browser: &reqwest::Client,
    address: &str,
    home: &str,
) -> anyhow::Result<(String, String)> {
    let connect = format!("{address}{home}integrations/fathom/connect");
    let token = csrf(browser, &connect).await?;
    Ok((connect, token))
}

/// Submits the Connect Fathom form with `key`, which must succeed.
pub async fn submit_connect_form(
    browser: &reqwest::Client,
    (connect, token): &(String, String),
    key: &str,
) -> anyhow::Result<()> {
    let connected = browser
        .post(connect)
        .form(&[
            ("csrf_token", token.as_str()),
            ("fathom_email", "bench@example.com"),
            ("api_key", key),
        ])
        .send()
        .await?;
    if connected.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("connecting Fathom failed: {}", connected.status());
    }
    Ok(())
}

/// The CSRF token a page carries.
pub async fn csrf(browser: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let html = browser.get(url).send().await?.text().await?;
    let marker = r#"name="csrf-token" content=""#;
    let start = html.find(marker).context("page has a CSRF token")? + marker.len();
    let end = html[start..].find('"').context("token ends")? + start;
    Ok(html[start..end].to_owned())
}
