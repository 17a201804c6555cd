-- Auto-resolve, closing message and sticky assignee (issue 12, rule 3).
--
-- A conversation with no message in either direction for
-- auto_resolve_after_seconds is resolved: its deadline is an
-- 'auto_resolve' row of conversation_timers, moved by every message. The
-- kind list is the full one of issue 12 (the SLA migration writes the same
-- list, so either order of the two ends the same).
ALTER TABLE conversation_timers DROP CONSTRAINT IF EXISTS conversation_timers_kind_check;
ALTER TABLE conversation_timers ADD CONSTRAINT conversation_timers_kind_check
    CHECK (kind IN ('no_reply', 'away', 'snooze', 'auto_resolve', 'sla'));

-- Inbox settings, all off while NULL (closing_message: empty is none).
ALTER TABLE inboxes
    ADD COLUMN auto_resolve_after_seconds int CHECK (auto_resolve_after_seconds IS NULL OR auto_resolve_after_seconds > 0),
    ADD COLUMN closing_message text NOT NULL DEFAULT '',
    ADD COLUMN sticky_days int CHECK (sticky_days IS NULL OR sticky_days > 0);

-- The closing message goes through the outbox like the welcome message,
-- at most once per conversation.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('welcome', 'reply', 'read', 'take', 'closing'));
CREATE UNIQUE INDEX outbox_one_closing ON outbox (conversation_id) WHERE kind = 'closing';

-- Sticky: a contact's latest resolved conversation on an inbox.
CREATE INDEX conversations_resolved ON conversations (contact_id, inbox, resolved_at DESC) WHERE status = 'resolved';
