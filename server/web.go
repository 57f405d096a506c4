package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// webFS is the web page outpostd serves at /: sign in with a token, read
// and send messages, live over GET /events. Plain files, no build step.
//
//go:embed web
var webFS embed.FS

func (s *Server) webRoutes() {
	sub, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(sub)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		http.ServeFileFS(w, r, sub, "index.html")
	})
	s.mux.Handle("GET /web/", http.StripPrefix("/web/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		files.ServeHTTP(w, r)
	})))
}

// setPageHeaders keeps the page's scripts to its own origin and the page
// out of frames.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
