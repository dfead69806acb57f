//go:build race

package sim

// raceEnabled: the race detector slows a run about tenfold, so the default
// seed count drops (the -race step checks the harness and node for data
// races; the seed sweep runs without it).
const raceEnabled = true
