// Package handlers serves the two HTTP APIs: the orchestrator (:9090) and
// the control center (:9080). Handlers are thin: they validate, append
// events, and read views. Every answer, errors included, is the envelope
// {"success": …, "data"|"error": …}, written by writeJSON and writeError
// only.
package handlers
