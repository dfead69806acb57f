package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/dynago/dynago/node/api"
)

// The admin calls below talk to the first node given to New, and only to
// it: they are about that node (join, leave), or show its view of the
// cluster. Use a Client per node to ask others. Each returns the decoded
// answer and the Response it came in (its Body is the node's JSON as
// sent).

// Health returns GET /health. A node that is starting, or refuses writes
// after a storage failure, answers an *Error matching ErrUnavailable.
func (c *Client) Health(ctx context.Context) (*api.Health, *Response, error) {
	var h api.Health
	r, err := c.getJSON(ctx, api.PathHealth, nil, &h)
	if err != nil {
		return nil, nil, err
	}
	return &h, r, nil
}

// Members returns GET /cluster/members: the nodes in the ring as the node
// sees them.
func (c *Client) Members(ctx context.Context) ([]api.Member, *Response, error) {
	var ms []api.Member
	r, err := c.getJSON(ctx, api.PathMembers, nil, &ms)
	if err != nil {
		return nil, nil, err
	}
	return ms, r, nil
}

// Ring returns GET /cluster/ring.
func (c *Client) Ring(ctx context.Context) (*api.Ring, *Response, error) {
	var rg api.Ring
	r, err := c.getJSON(ctx, api.PathRing, nil, &rg)
	if err != nil {
		return nil, nil, err
	}
	return &rg, r, nil
}

// Join asks the node to join the cluster that seeds (gossip host:port
// addresses) belong to: POST /cluster/join.
func (c *Client) Join(ctx context.Context, seeds []string) (*api.JoinResult, *Response, error) {
	var j api.JoinResult
	r, err := c.postJSON(ctx, api.PathJoin, api.JoinRequest{Seeds: seeds}, &j)
	if err != nil {
		return nil, r, err
	}
	return &j, r, nil
}

// Leave asks the node to hand off its data and leave: POST /cluster/leave.
// The node answers 202 at once, also when it is already leaving (the
// leave resumes), and 409 (code not_member) when it is not in the ring.
// Follow the handoff with Transfers.
func (c *Client) Leave(ctx context.Context) (*api.LeaveResult, *Response, error) {
	var l api.LeaveResult
	r, err := c.postJSON(ctx, api.PathLeave, nil, &l)
	if err != nil {
		return nil, r, err
	}
	return &l, r, nil
}

// Remove force-removes a dead node from the ring: POST /cluster/remove.
func (c *Client) Remove(ctx context.Context, node string) (*api.RemoveResult, *Response, error) {
	var rm api.RemoveResult
	r, err := c.postJSON(ctx, api.PathRemove, api.RemoveRequest{Node: node}, &rm)
	if err != nil {
		return nil, r, err
	}
	return &rm, r, nil
}

// Plan returns GET /cluster/plan for ch: ?join=NODE[&zone=ZONE],
// ?leave=NODE or ?remove=NODE; for Op api.PlanPending no query: the
// pending changes together. Nothing changes on the cluster. The node
// answers 400 (code bad_plan) for a malformed change, 404 (unknown_node)
// for a leave or remove of a node not in the ring and 409 (already_member)
// for a join of one that is.
func (c *Client) Plan(ctx context.Context, ch api.PlanChange) (*api.Plan, *Response, error) {
	q := url.Values{}
	if ch.Op != api.PlanPending {
		q.Set(ch.Op, ch.Node)
	}
	if ch.Op == api.PlanJoin && ch.Zone != "" {
		q.Set(api.ParamZone, ch.Zone)
	}
	var p api.Plan
	r, err := c.getJSON(ctx, api.PathPlan, q, &p)
	if err != nil {
		return nil, nil, err
	}
	return &p, r, nil
}

// Stage turns staging on (POST /cluster/stage): joins, leaves and removes
// made from now on are placed only at the next Commit.
func (c *Client) Stage(ctx context.Context) (*api.Staging, *Response, error) {
	return c.staging(ctx, api.PathStage)
}

// Commit turns staging off (POST /cluster/commit): the pending changes are
// placed together.
func (c *Client) Commit(ctx context.Context) (*api.Staging, *Response, error) {
	return c.staging(ctx, api.PathCommit)
}

func (c *Client) staging(ctx context.Context, path string) (*api.Staging, *Response, error) {
	var s api.Staging
	r, err := c.postJSON(ctx, path, struct{}{}, &s)
	if err != nil {
		return nil, r, err
	}
	return &s, r, nil
}

// Hints returns GET /debug/hints: the hints the node holds, per target.
func (c *Client) Hints(ctx context.Context) (*api.Hints, *Response, error) {
	var h api.Hints
	r, err := c.getJSON(ctx, api.PathHints, nil, &h)
	if err != nil {
		return nil, nil, err
	}
	return &h, r, nil
}

// AAE returns GET /debug/aae: the node's anti-entropy totals and, per
// partition it holds a tree for, the last exchange with each peer.
func (c *Client) AAE(ctx context.Context) (*api.AAE, *Response, error) {
	var a api.AAE
	r, err := c.getJSON(ctx, api.PathAAE, nil, &a)
	if err != nil {
		return nil, nil, err
	}
	return &a, r, nil
}

// Transfers returns GET /debug/transfers: the partitions the node pulls
// and, while it leaves, its handoff progress.
func (c *Client) Transfers(ctx context.Context) (*api.Transfers, *Response, error) {
	var t api.Transfers
	r, err := c.getJSON(ctx, api.PathTransfers, nil, &t)
	if err != nil {
		return nil, nil, err
	}
	return &t, r, nil
}

// Merkle returns GET /debug/merkle: the root hash of every partition the
// node holds or has keys of.
func (c *Client) Merkle(ctx context.Context) (*api.Merkle, *Response, error) {
	var m api.Merkle
	r, err := c.getJSON(ctx, api.PathMerkle, nil, &m)
	if err != nil {
		return nil, nil, err
	}
	return &m, r, nil
}

// MerkleTree returns GET /debug/merkle?partition=P: one partition's tree.
func (c *Client) MerkleTree(ctx context.Context, partition int) (*api.MerkleTree, *Response, error) {
	var m api.MerkleTree
	q := url.Values{api.ParamPartition: {strconv.Itoa(partition)}}
	r, err := c.getJSON(ctx, api.PathMerkle, q, &m)
	if err != nil {
		return nil, nil, err
	}
	return &m, r, nil
}

// Replica returns GET /debug/replica/{key}: the versions of key the node
// stores itself, without coordination.
func (c *Client) Replica(ctx context.Context, key string) (*api.Replica, *Response, error) {
	if err := checkKey(key); err != nil {
		return nil, nil, err
	}
	var rep api.Replica
	r, err := c.getJSON(ctx, api.PathReplica+url.PathEscape(key), nil, &rep)
	if err != nil {
		return nil, nil, err
	}
	return &rep, r, nil
}

// Preflist returns GET /debug/preflist/{key}: the key's partition, its
// primaries and the fallbacks that would stand in for the down ones.
func (c *Client) Preflist(ctx context.Context, key string) (*api.KeyPreflist, *Response, error) {
	if err := checkKey(key); err != nil {
		return nil, nil, err
	}
	var p api.KeyPreflist
	r, err := c.getJSON(ctx, api.PathPreflist+url.PathEscape(key), nil, &p)
	if err != nil {
		return nil, nil, err
	}
	return &p, r, nil
}
