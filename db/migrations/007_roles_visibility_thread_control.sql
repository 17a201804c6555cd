-- Roles and visibility (issue 12 item 6): agents may be supervisors, and a
-- team says whether its agents see all of its conversations ("team") or
-- only theirs and the unassigned ones ("assigned").
ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_role_check;
ALTER TABLE agents ADD CONSTRAINT agents_role_check CHECK (role IN ('admin', 'supervisor', 'agent'));

ALTER TABLE teams ADD COLUMN agent_visibility text NOT NULL DEFAULT 'team'
    CHECK (agent_visibility IN ('team', 'assigned'));

-- Conversation Routing (issue 12 item 7): who owns each contact's thread,
-- wagw or another responder sharing the number (with the role Meta names
-- for it). Free-form agent replies are refused while another owns it.
ALTER TABLE contacts
    ADD COLUMN thread_owner text NOT NULL DEFAULT 'wagw' CHECK (thread_owner IN ('wagw', 'other')),
    ADD COLUMN thread_owner_role text NOT NULL DEFAULT '';

-- A take of a contact's thread waits in the outbox like a message; the
-- relay calls the thread control API for it.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('welcome', 'reply', 'read', 'take'));
