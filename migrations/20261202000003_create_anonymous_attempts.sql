-- Anonymous actions that cost Debrief real work (sign-up and invite sign-up hash a password),
-- counted per client address so every web process applies the same limit.
create table anonymous_attempts (
    id bigint generated always as identity primary key,
    action text not null,
    client_ip text not null,
    at timestamptz not null default now()
);
create index anonymous_attempts_ip_idx on anonymous_attempts (action, client_ip, at);
