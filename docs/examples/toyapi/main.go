// Command toyapi is the smallest API to put behind nginx or Caddy with
// Sapient checking its calls (docs/examples): it listens on
// 127.0.0.1:9000 and answers every request with the caller's identity as
// the proxy passed it on.
//
//	go run ./docs/examples/toyapi
package main

import (
	"encoding/json"
	"log"
	"net/http"
)

func main() {
	log.Println("toy API on http://127.0.0.1:9000")
	log.Fatal(http.ListenAndServe("127.0.0.1:9000", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"path":            r.URL.Path,
			"client_id":       r.Header.Get("X-Sapient-Client-Id"),
			"organization_id": r.Header.Get("X-Sapient-Org-Id"),
			"credential_name": r.Header.Get("X-Sapient-Credential-Name"),
			"scope":           r.Header.Get("X-Sapient-Scope"),
		})
	})))
}
