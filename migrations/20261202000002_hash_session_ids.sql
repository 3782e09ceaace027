-- Sessions are stored under the SHA-256 of their id (hex), so a copy of this table cannot be used
-- to sign in, and carry their creation time for an absolute lifetime on top of the idle one.
update sessions set id = encode(sha256(convert_to(id, 'UTF8')), 'hex');
alter table sessions add column created_at timestamptz not null default now();
