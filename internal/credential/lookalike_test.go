package credential_test

import (
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
)

// TestNamesThatLookAlike holds issue 19's names: a name that looks like
// one taken in the organisation is refused as taken, whatever its case,
// width or normalisation form; one with invisible or bidirectional
// control characters is refused; and the name is stored in NFC, at Create
// as at Update.
func TestNamesThatLookAlike(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		for _, tc := range []struct{ taken, alike string }{
			{"café", "cafe\u0301"},
			{"cafe\u0301 two", "CAFÉ TWO"},
			{"a-full", "ａ-full"},
			{"Ｂ－ＦＵＬＬ", "b-full"},
			{"Straße", "STRASSE"},
		} {
			t.Run(tc.alike, func(t *testing.T) {
				f.create(t, access.CLI, f.acme.ID, tc.taken, nil)
				_, err := f.svc.Create(ctx, customer(f.acme.ID), credential.CreateRequest{OrgID: f.acme.ID, Name: tc.alike})
				wantValidation(t, err, "name")
				// Renaming another credential to it is refused the same way.
				other := f.create(t, access.CLI, f.acme.ID, "other "+tc.taken, nil)
				_, err = f.svc.Update(ctx, access.CLI, other.Credential.ClientID, credential.UpdateRequest{Name: &tc.alike})
				wantValidation(t, err, "name")
			})
		}
		for _, bad := range []string{"a-full\u200b", "abc\u202egnp.exe", "\u2066x\u2069", "a\u00a0b", "bad\ufffdname"} {
			t.Run(bad, func(t *testing.T) {
				_, err := f.svc.Create(ctx, access.CLI, credential.CreateRequest{OrgID: f.beta.ID, Name: bad})
				wantValidation(t, err, "name")
			})
		}
		c := f.create(t, access.CLI, f.beta.ID, "cafe\u0301 au lait", nil)
		if c.Credential.Name != "café au lait" {
			t.Errorf("stored name %+q, want it in NFC", c.Credential.Name)
		}
		got, err := f.svc.Get(ctx, access.CLI, c.Credential.ClientID)
		if err != nil || got.Name != "café au lait" {
			t.Errorf("read back %+q, %v; want the NFC name", got.Name, err)
		}
	})
}
