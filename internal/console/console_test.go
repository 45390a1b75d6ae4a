package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store/storetest"
)

func TestLoginPageRenders(t *testing.T) {
	h := newHarness(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	resp, err := http.Get(h.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), ">Log in</button>") {
		t.Fatalf("GET /login = %d\n%s", resp.StatusCode, b)
	}
}
