-- Fathom connections (one per Fathom user per org, each with its own webhook) and the audit log.

create table fathom_connections (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    -- The Fathom account the key belongs to, lower-cased.
    fathom_user_email text not null,
    -- active: ingesting; needs_reconnect: Fathom answered 401; disconnecting: webhook deletion at
    -- Fathom still being retried (ingest already stopped); disconnected: key and secret erased.
    state text not null check (state in ('active', 'needs_reconnect', 'disconnecting', 'disconnected')),
    -- AES-256-GCM ciphertexts (crypto.rs), bound to (org_id, id, field); null once erased.
    api_key_ciphertext text,
    webhook_secret_ciphertext text,
    -- First and last four characters of the key, for people to recognise it.
    api_key_hint text not null,
    webhook_id text,
    webhook_url text not null,
    connected_by uuid references users on delete set null,
    connected_at timestamptz not null default now(),
    disconnected_by uuid references users on delete set null,
    disconnected_at timestamptz,
    -- Deleting the webhook at Fathom on disconnect: pending (retrying), deleted, or abandoned (the
    -- person must delete webhook_id by hand in Fathom's settings).
    webhook_cleanup text check (webhook_cleanup in ('pending', 'deleted', 'abandoned')),
    webhook_cleanup_attempts integer not null default 0,
    webhook_cleanup_next_at timestamptz,
    webhook_cleanup_error text,
    constraint fathom_connections_org_id_id_key unique (org_id, id),
    constraint fathom_connections_email_normalised check (fathom_user_email = lower(btrim(fathom_user_email))),
    constraint fathom_connections_secrets_while_live check (
        state in ('disconnecting', 'disconnected')
        or (api_key_ciphertext is not null and webhook_secret_ciphertext is not null and webhook_id is not null)
    ),
    constraint fathom_connections_erased_when_disconnected check (
        state <> 'disconnected' or (api_key_ciphertext is null and webhook_secret_ciphertext is null)
    )
);
-- One live connection per Fathom user per org.
create unique index fathom_connections_one_live_per_user
    on fathom_connections (org_id, fathom_user_email) where state in ('active', 'needs_reconnect');
create index fathom_connections_cleanup_due
    on fathom_connections (webhook_cleanup_next_at) where webhook_cleanup = 'pending';

create table audit_events (
    id bigint generated always as identity primary key,
    org_id uuid not null references orgs on delete cascade,
    -- Null for the system (for example `debrief rotate-keys`).
    actor_id uuid references users on delete set null,
    -- fathom.connected, fathom.key_replaced, fathom.disconnected, fathom.webhook_cleanup_abandoned, secrets.rotated
    action text not null,
    -- What it was about, in words (never a secret).
    detail text not null default '',
    created_at timestamptz not null default now()
);
create index audit_events_org_idx on audit_events (org_id, created_at desc, id desc);
