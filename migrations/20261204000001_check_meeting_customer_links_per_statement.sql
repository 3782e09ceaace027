-- A meeting's links to customers are written thousands at a time by re-matching. As row-level
-- foreign keys they ran two trigger queries per link, about three quarters of a re-match's write
-- (./scripts/bench customers). These statement-level triggers give the same guarantees, checked
-- once per statement over all its rows: when a link commits, its meeting and customer exist (they
-- are key-share locked, as a foreign key locks them, so neither can be deleted until then), and
-- deleting a meeting or a customer deletes its links. Ids of meetings and customers never change.

alter table meeting_customers
    drop constraint meeting_customers_org_id_meeting_id_fkey,
    drop constraint meeting_customers_org_id_customer_id_fkey;

create function meeting_customers_check_references() returns trigger
language plpgsql as $$
declare
    named bigint;
    locked bigint;
begin
    -- A row deleted meanwhile is not locked (nor one that never existed), so fewer rows locked
    -- than named means one is missing.
    select count(*) into named from (select distinct org_id, meeting_id from new_links) n;
    select count(*) into locked from (
        select 1 from meetings m
         where (m.org_id, m.id) in (select n.org_id, n.meeting_id from new_links n)
           for key share of m) l;
    if locked < named then
        raise foreign_key_violation using
            message = 'a meeting_customers row names a meeting that does not exist',
            table = 'meeting_customers';
    end if;
    select count(*) into named from (select distinct org_id, customer_id from new_links) n;
    select count(*) into locked from (
        select 1 from customers c
         where (c.org_id, c.id) in (select n.org_id, n.customer_id from new_links n)
           for key share of c) l;
    if locked < named then
        raise foreign_key_violation using
            message = 'a meeting_customers row names a customer that does not exist',
            table = 'meeting_customers';
    end if;
    return null;
end $$;

create trigger meeting_customers_check_inserted
    after insert on meeting_customers referencing new table as new_links
    for each statement execute function meeting_customers_check_references();
create trigger meeting_customers_check_rekeyed
    after update on meeting_customers
    referencing new table as new_links
    for each statement execute function meeting_customers_check_references();

create function meetings_delete_customer_links() returns trigger
language plpgsql as $$
begin
    delete from meeting_customers mc using gone g
     where mc.org_id = g.org_id and mc.meeting_id = g.id;
    return null;
end $$;

create trigger meetings_delete_customer_links
    after delete on meetings referencing old table as gone
    for each statement execute function meetings_delete_customer_links();

create function customers_delete_meeting_links() returns trigger
language plpgsql as $$
begin
    delete from meeting_customers mc using gone g
     where mc.org_id = g.org_id and mc.customer_id = g.id;
    return null;
end $$;

create trigger customers_delete_meeting_links
    after delete on customers referencing old table as gone
    for each statement execute function customers_delete_meeting_links();
