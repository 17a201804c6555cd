package db_test

import (
	"testing"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// A conversation opened by a batch's message is decided in its place in
// the batch: a later command of another contact that runs the same team's
// strategy sees the opening's pick, on the fast path as one by one.
func TestBulkOpeningIsDecidedBeforeALaterCommandOfTheSameTeam(t *testing.T) {
	runTwoPaths(t, func(f *applyFixture) [][]step {
		yan, xia := who{wa: "31611120001"}, who{wa: "31611120002"}
		return [][]step{
			{fixed(f.message(yan, "wamid.Y1", "first"))},
			{
				fixed(f.message(xia, "wamid.X1", "opens")), fixed(f.message(xia, "wamid.X2", "burst")),
				cmd("cmd_team", "wamid.Y1", func(s *twoPathSide) event.Payload {
					var team int64
					if err := s.f.conn.Get(&team, `SELECT id FROM teams`); err != nil {
						s.f.t.Fatal(err)
					}
					return event.AssignCommand{ConversationID: s.f.conversationOf("wamid.Y1"), TeamID: &team, Mode: assigner.ModeReplace,
						By: assigner.Actor{AgentID: s.ana, Admin: true}}
				}),
			},
		}
	})
}

// A burst that opens a conversation for an agent who is away: the
// burst's later messages, written after the opening's assignment, start
// the away rule on the fast path as one by one.
func TestBulkBurstAfterAnOpeningSeesItsAssignee(t *testing.T) {
	runTwoPaths(t, func(f *applyFixture) [][]step {
		xia := who{wa: "31611120002"}
		opens := f.message(xia, "wamid.X1", "opens")
		anyone := func(s *twoPathSide) event.Envelope {
			if _, err := s.f.conn.Exec(`UPDATE teams SET online_only = false`); err != nil {
				s.f.t.Fatal(err)
			}
			return opens
		}
		return [][]step{
			{awayThen("ana", f.message(who{wa: "31611120009"}, "wamid.W1", "other")),
				awayThen("bob", f.message(who{wa: "31611120008"}, "wamid.V1", "another"))},
			{anyone, fixed(f.message(xia, "wamid.X2", "burst"))},
		}
	})
}

// A command that resolves a contact's conversation, then the contact's
// messages in the same batch: they open a new conversation on the fast
// path as one by one, and do not join the resolved one.
func TestBulkMessagesAfterAResolveOpenANewConversation(t *testing.T) {
	runTwoPaths(t, func(f *applyFixture) [][]step {
		xia := who{wa: "31611120002"}
		return [][]step{
			{fixed(f.message(xia, "wamid.X0", "first"))},
			{
				cmd("cmd_resolve", "wamid.X0", func(s *twoPathSide) event.Payload {
					return event.ResolveCommand{ConversationID: s.f.conversationOf("wamid.X0"), By: assigner.Actor{AgentID: s.ana}}
				}),
				fixed(f.message(xia, "wamid.X1", "after the resolve")), fixed(f.message(xia, "wamid.X2", "burst")),
			},
		}
	})
}
