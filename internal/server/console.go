package server

import "net/http"

// registerConsole mounts the web console. Until the console package lands,
// the root answers with a pointer to the API.
func (s *Server) registerConsole(mux *http.ServeMux) error {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Sapient\n"))
	})
	return nil
}
