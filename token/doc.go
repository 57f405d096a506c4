// Package token issues and verifies the HS256-signed tokens that name an
// Outpost user. The server verifies them; the outpost CLI and tests mint
// them for a development server.
package token
