-- Two review fixes of the console's plumbing (issue 13).
--
-- 1. A heartbeat is not news. Migration 013 announced every update of an
-- agent on wagw_changes, so each open console's heartbeat (one a minute
-- per agent) made every console read the directory again. An update that
-- changes only the last-seen columns (heartbeat_at, updated_at) now
-- announces nothing; any other change (presence, lapsed_at, open_count,
-- capacity, name, a column added later, …) still does. The comparison
-- reads whole rows as JSON, so a column added later counts as news.
CREATE FUNCTION wagw_notify_agents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wagw_changes', 'a:' || id) FROM (
        SELECT DISTINCT n.id FROM changed n JOIN previous o ON o.id = n.id
        WHERE to_jsonb(n) - 'heartbeat_at' - 'updated_at' IS DISTINCT FROM to_jsonb(o) - 'heartbeat_at' - 'updated_at'
    ) x;
    RETURN NULL;
END $$;

DROP TRIGGER agents_updated ON agents;
CREATE TRIGGER agents_updated AFTER UPDATE ON agents
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_agents();

-- 2. What a command result is about and who issued it, so that
-- GET /v1/commands/{id} shows it only to its issuer and to callers who may
-- see that conversation (or, for a command about a contact, that
-- contact). Results stored before have none of these and are shown only
-- to callers who see everything; retention prunes them.
ALTER TABLE command_results
    ADD COLUMN conversation_id bigint,
    ADD COLUMN contact_id bigint,
    ADD COLUMN issued_by bigint;
