-- CSV imports of customers or contacts: the file as uploaded (kept until it is imported), and
-- what importing it did.
create table customer_imports (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    kind text not null check (kind in ('customers', 'contacts')),
    file_name text not null,
    body bytea not null,
    create_missing boolean not null default false,
    created_by uuid references users on delete set null,
    created_at timestamptz not null default now(),
    applied_at timestamptz,
    created integer,
    updated integer,
    unchanged integer,
    constraint customer_imports_org_id_id_key unique (org_id, id)
);
create index customer_imports_org_idx on customer_imports (org_id, created_at desc);
