// Package sim is dynago's deterministic cluster simulator (issue 11): whole
// clusters in one process under testing/synctest, on node/memnet and
// storage/memory, with seeded schedules of faults, a client workload and
// the fault suite's checkers.
package sim
