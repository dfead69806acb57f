package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/wire"
)

// Gossip encryption keys (Config.GossipKey, Config.GossipKeyringFile) and
// their rotation across a running cluster, like Consul's `consul keyring`:
// install a new key everywhere (every node decrypts with it), use it
// (every node encrypts with it), remove the old one. memberlist's keyring
// holds the keys; this file loads and saves them, and applies a change to
// this node (applyKeyring) and, through the admin route, to every live
// member over internode RPC (wire.MethodKeyring; http_keyring.go).

// ErrGossipKeyring is wrapped by every refused keyring change (a bad key,
// encryption off, using a key not installed, removing the primary).
var ErrGossipKeyring = errors.New("node: gossip keyring")

// checkGossipKey reports whether k can be an AES-GCM gossip key.
func checkGossipKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: a key is 16, 24 or 32 bytes (AES-128, -192, -256), not %d", ErrGossipKeyring, len(k))
}

// ParseGossipKey decodes a base64 gossip key (standard encoding, as
// `dynago keyring generate` prints it) and checks its length.
func ParseGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: a key is base64: %v", ErrGossipKeyring, err)
	}
	return k, checkGossipKey(k)
}

// gossipKeys returns the keys gossip starts with, the primary first: the
// keyring file's if it exists and holds any (GossipKey is then ignored,
// as Consul ignores -encrypt), else GossipKey alone (then saved to the
// file, if one is configured).
func gossipKeys(cfg Config, log *slog.Logger) ([][]byte, error) {
	var keys [][]byte
	if cfg.GossipKeyringFile != "" {
		b, err := os.ReadFile(cfg.GossipKeyringFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("node: gossip keyring file: %w", err)
		default:
			if keys, err = decodeKeyring(b); err != nil {
				return nil, fmt.Errorf("node: gossip keyring file %s: %w", cfg.GossipKeyringFile, err)
			}
		}
	}
	if len(keys) > 0 {
		// The file is the rotations' record: a key removed since must not
		// come back from the flag the node was first started with.
		if len(cfg.GossipKey) > 0 && !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, cfg.GossipKey) }) {
			log.Warn("the gossip key given is not in the keyring file, which wins (a rotation replaced it)", "file", cfg.GossipKeyringFile)
		}
		return keys, nil
	}
	if len(cfg.GossipKey) > 0 {
		keys = [][]byte{cfg.GossipKey}
	}
	if len(keys) > 0 && cfg.GossipKeyringFile != "" {
		if err := saveKeyring(cfg.GossipKeyringFile, keys); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// decodeKeyring decodes a keyring file: a JSON array of base64 keys, the
// primary first (Consul's keyring file format).
func decodeKeyring(b []byte) ([][]byte, error) {
	var enc []string
	if err := json.Unmarshal(b, &enc); err != nil {
		return nil, fmt.Errorf("%w: want a JSON array of base64 keys: %v", ErrGossipKeyring, err)
	}
	keys := make([][]byte, 0, len(enc))
	for _, s := range enc {
		k, err := ParseGossipKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func encodeKeys(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = base64.StdEncoding.EncodeToString(k)
	}
	return out
}

// saveKeyring writes keys to path, mode 0600, replacing it atomically.
func saveKeyring(path string, keys [][]byte) error {
	b, err := json.Marshal(encodeKeys(keys))
	if err != nil {
		panic("node: marshal: " + err.Error())
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("node: save gossip keyring: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("node: save gossip keyring: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("node: save gossip keyring: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("node: save gossip keyring: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("node: save gossip keyring: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("node: save gossip keyring: %w", err)
	}
	return nil
}

// Refused keyring changes, each wrapping ErrGossipKeyring.
var (
	ErrGossipEncryptionOff = fmt.Errorf("%w: gossip encryption is off (start the node with a gossip key)", ErrGossipKeyring)
	ErrKeyNotInstalled     = fmt.Errorf("%w: the key is not installed", ErrGossipKeyring)
	ErrPrimaryKey          = fmt.Errorf("%w: the primary key can't be removed (use another key first)", ErrGossipKeyring)
)

// gossipKeyring applies keyring operations to this node: memberlist's
// keyring, then the keyring file. mu orders the changes, so the file
// always holds the keyring of the last one.
type gossipKeyring struct {
	mu   sync.Mutex
	g    *gossip.Member
	file string
}

// apply runs req on this node's keyring and returns its keys after it,
// the primary first. Safe for concurrent use.
func (k *gossipKeyring) apply(req wire.KeyringRequest) ([][]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kr := k.g.Keyring()
	if kr == nil {
		return nil, ErrGossipEncryptionOff
	}
	if req.Op != wire.KeyringList {
		if err := checkGossipKey(req.Key); err != nil {
			return nil, err
		}
	}
	has := slices.ContainsFunc(kr.GetKeys(), func(x []byte) bool { return bytes.Equal(x, req.Key) })
	var err error
	switch req.Op {
	case wire.KeyringList:
		return kr.GetKeys(), nil
	case wire.KeyringInstall:
		err = kr.AddKey(req.Key)
	case wire.KeyringUse:
		if !has {
			return nil, ErrKeyNotInstalled
		}
		err = kr.UseKey(req.Key)
	case wire.KeyringRemove:
		if bytes.Equal(kr.GetPrimaryKey(), req.Key) {
			return nil, ErrPrimaryKey
		}
		err = kr.RemoveKey(req.Key)
	default:
		return nil, fmt.Errorf("%w: unknown operation %d", ErrGossipKeyring, req.Op)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGossipKeyring, err)
	}
	keys := kr.GetKeys()
	if k.file != "" {
		if err := saveKeyring(k.file, keys); err != nil {
			return keys, err
		}
	}
	return keys, nil
}
