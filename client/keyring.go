package client

import (
	"context"

	"github.com/dynago/dynago/node/api"
)

// Keyring returns GET /cluster/keyring: the gossip encryption keys of the
// node and of every live member. The node answers 409 (code
// encryption_off) when gossip is not encrypted.
func (c *Client) Keyring(ctx context.Context) (*api.Keyring, *Response, error) {
	var kr api.Keyring
	r, err := c.getJSON(ctx, api.PathKeyring, nil, &kr)
	if err != nil {
		return nil, r, err
	}
	return &kr, r, nil
}

// ChangeKeyring runs op (api.KeyringInstall, KeyringUse or KeyringRemove)
// with the base64 key on the node and every live member: POST
// /cluster/keyring. The node answers 400 for a bad key or operation and
// 409 for a refused change (codes encryption_off, key_not_installed,
// primary_key); a change applied on some members and not others answers
// 200 with each member's row (api.KeyringNode.Error).
func (c *Client) ChangeKeyring(ctx context.Context, op, key string) (*api.Keyring, *Response, error) {
	var kr api.Keyring
	r, err := c.postJSON(ctx, api.PathKeyring, api.KeyringRequest{Op: op, Key: key}, &kr)
	if err != nil {
		return nil, r, err
	}
	return &kr, r, nil
}
