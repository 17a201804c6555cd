-- Live changes for the console (issue 13): every committed change to a
-- conversation, its messages, its assignees, a contact's owners or an
-- agent's presence and open count is announced on the channel
-- wagw_changes as "<kind>:<id>". Postgres delivers notifications only on
-- commit and drops identical payloads within one transaction, so a batch
-- that touches a conversation many times announces it once.
--   c:<conversation id>   the conversation or its assignees changed
--   m:<conversation id>   a message of it was stored or changed status
--   k:<contact id>        the contact's owners changed
--   a:<agent id>          the agent's presence, heartbeat or open count changed
CREATE FUNCTION wagw_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    payload text;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    CASE TG_TABLE_NAME
        WHEN 'conversations' THEN payload := 'c:' || r.id;
        WHEN 'conversation_assignees' THEN payload := 'c:' || r.conversation_id;
        WHEN 'messages' THEN
            IF r.conversation_id IS NULL THEN RETURN NULL; END IF;
            payload := 'm:' || r.conversation_id;
        WHEN 'contact_owners' THEN payload := 'k:' || r.contact_id;
        WHEN 'agents' THEN payload := 'a:' || r.id;
    END CASE;
    PERFORM pg_notify('wagw_changes', payload);
    RETURN NULL;
END $$;

CREATE TRIGGER conversations_notify AFTER INSERT OR UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION wagw_notify_change();
CREATE TRIGGER conversation_assignees_notify AFTER INSERT OR UPDATE OR DELETE ON conversation_assignees
    FOR EACH ROW EXECUTE FUNCTION wagw_notify_change();
CREATE TRIGGER messages_notify AFTER INSERT OR UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION wagw_notify_change();
CREATE TRIGGER contact_owners_notify AFTER INSERT OR UPDATE OR DELETE ON contact_owners
    FOR EACH ROW EXECUTE FUNCTION wagw_notify_change();
CREATE TRIGGER agents_notify AFTER INSERT OR UPDATE OF presence, heartbeat_at, open_count, active, capacity, name ON agents
    FOR EACH ROW EXECUTE FUNCTION wagw_notify_change();
