-- Domains an org dismissed from its suggested customers (the unmatched review).
create table customer_suggestion_dismissals (
    org_id uuid not null references orgs on delete cascade,
    domain text not null,
    dismissed_by uuid references users on delete set null,
    dismissed_at timestamptz not null default now(),
    primary key (org_id, domain)
);
