-- A webhook registration under way: written before Debrief asks Fathom to create the webhook, given
-- the webhook's id as soon as Fathom answers, and deleted in the transaction that stores the
-- connection. A row left behind (the process died mid-connect) is found by the worker, which deletes
-- the webhook at Fathom so none is left delivering with a secret Debrief never stored.
create table fathom_pending_webhooks (
    connection_id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    -- AES-256-GCM, bound to (org_id, connection_id, 'fathom_api_key') like the connection's own key.
    api_key_ciphertext text not null,
    webhook_id text,
    started_at timestamptz not null default now(),
    cleanup_attempts integer not null default 0,
    cleanup_next_at timestamptz not null default now()
);
create index fathom_pending_webhooks_due_idx on fathom_pending_webhooks (cleanup_next_at);
