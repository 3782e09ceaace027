-- People, organisations (tenants), memberships, invites, sessions and failed sign-ins.

create table users (
    id uuid primary key,
    email text not null,
    name text not null,
    password_hash text not null,
    created_at timestamptz not null default now(),
    constraint users_email_key unique (email),
    constraint users_email_normalised check (email = lower(btrim(email)) and email <> '')
);

create table orgs (
    id uuid primary key,
    slug text not null,
    name text not null,
    created_at timestamptz not null default now(),
    constraint orgs_slug_key unique (slug)
);

create table memberships (
    org_id uuid not null references orgs on delete cascade,
    user_id uuid not null references users on delete cascade,
    role text not null check (role in ('owner', 'admin', 'member')),
    created_at timestamptz not null default now(),
    primary key (org_id, user_id)
);
create index memberships_user_idx on memberships (user_id);

create table invites (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    -- SHA-256 of the link token: the token itself is only ever in the link.
    token_hash text not null,
    role text not null check (role in ('owner', 'admin', 'member')),
    created_by uuid references users on delete set null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    accepted_at timestamptz,
    accepted_by uuid references users on delete set null,
    revoked_at timestamptz,
    constraint invites_token_hash_key unique (token_hash)
);
create index invites_org_idx on invites (org_id, created_at desc);

create table sessions (
    id text primary key,
    data jsonb not null,
    expiry_date timestamptz not null
);
create index sessions_expiry_idx on sessions (expiry_date);

create table login_failures (
    id bigint generated always as identity primary key,
    email text not null,
    client_ip text not null,
    failed_at timestamptz not null default now()
);
create index login_failures_email_idx on login_failures (email, failed_at);
create index login_failures_ip_idx on login_failures (client_ip, failed_at);
