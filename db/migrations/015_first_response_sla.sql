-- First-response SLA in business hours (issue 12, rule 4).
--
-- An inbox may promise a first agent reply within
-- first_response_sla_seconds of the contact opening a conversation,
-- counted in its business_hours (the JSON of assigner.Hours; NULL: always
-- open). The deadline is an 'sla' row of conversation_timers, set by the
-- opening decision and deleted by the first agent reply the Cloud API
-- accepts; when it falls due the breach is recorded (sla_breached_at) and
-- nobody is reassigned. The kind list is the full one of issue 12 (the
-- auto-resolve migration writes the same list, so either order of the two
-- ends the same).
ALTER TABLE conversation_timers DROP CONSTRAINT IF EXISTS conversation_timers_kind_check;
ALTER TABLE conversation_timers ADD CONSTRAINT conversation_timers_kind_check
    CHECK (kind IN ('no_reply', 'away', 'snooze', 'auto_resolve', 'sla'));

ALTER TABLE inboxes
    ADD COLUMN first_response_sla_seconds int CHECK (first_response_sla_seconds IS NULL OR first_response_sla_seconds > 0),
    ADD COLUMN business_hours jsonb;

-- first_response_due_at: when the first agent reply was due (kept once
-- met); sla_breached_at: when the breach was recorded.
ALTER TABLE conversations
    ADD COLUMN first_response_due_at timestamptz,
    ADD COLUMN sla_breached_at timestamptz;
