-- Live changes for the console (issue 13): every committed change to a
-- conversation, its messages, its assignees, a contact's owners or an
-- agent's presence and open count is announced on the channel
-- wagw_changes as "<kind>:<id>". Postgres delivers notifications only on
-- commit and drops identical payloads within one transaction, so a batch
-- that touches a conversation many times announces it once.
--   c:<conversation id>   the conversation or its assignees changed
--   m:<conversation id>   a message of it was stored or changed status
--   k:<contact id>        the contact's owners changed
--   a:<agent id>          the agent changed (presence, heartbeat, open count, …)
-- The triggers run once per statement over its transition table (the
-- rows it changed), not once per row: the apply engine writes a batch in
-- a few multi-row statements.
CREATE FUNCTION wagw_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE TG_TABLE_NAME
        WHEN 'conversations' THEN
            PERFORM pg_notify('wagw_changes', 'c:' || id) FROM (SELECT DISTINCT id FROM changed) x;
        WHEN 'conversation_assignees' THEN
            PERFORM pg_notify('wagw_changes', 'c:' || conversation_id) FROM (SELECT DISTINCT conversation_id FROM changed) x;
        WHEN 'messages' THEN
            PERFORM pg_notify('wagw_changes', 'm:' || conversation_id)
                FROM (SELECT DISTINCT conversation_id FROM changed WHERE conversation_id IS NOT NULL) x;
        WHEN 'contact_owners' THEN
            PERFORM pg_notify('wagw_changes', 'k:' || contact_id) FROM (SELECT DISTINCT contact_id FROM changed) x;
        WHEN 'agents' THEN
            PERFORM pg_notify('wagw_changes', 'a:' || id) FROM (SELECT DISTINCT id FROM changed) x;
    END CASE;
    RETURN NULL;
END $$;

-- A trigger with a transition table takes one event: one trigger each.
CREATE TRIGGER conversations_inserted AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER conversations_updated AFTER UPDATE ON conversations
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER conversation_assignees_inserted AFTER INSERT ON conversation_assignees
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER conversation_assignees_updated AFTER UPDATE ON conversation_assignees
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER conversation_assignees_deleted AFTER DELETE ON conversation_assignees
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER messages_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER messages_updated AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER contact_owners_inserted AFTER INSERT ON contact_owners
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER contact_owners_deleted AFTER DELETE ON contact_owners
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
CREATE TRIGGER agents_updated AFTER UPDATE ON agents
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wagw_notify_changes();
