package credential_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/credential"
)

// scanningDoc is the guide for scanners, whose expression and checksum
// rule TestScanningDoc holds to what NewSecret makes.
const scanningDoc = "../../docs/secret-scanning.md"

// fenced returns the body of the first code block fenced as lang in doc.
func fenced(t *testing.T, doc, lang string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "```"+lang+"\n")
	if !ok {
		t.Fatalf("%s has no ```%s block", scanningDoc, lang)
	}
	body, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s: the ```%s block does not end", scanningDoc, lang)
	}
	return body
}

// documentedChecksum is the checksum rule as the guide words it, written
// from the guide alone: base32 in the documented alphabet, then the
// CRC-32 (IEEE) of the first 32 bytes, big-endian, in the last 4.
func documentedChecksum(alphabet, secret string) bool {
	raw, err := base32.NewEncoding(alphabet).WithPadding(base32.NoPadding).DecodeString(strings.TrimPrefix(secret, "sapsk_"))
	if err != nil || len(raw) != 36 {
		return false
	}
	return binary.BigEndian.Uint32(raw[32:]) == crc32.ChecksumIEEE(raw[:32])
}

// TestScanningDoc: the regular expression and the checksum rule in
// docs/secret-scanning.md find each of a thousand new secrets, in text,
// and refuse each with one character changed, as CheckSecretFormat does;
// the expression finds no client ID. Where python3 is installed, the
// guide's Python checker agrees.
func TestScanningDoc(t *testing.T) {
	b, err := os.ReadFile(scanningDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	re, err := regexp.Compile(strings.TrimSpace(fenced(t, doc, "regex")))
	if err != nil {
		t.Fatalf("the documented expression does not compile: %v", err)
	}
	alphabet := strings.TrimSpace(fenced(t, doc, "alphabet"))
	if len(alphabet) != 32 {
		t.Fatalf("the documented alphabet %q is not 32 characters", alphabet)
	}

	var secrets, mutants []string
	for i := range 1000 {
		s, err := credential.NewSecret(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
		text := "export SAPIENT_SECRET=" + s + "\n"
		if got := re.FindAllString(text, -1); len(got) != 1 || got[0] != s {
			t.Fatalf("the expression finds %q in %q, want the secret", got, text)
		}
		if !documentedChecksum(alphabet, s) {
			t.Fatalf("the documented checksum rule refuses %s", s)
		}
		// One character changed, to another of the alphabet.
		pos := len(credential.SecretPrefix) + i%(len(s)-len(credential.SecretPrefix))
		c := alphabet[(strings.IndexByte(alphabet, s[pos])+1+i%31)%32]
		m := s[:pos] + string(c) + s[pos+1:]
		mutants = append(mutants, m)
		if re.MatchString(m) && documentedChecksum(alphabet, m) {
			t.Fatalf("the documented rule accepts %s, %s with one character changed", m, s)
		}
		if credential.CheckSecretFormat(m) == nil {
			t.Fatalf("CheckSecretFormat accepts %s, %s with one character changed", m, s)
		}
	}
	for _, s := range []string{"sapsk_", "sapsk_" + strings.Repeat("a", 59), "xsapsk_" + secrets[0][6:], secrets[0] + "a", secrets[0][:len(secrets[0])-1]} {
		if got := re.FindString(s); got != "" {
			t.Errorf("the expression finds %q in %q", got, s)
		}
	}
	id, _ := credential.NewClientID(rand.Reader)
	if re.MatchString(id) {
		t.Errorf("the expression matches the client ID %s", id)
	}

	python, err := exec.LookPath("python3")
	if err != nil {
		t.Log("python3 is not installed: the guide's Python checker is not run")
		return
	}
	script := fenced(t, doc, "python") + `
import sys
for line in sys.stdin:
    print("1" if is_sapient_secret(line.strip()) else "0")
`
	file := filepath.Join(t.TempDir(), "check.py")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, file)
	cmd.Stdin = strings.NewReader(strings.Join(append(secrets, mutants...), "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the guide's Python checker: %v\n%s", err, &stderr)
	}
	want := strings.Repeat("1\n", len(secrets)) + strings.Repeat("0\n", len(mutants))
	if string(out) != want {
		t.Errorf("the guide's Python checker does not accept exactly the secrets and refuse exactly the mutants")
	}
}
