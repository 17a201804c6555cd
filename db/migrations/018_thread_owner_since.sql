-- Conversation Routing (issue 12 rule 7): when the contact's thread owner
-- last changed, in Meta's time. An owner inferred from traffic (a standby
-- message or echo says another responder owns the thread; a message on
-- the messages field says wagw does) is taken only from traffic newer
-- than the change that set the current owner, so a late standby echo
-- cannot undo a newer handover. Explicit handovers and accepted takes
-- apply in partition order as before.
ALTER TABLE contacts ADD COLUMN thread_owner_at timestamptz;
