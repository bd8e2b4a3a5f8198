// Package crashtest holds end-to-end tests that need a coopnet binary run
// as a separate process (kill -9 and restart, backup while serving) or a
// whole node under hostile input. It has no code of its own.
package crashtest
