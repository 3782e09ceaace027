-- Customers (companies) with their domains and contacts, the links of meetings to customers that
-- matching made, the decisions people made about those links, and each org's matching settings.

create table customers (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    name text not null check (length(name) between 1 and 200),
    source text not null check (source in ('manual', 'csv', 'hubspot', 'salesforce')),
    -- The CRM's id of this company, for customers a CRM supplied.
    external_id text,
    notes text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint customers_org_id_id_key unique (org_id, id)
);
create index customers_org_name_idx on customers (org_id, lower(name), id);

-- A domain belongs to at most one customer of an org; stored lower-case, without `www.`.
create table customer_domains (
    org_id uuid not null,
    domain text not null check (domain = lower(domain) and domain !~ '^www\.' and length(domain) between 3 and 253),
    customer_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (org_id, domain),
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade
);
create index customer_domains_customer_idx on customer_domains (org_id, customer_id);

create table contacts (
    id uuid primary key,
    org_id uuid not null,
    customer_id uuid not null,
    -- Trimmed and lower-cased; unique per org.
    email text not null check (email = lower(btrim(email)) and length(email) between 3 and 320),
    name text,
    title text,
    source text not null check (source in ('manual', 'csv', 'hubspot', 'salesforce')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint contacts_org_id_email_key unique (org_id, email),
    constraint contacts_org_id_id_key unique (org_id, id),
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade
);
create index contacts_customer_idx on contacts (org_id, customer_id, lower(coalesce(name, email)), id);

-- Which customers a meeting is with, and why: `contact` (an attendee's email is a contact's),
-- `domain` (an attendee's email domain, or a parent of it, is the customer's) or `manual`.
create table meeting_customers (
    org_id uuid not null,
    meeting_id uuid not null,
    customer_id uuid not null,
    reason text not null check (reason in ('contact', 'domain', 'manual')),
    -- The attendees' emails that caused an automatic link.
    matched_emails text[] not null default '{}',
    linked_at timestamptz not null default now(),
    primary key (org_id, meeting_id, customer_id),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade,
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade
);
create index meeting_customers_customer_idx on meeting_customers (org_id, customer_id, meeting_id);

-- A person's decision about one meeting and one customer; every later match respects it.
create table meeting_customer_decisions (
    org_id uuid not null,
    meeting_id uuid not null,
    customer_id uuid not null,
    decision text not null check (decision in ('link', 'unlink')),
    decided_by uuid references users on delete set null,
    decided_at timestamptz not null default now(),
    primary key (org_id, meeting_id, customer_id),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade,
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade
);

-- Each org's matching settings; no row means the defaults (internal domains taken from members'
-- and connected Fathom users' addresses, the shipped free-mail list as it is).
create table org_matching_settings (
    org_id uuid primary key references orgs on delete cascade,
    internal_domains text[] not null default '{}',
    free_mail_added text[] not null default '{}',
    free_mail_removed text[] not null default '{}',
    updated_at timestamptz not null default now()
);

-- An org's pending re-match: one row however many edits asked for it, taken by the RematchOrg job.
create table org_rematch_requests (
    org_id uuid primary key references orgs on delete cascade,
    requested_at timestamptz not null default now()
);
