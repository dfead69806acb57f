package node

import (
	"context"
	"fmt"

	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/security"
)

// serveRPC is the internode request handler. Checked methods (view.go)
// run only when the caller has this node's table.
func (n *Node) serveRPC(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	if wire.Checked(method) {
		return n.net.serveChecked(ctx, method, payload, n.serveMethod)
	}
	return n.serveMethod(ctx, method, payload)
}

func (n *Node) serveMethod(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	switch method {
	case wire.MethodRead:
		req, err := wire.UnmarshalRead(payload)
		if err != nil {
			return nil, err
		}
		if len(req.Key) == 0 || len(req.Key) > n.cfg.MaxKeyBytes {
			return nil, fmt.Errorf("node: bad key length %d", len(req.Key))
		}
		st, err := n.coord.readAs(ctx, req.Key, req.Owner)
		if err != nil {
			return nil, err
		}
		return st.MarshalBinary()
	case wire.MethodApply:
		req, err := wire.UnmarshalApply(payload)
		if err != nil {
			return nil, err
		}
		if len(req.Key) == 0 || len(req.Key) > n.cfg.MaxKeyBytes {
			return nil, fmt.Errorf("node: bad key length %d", len(req.Key))
		}
		if err := n.coord.applyAs(ctx, req.Key, req.State, req.Owner); refusedForSpace(err) {
			// A refusal the coordinator reports (507), not an error text.
			n.metrics.diskRefused.Inc()
			return []byte{wire.ApplyNoSpace}, nil
		} else if err != nil {
			return nil, err
		}
		if n.coord.countsAsAck(req.Key, req.Owner) {
			return []byte{wire.ApplyCounted}, nil
		}
		return []byte{wire.ApplyStored}, nil
	case wire.MethodHandoff:
		req, err := wire.UnmarshalHandoff(payload)
		if err != nil {
			return nil, err
		}
		if err := checkSender(ctx, req.From); err != nil { // tls.go
			return nil, err
		}
		return nil, n.rep.receiveHandoff(ctx, req)
	case wire.MethodTransfer:
		req, err := wire.UnmarshalTransferRequest(payload)
		if err != nil {
			return nil, err
		}
		return n.transfers.serveTransfer(ctx, req)
	case wire.MethodState:
		if err := n.checkStatePush(ctx, payload); err != nil { // tls.go
			return nil, err
		}
		peer, _ := security.Peer(ctx) // mutual TLS: the caller's certificate names it (rebind.go)
		return nil, n.members.receiveState(payload, peer)
	case wire.MethodKeyring:
		return n.keys.serve(payload)
	case wire.MethodStatus:
		return n.web.nodeStatus(ctx), nil // console.go
	case wire.MethodStatePull:
		return n.members.clusterSnapshot().Marshal(), nil
	case wire.MethodAAERoots, wire.MethodAAEChildren, wire.MethodAAEEntries, wire.MethodAAEFetch:
		return n.ae.serveAAE(ctx, method, payload)
	case wire.MethodCoordinate:
		req, err := wire.UnmarshalWriteRequest(payload)
		if err != nil {
			return nil, err
		}
		if err := n.coord.checkWriteRequest(req); err != nil {
			return nil, err
		}
		out := n.coord.coordinateWrite(ctx, req)
		return out.marshal()
	}
	return nil, fmt.Errorf("node: unknown rpc method %d", method)
}
