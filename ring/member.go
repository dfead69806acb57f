package ring

import (
	"fmt"
)

// NodeID names a member of the ring. It is the node's stable name (the
// agent's --name), not an address, so a node keeps its partitions when it
// changes address.
type NodeID string

// State is a member's place in the membership life cycle. Placement does not
// read it: a Ring is the target placement for its member set, and node uses
// State to decide when data moves (a joining member receives its partitions;
// a leaving member hands them off and is then removed with Without).
type State uint8

// Member states. The zero State is MemberJoining, the state a new member
// starts in.
const (
	MemberJoining State = iota // in the ring, still receiving its data
	MemberValid                // in the ring and serving
	MemberLeaving              // in the ring, handing its data off
)

var stateNames = [...]string{
	MemberJoining: "joining",
	MemberValid:   "valid",
	MemberLeaving: "leaving",
}

// String returns "joining", "valid" or "leaving", or "State(n)" for a value
// outside the enum.
func (s State) String() string {
	if s.valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

func (s State) valid() bool { return int(s) < len(stateNames) }

// ParseState is the inverse of State.String. It returns ErrUnknownState for
// any other string.
func ParseState(s string) (State, error) {
	for i, name := range stateNames {
		if s == name {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownState, s)
}

// Member is one node of the ring as the ring sees it.
type Member struct {
	ID NodeID
	// Zone is the failure domain (rack, availability zone). Preference lists
	// span distinct zones first. An empty Zone is a zone of its own, so a
	// cluster without zones has no zone constraint.
	Zone  string
	State State
}

func (m Member) validate() error {
	if m.ID == "" {
		return ErrEmptyID
	}
	if !m.State.valid() {
		return fmt.Errorf("%w: member %q has %v", ErrUnknownState, m.ID, m.State)
	}
	return nil
}
