// Package loadtest owns the traffic generator and replayer, the capture
// format, the end-to-end verifier and the reports of `wagw loadtest`.
//
// The generator writes realistic webhook traffic (skewed contacts, the
// message-type mix of real inboxes, bursts, batches, late statuses and
// redeliveries) from a seed; the replayer reads capture files, the JSONL
// format the gateway's capture setting writes too, paced like the original.
// Run sends either to a target and measures it, over fasthttp's client
// (sender.go: cheap, since it shares the machine with what it measures;
// one attempt a request; no more connections than the process may open
// files), naming the requests that got no answer by class (failures.go);
// the verifier then checks
// what the target stored (through a Store: the database's read-only
// Audit, or the API): nothing lost, duplicated or reordered. The Cloud
// API the target sends to is package simulator.
//
// Setup (setup.go) prepares a target for an end-to-end run through its
// admin API (agents, a team, the inboxes' settings); BenchTable (bench.go)
// lays out the reports of the benchmark runs, scenario by scenario, with
// their targets (scenario 3 from rounds of two runs, judged by the median
// ratio).
package loadtest
