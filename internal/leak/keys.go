package leak

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultGitHubKeysURL is where GitHub publishes the public keys that sign
// its secret scanning alerts.
const DefaultGitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// KeyRefetch is the least time between two fetches of the keys: an
// unknown key identifier fetches them again, at most this often.
const KeyRefetch = time.Minute

// KeyMaxAge is how long fetched keys are trusted before they are fetched
// again.
const KeyMaxAge = 24 * time.Hour

const maxKeysBytes = 1 << 20

// ErrUnknownKey is returned for a key identifier the published keys do
// not hold.
var ErrUnknownKey = errors.New("leak: unknown public key identifier")

// Keys are GitHub's secret scanning public keys, fetched from URL and kept
// in memory; an identifier they do not hold fetches them again, at most
// once per KeyRefetch.
type Keys struct {
	URL    string       // default DefaultGitHubKeysURL
	Client *http.Client // default: a client with a 10-second timeout
	Now    func() time.Time

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	loaded  time.Time // when keys were fetched
	fetched time.Time // when they were last fetched, successfully or not
	err     error     // why that fetch failed, or nil
}

// publicKeys is the document at the keys URL.
type publicKeys struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"` // PEM, SubjectPublicKeyInfo
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// Key returns the P-256 public key named id. Keys no longer current are
// kept: GitHub may still sign with them while it rotates. Keys are read
// again after KeyMaxAge, so that a key GitHub withdrew stops being
// trusted; while they cannot be read, the keys held go on serving.
func (k *Keys) Key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.Now()
	key, known := k.keys[id]
	if known && now.Sub(k.loaded) < KeyMaxAge {
		return key, nil
	}
	if !k.fetched.IsZero() && now.Sub(k.fetched) < KeyRefetch {
		switch {
		case known:
			return key, nil
		case k.err != nil:
			return nil, k.err
		}
		return nil, ErrUnknownKey
	}
	k.fetched = now
	// Not the request's context: a caller that gives up must not leave
	// the failure for a minute to every other alert.
	keys, err := k.fetch(context.WithoutCancel(ctx))
	if k.err = err; err != nil {
		if known {
			return key, nil
		}
		return nil, err
	}
	k.keys, k.loaded = keys, now
	if key, ok := keys[id]; ok {
		return key, nil
	}
	return nil, ErrUnknownKey
}

func (k *Keys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	url := k.URL
	if url == "" {
		url = DefaultGitHubKeysURL
	}
	client := k.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("leak: fetch keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("leak: fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("leak: fetch keys: %s answered %s", url, resp.Status)
	}
	var doc publicKeys
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeysBytes)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("leak: fetch keys: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, pk := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(pk.Key))
		if block == nil || pk.KeyIdentifier == "" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		if ec, ok := pub.(*ecdsa.PublicKey); ok && ec.Curve == elliptic.P256() {
			keys[pk.KeyIdentifier] = ec
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("leak: fetch keys: %s holds no ECDSA P-256 key", url)
	}
	return keys, nil
}
