//! `debrief rotate-keys`: re-encrypts every stored secret with the newest master key, so older keys
//! can then be removed from the ring. Safe to run while Debrief serves: each row is swapped only if
//! it still holds the ciphertext that was read, and running it twice changes nothing the second time.

use std::collections::BTreeMap;

use crate::crypto::{
    API_KEY_FIELD, CRM_ACCESS_TOKEN_FIELD, CRM_REFRESH_TOKEN_FIELD, WEBHOOK_SECRET_FIELD,
};
use crate::crypto::{Binding, KeyRing};
use crate::db;
use crate::db::audit::AuditAction;
use crate::domain::OrgId;

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Rows holding at least one secret.
    pub rows_seen: usize,
    /// Secrets re-encrypted with the newest key.
    pub secrets_rotated: usize,
    /// Rows changed by someone else meanwhile (already current, or erased): left alone.
    pub rows_skipped: usize,
    /// Rows whose secrets could not be decrypted with any key in the ring (by id, never content).
    pub failures: Vec<String>,
}

impl RotationReport {
    /// Counts one row's outcome: its `changed` secrets rotated if the swap took, else skipped.
    fn count(
        &mut self,
        org: OrgId,
        changed: usize,
        swapped: bool,
        per_org: &mut BTreeMap<OrgId, usize>,
    ) {
        if swapped {
            self.secrets_rotated += changed;
            *per_org.entry(org).or_default() += changed;
        } else {
            self.rows_skipped += 1;
        }
    }
}

/// A row's stored secrets, each re-encrypted under the newest key when an older one made it:
/// `(value to store, whether it changed)` per field, or `None` when one does not decrypt.
fn rotate_fields<const N: usize>(
    ring: &KeyRing,
    org_id: OrgId,
    record_id: uuid::Uuid,
    fields: [(&Option<String>, &'static str); N],
) -> Option<[(Option<String>, bool); N]> {
    let mut out: [(Option<String>, bool); N] = std::array::from_fn(|_| (None, false));
    for (slot, (stored, field)) in out.iter_mut().zip(fields) {
        *slot = match stored {
            Some(ct) if ring.needs_rotation(ct) => {
                let binding = Binding {
                    org_id,
                    record_id,
                    field,
                };
                (Some(ring.reencrypt(ct, binding).ok()?), true)
            }
            other => (other.clone(), false),
        };
    }
    Some(out)
}

/// Re-encrypts every Fathom key and webhook secret and every CRM token not yet under `ring`'s
/// newest key, and records
/// one `secrets.rotated` audit event per org that had any.
pub async fn rotate_keys(pool: &sqlx::PgPool, ring: &KeyRing) -> anyhow::Result<RotationReport> {
    let mut report = RotationReport::default();
    let mut per_org: BTreeMap<OrgId, usize> = BTreeMap::new();
    for row in db::system::fathom_connection_secrets(pool).await? {
        report.rows_seen += 1;
        let Some([api_key, secret]) = rotate_fields(
            ring,
            row.org_id,
            row.id.0,
            [
                (&row.api_key_ciphertext, API_KEY_FIELD),
                (&row.webhook_secret_ciphertext, WEBHOOK_SECRET_FIELD),
            ],
        ) else {
            report
                .failures
                .push(format!("fathom connection {}", row.id));
            continue;
        };
        let changed = usize::from(api_key.1) + usize::from(secret.1);
        if changed == 0 {
            continue;
        }
        let mut conn = pool.acquire().await?;
        let swapped = db::system::replace_fathom_connection_secrets(
            &mut conn,
            &row,
            api_key.0.as_deref(),
            secret.0.as_deref(),
        )
        .await?;
        report.count(row.org_id, changed, swapped, &mut per_org);
    }
    for row in db::system::crm_connection_tokens(pool).await? {
        report.rows_seen += 1;
        let Some([access, refresh]) = rotate_fields(
            ring,
            row.org_id,
            row.id.0,
            [
                (&row.access_token_ciphertext, CRM_ACCESS_TOKEN_FIELD),
                (&row.refresh_token_ciphertext, CRM_REFRESH_TOKEN_FIELD),
            ],
        ) else {
            report.failures.push(format!("crm connection {}", row.id));
            continue;
        };
        let changed = usize::from(access.1) + usize::from(refresh.1);
        if changed == 0 {
            continue;
        }
        let mut conn = pool.acquire().await?;
        let swapped = db::system::replace_crm_connection_tokens(
            &mut conn,
            &row,
            access.0.as_deref(),
            refresh.0.as_deref(),
        )
        .await?;
        report.count(row.org_id, changed, swapped, &mut per_org);
    }
    let mut tx = pool.begin().await?;
    for (org, count) in per_org {
        let detail = format!(
            "{count} stored secret(s) re-encrypted with master key {}",
            ring.current_key_id()
        );
        db::audit::record(&mut tx, org, None, AuditAction::SecretsRotated, &detail).await?;
    }
    tx.commit().await?;
    Ok(report)
}
