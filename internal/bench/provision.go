package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// serviceMax is the largest --credentials made one by one through
// credential.Service.Create, exactly as the console, API and CLI make
// them. Beyond it the bulk path makes them with the same functions (client
// ID, secret, SHA-256 digest, name and scope rules) and writes them with
// multi-row INSERTs in one transaction.
const serviceMax = 10_000

// perOrg is how many credentials each bench organisation holds.
const perOrg = 10_000

// provisioned is what provision made.
type provisioned struct {
	orgs  []store.Org
	path  string // "service" or "bulk"
	took  time.Duration
	check func(i int) error // compares the load generator's derivation with credential i
}

// provision creates n credentials in ceil(n/perOrg) new organisations,
// named after run so that reruns on one database do not collide. Credential
// i's random bytes come from kr, so the load generator can rebuild any of
// them.
func provision(ctx context.Context, st *store.SQL, kr *keyring, n int, run string, progress status) (*provisioned, error) {
	start := time.Now()
	now := start.UTC().Truncate(time.Microsecond)
	if err := scope.EnsureBuiltin(ctx, st, now); err != nil {
		return nil, fmt.Errorf("bench: provision: %w", err)
	}
	p := &provisioned{}
	for i := 0; i*perOrg < n; i++ {
		o, err := org.Create(ctx, st, access.CLI, fmt.Sprintf("bench %s %03d", run, i), now)
		if err != nil {
			return nil, fmt.Errorf("bench: provision: %w", err)
		}
		p.orgs = append(p.orgs, o)
	}
	svc := &credential.Service{Store: st, Now: time.Now}
	name := func(i int) string { return fmt.Sprintf("bench-%07d", i) }
	p.check = func(i int) error {
		id, secret, err := kr.credential(i)
		if err != nil {
			return err
		}
		got, err := st.GetCredential(ctx, id)
		if err != nil {
			return fmt.Errorf("bench: credential %d (%s) is not in the store: %w", i, id, err)
		}
		if !credential.HashSecret(secret).Equal(mustHash(got.SecretHash)) {
			return fmt.Errorf("bench: credential %d: derived secret does not match the stored digest", i)
		}
		return nil
	}
	if n <= serviceMax {
		p.path = "service"
		for i := range n {
			// Service reads its randomness from Rand: give it credential i's.
			svc.Rand = kr.reader(i)
			if _, err := svc.Create(ctx, access.CLI, credential.CreateRequest{OrgID: p.orgs[i/perOrg].ID, Name: name(i)}); err != nil {
				return nil, fmt.Errorf("bench: provision credential %d: %w", i, err)
			}
			if (i+1)%1000 == 0 || i+1 == n {
				progress.show(i+1 == n, "provisioned %d / %d credentials (service)", i+1, n)
			}
		}
	} else {
		p.path = "bulk"
		if err := bulkProvision(ctx, st, svc, kr, p.orgs, n, name, now, progress); err != nil {
			return nil, err
		}
	}
	progress.clear()
	for _, i := range []int{0, n / 2, n - 1} {
		if err := p.check(i); err != nil {
			return nil, err
		}
	}
	p.took = time.Since(start)
	return p, nil
}

// bulkProvision makes credentials as Service.Create does and writes them
// in batches. Every credential carries the same timestamp, that of the
// start of the import, as one import would.
func bulkProvision(ctx context.Context, st *store.SQL, svc *credential.Service, kr *keyring, orgs []store.Org,
	n int, name func(int) string, now time.Time, progress status) error {
	const batch = 20_000
	scopes := make([][]string, len(orgs))
	for i, o := range orgs {
		g, err := svc.Grantable(ctx, o)
		if err != nil {
			return fmt.Errorf("bench: provision: %w", err)
		}
		scopes[i] = credential.ParseScopes(strings.Join(g, " "))
	}
	type chunk struct {
		creds []store.Credential
		err   error
	}
	// Generating (SHA-256, base32) and inserting overlap: one goroutine
	// makes the next batch while the database writes this one.
	chunks := make(chan chunk, 1)
	go func() {
		defer close(chunks)
		for start := 0; start < n; start += batch {
			cs := make([]store.Credential, 0, min(batch, n-start))
			for i := start; i < min(start+batch, n); i++ {
				id, secret, err := kr.credential(i)
				if err != nil {
					chunks <- chunk{err: err}
					return
				}
				nm, err := credential.NormalizeName(name(i))
				if err != nil {
					chunks <- chunk{err: err}
					return
				}
				cs = append(cs, store.Credential{
					ClientID: id, OrgID: orgs[i/perOrg].ID, Name: nm, SecretHash: credential.HashSecret(secret).String(),
					Scopes: scopes[i/perOrg], CreatedAt: now, CreatedBy: access.CLI.Label, UpdatedAt: now,
				})
			}
			select {
			case chunks <- chunk{creds: cs}:
			case <-ctx.Done():
				return
			}
		}
	}()
	done := 0
	for c := range chunks {
		if c.err != nil {
			return fmt.Errorf("bench: provision: %w", c.err)
		}
		if err := st.CreateCredentials(ctx, c.creds); err != nil {
			return fmt.Errorf("bench: provision: %w", err)
		}
		done += len(c.creds)
		progress.show(done%200_000 == 0 || done == n, "provisioned %d / %d credentials (bulk)", done, n)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// useThisHour writes, through the usage flush's own store call, one token
// issued this hour by each of the n credentials, so that every credential
// has its usage row of the hour before the first request is measured.
func useThisHour(ctx context.Context, st *store.SQL, kr *keyring, orgs []store.Org, n int, progress status) (time.Duration, error) {
	const batch = 50_000
	start := time.Now()
	now := start.UTC().Truncate(time.Microsecond)
	hour := now.Truncate(time.Hour)
	buckets := make([]store.UsageBucket, 0, min(batch, n))
	for lo := 0; lo < n; lo += batch {
		buckets = buckets[:0]
		for i := lo; i < min(lo+batch, n); i++ {
			id, _, err := kr.credential(i)
			if err != nil {
				return 0, fmt.Errorf("bench: usage: %w", err)
			}
			buckets = append(buckets, store.UsageBucket{ClientID: id, OrgID: orgs[i/perOrg].ID, Hour: hour,
				TokensIssued: 1, LastUsedAt: now, LastUsedIP: "127.0.0.1"})
		}
		if err := st.AddUsage(ctx, buckets); err != nil {
			return 0, fmt.Errorf("bench: usage: %w", err)
		}
		progress.show(lo+len(buckets) == n, "used %d / %d credentials this hour", lo+len(buckets), n)
	}
	progress.clear()
	if err := st.FoldUsage(ctx); err != nil { // as after an hour's first minutes
		return 0, fmt.Errorf("bench: usage: %w", err)
	}
	return time.Since(start), nil
}

func mustHash(s string) credential.Hash {
	h, err := credential.ParseHash(s)
	if err != nil {
		return credential.Hash{}
	}
	return h
}

// checkEmpty refuses a database that holds organisations: the bench writes
// thousands of credentials and must not mix them with real ones.
func checkEmpty(ctx context.Context, st *store.SQL) error {
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if len(orgs) > 0 {
		return errors.New("bench: the database already holds organisations; give the bench an empty database of its own")
	}
	return nil
}
